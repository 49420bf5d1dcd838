//! The in-process harness: a real gateway (actix server on 127.0.0.1:0) over a real store (a fresh SQLite
//! file, or the PostgreSQL database named by `TEST_POSTGRES_URL`) with one fresh tenant, built with
//! [`TestApp::sqlite`] / [`TestApp::postgres`] / [`TestApp::backend`], its knobs, then `.start().await`.
//! A `TestApp` is the tenant's [`ScimClient`] (through `Deref`) plus the test's own store handle.

use super::scim::ScimClient;
use super::{Backend, postgres_url, unique_tenant};
use gateway::http::{AppState, HttpSettings, auth_token};
use gateway::store::{ChangeEvent, DynStore, MemberPolicy};
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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

/// A running gateway plus one tenant (name, bearer token) of it; SCIM requests go through the
/// [`ScimClient`] it derefs to (`app.get("/Users")`, `app.create_user(…)`, `app.token`, …).
#[derive(Clone)]
pub struct TestApp {
    #[expect(dead_code, reason = "for scenarios that differ per backend; none does yet")]
    pub backend: Backend,
    /// `http://127.0.0.1:<port>`
    pub origin: String,
    pub tenant: String,
    pub tenant_pk: i64,
    /// The test's own store handle (tenant management, change log).
    pub store: DynStore,
    /// The tenant's SCIM client.
    pub scim: ScimClient,
    #[expect(dead_code, reason = "never read: held so the server stops when the last clone is dropped")]
    server: Arc<Server>,
}

impl Deref for TestApp {
    type Target = ScimClient;

    fn deref(&self) -> &ScimClient {
        &self.scim
    }
}

/// What a [`TestApp`] starts with; every knob has the default the scenarios rely on.
#[derive(Debug, Clone)]
#[must_use = "nothing starts until `.start().await`"]
pub struct TestAppBuilder {
    backend: Backend,
    policy: MemberPolicy,
    cache_ttl: Duration,
}

impl TestApp {
    /// A gateway over a fresh SQLite file.
    pub fn sqlite() -> TestAppBuilder {
        Self::backend(Backend::Sqlite)
    }

    /// A gateway over the PostgreSQL database of `TEST_POSTGRES_URL`.
    pub fn postgres() -> TestAppBuilder {
        Self::backend(Backend::Postgres)
    }

    /// A gateway over `backend`, with a tenant that rejects unknown members and no response cache.
    pub fn backend(backend: Backend) -> TestAppBuilder {
        TestAppBuilder { backend, policy: MemberPolicy::Reject, cache_ttl: Duration::ZERO }
    }

    /// Another tenant on the same gateway (its own token and data).
    pub async fn new_tenant(&self, policy: MemberPolicy) -> TestApp {
        let tenant = unique_tenant();
        let token = auth_token::generate().expect("token");
        let row = self.store.create_tenant(&tenant, &auth_token::digest(&token), policy).await.expect("create tenant");
        let scim = ScimClient::new(self.scim.http.clone(), &self.origin, &tenant, &token);
        TestApp { tenant, tenant_pk: row.pk, scim, ..self.clone() }
    }

    /// The tenant's whole change log, in order.
    pub async fn changes(&self) -> Vec<ChangeEvent> {
        self.store.changes(self.tenant_pk, 0, 100_000).await.expect("read change log")
    }

    /// Seq of the last change event (0 when none).
    pub async fn last_seq(&self) -> i64 {
        self.changes().await.last().map(|e| e.seq).unwrap_or(0)
    }
}

impl TestAppBuilder {
    /// What the first tenant does with unknown group members (default: reject).
    #[expect(dead_code, reason = "a knob for the next scenario; every current one keeps the default")]
    pub fn policy(mut self, policy: MemberPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long the server caches tenant credentials and schema sets (default: zero, so a token or schema
    /// change is seen at once).
    #[expect(dead_code, reason = "a knob for the next scenario; every current one keeps the default")]
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Starts the gateway and creates the tenant. `None` when the backend is PostgreSQL and
    /// `TEST_POSTGRES_URL` is unset (unless `REQUIRE_POSTGRES=1`, which panics).
    pub async fn start(self) -> Option<TestApp> {
        let TestAppBuilder { backend, policy, cache_ttl } = self;
        let (db_url, tmpdir) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("scimgw-it-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).expect("create temp dir");
                (format!("sqlite://{}/t.db", dir.display()), Some(dir))
            }
            Backend::Postgres => (postgres_url()?, None),
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
                let settings = HttpSettings { cache_ttl, ..Default::default() };
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
        let origin = format!("http://127.0.0.1:{port}");
        Some(TestApp {
            backend,
            scim: ScimClient::new(client, &origin, &tenant, &token),
            origin,
            tenant,
            tenant_pk: row.pk,
            store,
            server: Arc::new(Server { handle, thread: Some(thread), tmpdir }),
        })
    }
}
