//! The admin API's OpenAPI document (`GET /admin/v1/openapi.json`): an OpenAPI 3 document whose every
//! operation is a route the gateway serves. Each documented (method, path) is called with a tenant that
//! does not exist (so nothing changes): the answer must come from the route's handler (an RFC 7644 error
//! naming the tenant, or a 2xx / 4xx of its own), never the "no such endpoint" of an unrouted path.

use super::rig;
use crate::common::Backend;
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn the_openapi_document_describes_served_routes() {
    let Some(r) = rig(Backend::Sqlite, "openapi", &[]).await else { return };
    let gw = &r.gw;
    let resp = gw.admin(Method::GET, "/openapi.json").send().await.expect("answers");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap_or("").starts_with("application/json"));
    let doc: Value = resp.json().await.expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    assert_eq!(doc["servers"][0]["url"], "/admin/v1");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/tenants/{tenant}/targets/{name}/resources/{path}"), "plugin resources are described");
    assert!(paths.contains_key("/clock/advance") && paths.contains_key("/tenants/{tenant}/targets/{name}/jobs"));
    let mut checked = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has responses");
            let url = path
                .replace("{tenant}", "no-such-tenant")
                .replace("{name}", "t")
                .replace("{job}", "j")
                .replace("{path}", "a/b")
                .replace("{action}", "pause")
                .replace("{table}", "learners");
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("a method");
            let mut rb = gw.admin(m.clone(), &url);
            if m == Method::POST || m == Method::PUT || m == Method::PATCH {
                rb = rb.header("content-type", "application/json").body("{}");
            }
            let resp = rb.send().await.expect("answers");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let detail = body["detail"].as_str().unwrap_or("");
            assert!(
                !detail.contains("no such endpoint") && status != 405,
                "{method} {path} is documented but not served: {status} {body}"
            );
            assert!(status < 500, "{method} {path}: {status} {body}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} operations checked");
}
