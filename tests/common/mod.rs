//! Test harness: a real gateway (actix server on 127.0.0.1:0) over a real store (a fresh SQLite file, or
//! the PostgreSQL database named by `TEST_POSTGRES_URL`), one fresh tenant per test, and a reqwest client
//! that talks to it the way Microsoft Entra does.

#![allow(dead_code)]

pub mod proc;

use gateway::http::{AppState, HttpSettings, auth_token};
use gateway::store::{ChangeEvent, DynStore, MemberPolicy};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const SCIM_JSON: &str = "application/scim+json";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const ADSCIM_GROUP: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// (status, headers, JSON body or Null when the body is empty / not JSON).
pub type Resp = (StatusCode, HeaderMap, Value);

/// Generates one test per backend for a scenario `async fn(TestApp)`.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                if let Some(app) = $crate::common::TestApp::start($crate::common::Backend::Sqlite).await {
                    ($body)(app).await;
                }
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(app) = $crate::common::TestApp::start($crate::common::Backend::Postgres).await {
                    ($body)(app).await;
                }
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Stops the server (and removes the SQLite directory) when the last `TestApp` sharing it is dropped.
struct Server {
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    tmpdir: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only waits for completion.
        drop(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(d) = self.tmpdir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A running gateway plus one tenant (name, bearer token) of it.
#[derive(Clone)]
pub struct TestApp {
    pub backend: Backend,
    /// `http://127.0.0.1:<port>`
    pub origin: String,
    pub tenant: String,
    pub token: String,
    pub tenant_pk: i64,
    /// The test's own store handle (tenant management, change log).
    pub store: DynStore,
    pub client: reqwest::Client,
    server: Arc<Server>,
}

pub fn unique_tenant() -> String {
    format!("t{}", uuid::Uuid::new_v4().simple())
}

impl TestApp {
    /// Starts a gateway on `backend` with a fresh tenant (MemberPolicy::Reject). `None` when the backend
    /// is PostgreSQL and `TEST_POSTGRES_URL` is unset (unless `REQUIRE_POSTGRES=1`, which panics).
    pub async fn start(backend: Backend) -> Option<TestApp> {
        Self::start_with(backend, MemberPolicy::Reject).await
    }

    pub async fn start_with(backend: Backend, policy: MemberPolicy) -> Option<TestApp> {
        let (db_url, tmpdir) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("scimgw-it-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).expect("create temp dir");
                (format!("sqlite://{}/t.db", dir.display()), Some(dir))
            }
            Backend::Postgres => match std::env::var("TEST_POSTGRES_URL") {
                Ok(u) if !u.trim().is_empty() => (u, None),
                _ => {
                    if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                        panic!(
                            "REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set \
                             (e.g. postgres://postgres@127.0.0.1:5432/scimgw_test)"
                        );
                    }
                    println!("skipped: TEST_POSTGRES_URL not set");
                    return None;
                }
            },
        };

        // The test's store connects (and migrates) first, so the server never races the migration.
        let store = gateway::store::connect_with(&db_url, 2).await.expect("test store connects");
        let tenant = unique_tenant();
        let token = auth_token::generate().expect("token");
        let row = store.create_tenant(&tenant, &auth_token::digest(&token), policy).await.expect("create tenant");

        let (tx, rx) = std::sync::mpsc::channel();
        let url = db_url.clone();
        let thread = std::thread::spawn(move || {
            let sys = actix_web::rt::System::new();
            let res: std::io::Result<()> = sys.block_on(async move {
                let store = match gateway::store::connect_with(&url, 4).await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(format!("server store: {e}")));
                        return Ok(());
                    }
                };
                let settings = HttpSettings { cache_ttl: Duration::ZERO, ..Default::default() };
                let state = AppState::new(store, settings, None);
                let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                let port = listener.local_addr()?.port();
                let server = gateway::http::server(state, listener, Some(1), 1)?;
                let _ = tx.send(Ok((port, server.handle())));
                server.await
            });
            if let Err(e) = res {
                eprintln!("test server failed: {e}");
            }
        });
        let (port, handle) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server thread reports its port")
            .unwrap_or_else(|e| panic!("{e}"));

        // reqwest is built with `rustls-no-provider`: a client needs a process-wide provider first.
        gateway::plugins::egress::install_crypto_provider();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        Some(TestApp {
            backend,
            origin: format!("http://127.0.0.1:{port}"),
            tenant,
            token,
            tenant_pk: row.pk,
            store,
            client,
            server: Arc::new(Server { handle, thread: Some(thread), tmpdir }),
        })
    }

    /// Another tenant on the same gateway (its own token and data).
    pub async fn new_tenant(&self, policy: MemberPolicy) -> TestApp {
        let tenant = unique_tenant();
        let token = auth_token::generate().expect("token");
        let row = self.store.create_tenant(&tenant, &auth_token::digest(&token), policy).await.expect("create tenant");
        TestApp { tenant, token, tenant_pk: row.pk, ..self.clone() }
    }

    /// The tenant's SCIM root, e.g. `http://127.0.0.1:1234/scim/v2/t0123…`.
    pub fn base(&self) -> String {
        format!("{}/scim/v2/{}", self.origin, self.tenant)
    }

    /// Absolute URL of `path` under the tenant's SCIM root (`path` starts with '/').
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base(), path)
    }

    /// The client, for custom requests (no auth or headers added).
    pub fn raw(&self) -> &reqwest::Client {
        &self.client
    }

    /// A request with the tenant's bearer token and `Content-Type: application/scim+json`.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .header(CONTENT_TYPE, SCIM_JSON)
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let resp = rb.send().await.expect("request is answered");
        read(resp).await
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        self.send(rb).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(&body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(&body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(&body)).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// The tenant's whole change log, in order.
    pub async fn changes(&self) -> Vec<ChangeEvent> {
        self.store.changes(self.tenant_pk, 0, 100_000).await.expect("read change log")
    }

    /// Seq of the last change event (0 when none).
    pub async fn last_seq(&self) -> i64 {
        self.changes().await.last().map(|e| e.seq).unwrap_or(0)
    }

    // ---- scenario helpers ----------------------------------------------------------------------

    /// POSTs a minimal Entra-style user and returns its id (asserting 201).
    pub async fn create_user(&self, user_name: &str) -> String {
        let (st, _, body) = self.post("/Users", entra_user(user_name)).await;
        assert_eq!(st, StatusCode::CREATED, "create user {user_name}: {body}");
        body["id"].as_str().expect("user id").to_owned()
    }

    /// POSTs an Entra-style group (no members) and returns its id (asserting 201).
    pub async fn create_group(&self, display_name: &str) -> String {
        let (st, _, body) = self.post("/Groups", entra_group(display_name)).await;
        assert_eq!(st, StatusCode::CREATED, "create group {display_name}: {body}");
        body["id"].as_str().expect("group id").to_owned()
    }
}

/// Reads a response: status, headers, JSON body (Null when empty or not JSON).
pub async fn read(resp: reqwest::Response) -> Resp {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("response body");
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    (status, headers, body)
}

/// Encodes a query value the way Entra does: spaces as `+`, everything but unreserved characters
/// percent-encoded (quotes as `%22`).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `?filter=<Entra-encoded filter>`
pub fn filter_q(f: &str) -> String {
    format!("filter={}", enc(f))
}

/// A PatchOp body.
pub fn patch_op(ops: Value) -> Value {
    serde_json::json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// The user body Entra POSTs (entra.md §3.1), for `user_name`.
pub fn entra_user(user_name: &str) -> Value {
    let local = user_name.split('@').next().unwrap_or(user_name);
    serde_json::json!({
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": local,
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("{local} Test"), "familyName": "Test", "givenName": local},
        "roles": []
    })
}

/// The group body Entra POSTs (entra.md §3.2).
pub fn entra_group(display_name: &str) -> Value {
    serde_json::json!({
        "schemas": [GROUP_SCHEMA, ADSCIM_GROUP],
        "externalId": uuid::Uuid::new_v4().to_string(),
        "displayName": display_name,
        "meta": {"resourceType": "Group"}
    })
}

/// Asserts an RFC 7644 §3.12 error body with the given status (and scimType when given).
pub fn assert_scim_error(resp: &Resp, status: u16, scim_type: Option<&str>) {
    let (st, headers, body) = resp;
    assert_eq!(st.as_u16(), status, "expected HTTP {status}, got {st}: {body}");
    assert_eq!(body["schemas"], serde_json::json!([ERROR_SCHEMA]), "error body schemas: {body}");
    assert_eq!(
        body["status"],
        Value::String(status.to_string()),
        "error body status must be the string {status}: {body}"
    );
    if let Some(t) = scim_type {
        assert_eq!(body["scimType"], t, "scimType: {body}");
    }
    let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(ct.starts_with(SCIM_JSON), "error content type is {ct:?}");
}

/// Ids of a ListResponse's Resources.
pub fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Kinds of change events.
pub fn kinds(events: &[ChangeEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

pub fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}
