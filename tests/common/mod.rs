//! Test harness. Two ways to run a gateway: in-process ([`TestApp`], `app.rs`: actix server over a fresh
//! SQLite file or `TEST_POSTGRES_URL`, one fresh tenant per test) and the real `gateway` binary as a child
//! process (`proc/`: per-test database, `gateway serve`, CLI, a recording sink). Both talk SCIM through
//! one [`ScimClient`] (`scim.rs`), the way Microsoft Entra does; the helpers here build Entra's bodies
//! and check SCIM answers.

mod app;
pub mod proc;
mod scim;

pub use app::TestApp;
pub use scim::{Resp, ScimClient, read};

use gateway::store::ChangeEvent;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;

pub const SCIM_JSON: &str = "application/scim+json";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const ADSCIM_GROUP: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Generates one test per backend for a scenario `async fn(TestApp)`: `mod $name { fn sqlite; fn postgres }`.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                if let Some(app) = $crate::common::TestApp::sqlite().start().await {
                    ($body)(app).await;
                }
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(app) = $crate::common::TestApp::postgres().start().await {
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

/// `TEST_POSTGRES_URL`, or None (skip the test) when unset, unless `REQUIRE_POSTGRES=1` (then panic).
pub fn postgres_url() -> Option<String> {
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!(
                    "REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set \
                     (e.g. postgres://postgres@127.0.0.1:5432/scimgw_test)"
                );
            }
            println!("skipped: TEST_POSTGRES_URL not set");
            None
        }
    }
}

/// A tenant name no other test uses.
pub fn unique_tenant() -> String {
    format!("t{}", uuid::Uuid::new_v4().simple())
}

/// Encodes a query value the way Entra does (`application/x-www-form-urlencoded`): spaces as `+`,
/// quotes as `%22`.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `?filter=<Entra-encoded filter>`
pub fn filter_q(f: &str) -> String {
    format!("filter={}", enc(f))
}

/// A PatchOp body.
pub fn patch_op(ops: Value) -> Value {
    serde_json::json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// The user body Entra POSTs (`docs/spec/entra.md` §3.1), for `user_name`.
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

/// The group body Entra POSTs (`docs/spec/entra.md` §3.2).
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
