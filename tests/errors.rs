//! Error responses (RFC 7644 §3.12): statuses, scimType, and the body shape, never a 5xx.

use crate::common::*;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn body_errors(app: TestApp) {
    let rb = app.request(Method::POST, "/Users").body("{\"schemas\": [");
    assert_scim_error(&app.send(rb).await, 400, Some("invalidSyntax"));
    let rb = app.request(Method::POST, "/Users").body("");
    let resp = app.send(rb).await;
    assert_scim_error(&resp, 400, None);

    let rb = app
        .raw()
        .post(app.url("/Users"))
        .header(AUTHORIZATION, format!("Bearer {}", app.token))
        .header(CONTENT_TYPE, "text/plain")
        .body(entra_user("tp@contoso.com").to_string());
    assert_scim_error(&app.send(rb).await, 415, None);

    // Plain application/json (with a charset) is fine.
    let rb = app
        .raw()
        .post(app.url("/Users"))
        .header(AUTHORIZATION, format!("Bearer {}", app.token))
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(entra_user("json@contoso.com").to_string());
    assert_eq!(app.send(rb).await.0, StatusCode::CREATED);

    // Over 1 MiB.
    let mut big = entra_user("big@contoso.com");
    big["displayName"] = json!("x".repeat(1024 * 1024 + 10));
    let resp = app.post("/Users", big).await;
    assert_scim_error(&resp, 413, None);
    // ... also when sent chunked, without a Content-Length.
    let (status, body) = chunked_post(&app, "/Users", 20, 64 * 1024).await;
    assert_eq!(status, 413, "chunked oversized body: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(v["status"], "413", "{body}");

    let (_, _, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 1, "only the application/json user exists");
}
both!(bodies, body_errors);

/// POSTs `chunks` chunks of `size` spaces with `Transfer-Encoding: chunked` over a raw socket; returns
/// (status, body).
async fn chunked_post(app: &TestApp, path: &str, chunks: usize, size: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.origin.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /scim/v2/{}{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.tenant, app.token
    );
    sock.write_all(head.as_bytes()).await.expect("write head");
    let chunk = vec![b' '; size];
    for _ in 0..chunks {
        // The server may answer and close early; stop writing then.
        if sock.write_all(format!("{size:x}\r\n").as_bytes()).await.is_err()
            || sock.write_all(&chunk).await.is_err()
            || sock.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = sock.write_all(b"0\r\n\r\n").await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), sock.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

async fn routing_errors(app: TestApp) {
    let resp = app.get("/Nope").await;
    assert_scim_error(&resp, 404, None);
    let resp = app.get("/Users/x/y").await;
    assert!(resp.0.is_client_error(), "{}", resp.0);
    for path in ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"] {
        for m in [Method::PUT, Method::POST, Method::DELETE] {
            let resp = app.call(m.clone(), path, Some(&json!({}))).await;
            assert_scim_error(&resp, 405, None);
        }
    }
    let resp = app.call(Method::PUT, "/Users", Some(&entra_user("z@contoso.com"))).await;
    assert_scim_error(&resp, 405, None);
    let resp = app.call(Method::DELETE, "/Groups", None).await;
    assert_scim_error(&resp, 405, None);
}
both!(routing, routing_errors);

async fn filter_errors(app: TestApp) {
    app.create_user("flt@contoso.com").await;
    for (path, what) in [
        ("/Users?filter=userName+eq", "missing value"),
        ("/Users?filter=userName+eq+%22x", "unterminated string"),
        ("/Users?filter=userName+frob+%22x%22", "unknown operator"),
        ("/Users?filter=%28userName+eq+%22x%22", "unbalanced parenthesis"),
        ("/Users?filter=nosuchattr+eq+%22x%22", "unknown attribute"),
        (
            "/Users?filter=urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Aextension%3Aenterprise%3A2.0%3AUser%3Anope+eq+%22x%22",
            "unknown extension attribute",
        ),
        ("/Groups?filter=userName+eq+%22x%22", "userName is not a Group attribute"),
    ] {
        let resp = app.get(path).await;
        assert!(resp.0.as_u16() < 500, "{what}: {}", resp.0);
        assert_scim_error(&resp, 400, Some("invalidFilter"));
    }
    let rb = app
        .request(Method::POST, "/Users/.search")
        .body(json!({"schemas": [SEARCH_REQUEST], "filter": "userName eq"}).to_string());
    assert_scim_error(&app.send(rb).await, 400, Some("invalidFilter"));
    let resp = app.get("/Users?count=abc").await;
    assert_scim_error(&resp, 400, None);
    let resp = app.get("/Users?sortOrder=sideways").await;
    assert_scim_error(&resp, 400, None);
}
both!(filters, filter_errors);

async fn patch_errors(app: TestApp) {
    let id = app.create_user("pe@contoso.com").await;
    let path = format!("/Users/{id}");
    let resp = app.patch(&path, json!({"Operations": [{"op": "Replace", "path": "title", "value": "x"}]})).await;
    assert_scim_error(&resp, 400, None);
    let resp = app
        .patch(
            &path,
            json!({"schemas": [USER_SCHEMA], "Operations": [{"op": "Replace", "path": "title", "value": "x"}]}),
        )
        .await;
    assert_scim_error(&resp, 400, None);
    let resp = app.patch(&path, patch_op(json!([{"op": "Frobnicate", "path": "title", "value": "x"}]))).await;
    assert_scim_error(&resp, 400, None);
    let resp = app.patch(&path, patch_op(json!([]))).await;
    assert_scim_error(&resp, 400, None);
    let resp = app.patch(&path, patch_op(json!([{"op": "Replace", "path": "noSuchAttribute", "value": "x"}]))).await;
    assert_scim_error(&resp, 400, Some("invalidPath"));
    let resp = app.patch(&path, patch_op(json!([{"op": "Replace", "path": "name.noSuchSub", "value": "x"}]))).await;
    assert_scim_error(&resp, 400, Some("invalidPath"));
    let resp = app
        .patch(&path, patch_op(json!([{"op": "Replace", "path": format!("{ENTERPRISE}:noSuch"), "value": "x"}])))
        .await;
    assert_scim_error(&resp, 400, Some("invalidPath"));
    let resp = app.patch(&path, patch_op(json!([{"op": "Replace", "path": "emails[type eq", "value": "x"}]))).await;
    assert_scim_error(&resp, 400, Some("invalidPath"));
    let resp = app.patch(&path, patch_op(json!([{"op": "Replace", "path": "id", "value": "other-id"}]))).await;
    assert_scim_error(&resp, 400, Some("mutability"));
    let resp = app.patch(&path, patch_op(json!([{"op": "Replace", "value": {"id": "other-id"}}]))).await;
    assert_scim_error(&resp, 400, Some("mutability"));
    let resp = app.patch(&path, patch_op(json!([{"op": "Remove", "path": "userName"}]))).await;
    assert_scim_error(&resp, 400, None);
    let resp = app.patch(&path, patch_op(json!([{"op": "Replace", "path": "title"}]))).await;
    assert_scim_error(&resp, 400, None);
    let resp = app.patch(&path, patch_op(json!([{"op": "Replace", "path": "userName", "value": 42}]))).await;
    assert_scim_error(&resp, 400, None);

    // None of that changed the user.
    let (st, _, u) = app.get(&path).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(u["id"], id.as_str());
    assert_eq!(u["userName"], "pe@contoso.com");
    assert!(u.get("title").is_none());
    assert_eq!(u["meta"]["version"], "W/\"1\"", "{u}");
}
both!(patch, patch_errors);

async fn create_errors(app: TestApp) {
    let mut no_name = entra_user("x@contoso.com");
    no_name.as_object_mut().expect("object").remove("userName");
    assert_scim_error(&app.post("/Users", no_name).await, 400, None);
    let mut empty_name = entra_user("x@contoso.com");
    empty_name["userName"] = json!("");
    assert_scim_error(&app.post("/Users", empty_name).await, 400, None);
    let mut no_schemas = entra_user("x@contoso.com");
    no_schemas.as_object_mut().expect("object").remove("schemas");
    assert_scim_error(&app.post("/Users", no_schemas).await, 400, None);
    let mut bad_attr = entra_user("x@contoso.com");
    bad_attr["favouriteColour"] = json!("blue");
    assert_scim_error(&app.post("/Users", bad_attr).await, 400, None);
    let mut bad_type = entra_user("x@contoso.com");
    bad_type["active"] = json!("perhaps");
    assert_scim_error(&app.post("/Users", bad_type).await, 400, None);
    assert_scim_error(&app.post("/Users", json!([1, 2])).await, 400, None);
    let mut no_display = entra_group("x");
    no_display.as_object_mut().expect("object").remove("displayName");
    assert_scim_error(&app.post("/Groups", no_display).await, 400, None);
    let (_, _, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 0);
    let (_, _, list) = app.get("/Groups").await;
    assert_eq!(list["totalResults"], 0);
}
both!(create, create_errors);

async fn not_found_bodies(app: TestApp) {
    for path in ["/Users/nope", "/Groups/nope", "/Schemas/urn:nope", "/ResourceTypes/Device"] {
        assert_scim_error(&app.get(path).await, 404, None);
    }
    let resp = app.raw().get(format!("{}/nowhere", app.origin)).send().await.expect("response");
    assert_scim_error(&read(resp).await, 404, None);
    assert_scim_error(&app.call(Method::POST, "/Bulk", Some(&json!({}))).await, 501, None);
}
both!(not_found, not_found_bodies);

/// A body key that starts like a schema URN and continues with multibyte characters (where a schema id's
/// length can fall inside a character) is an unknown attribute: a 400 that names it, on POST and PATCH,
/// never a panic; and a write of another user in the same moment is unaffected.
async fn multibyte_urn_keys(app: TestApp) {
    let (status, _, user) = app.post("/Users", entra_user("urn-keys@contoso.com")).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = user["id"].as_str().expect("id").to_owned();
    for len in [17, 18, 19, 20, 21] {
        let key = format!("urn:x{}", "é".repeat(len));
        let mut body = entra_user(&format!("urn-keys-{len}@contoso.com"));
        body[key.as_str()] = json!("v");
        let resp = app.post("/Users", body).await;
        assert_scim_error(&resp, 400, None);
        let patch = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Add", "value": {key.as_str(): "v"}}]
        });
        let resp = app.patch(&format!("/Users/{id}"), patch).await;
        assert_scim_error(&resp, 400, None);
    }
    let (status, _, again) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["userName"], "urn-keys@contoso.com");
}
both!(multibyte_urn_key, multibyte_urn_keys);

fn emails(n: usize) -> serde_json::Value {
    json!((0..n).map(|i| json!({"value": format!("m{i}@contoso.com"), "type": "other"})).collect::<Vec<_>>())
}

/// Caps on a resource and on a PATCH's work (docs/LIMITS.md): each breach is a 400 that names the
/// limit. On 7914331 a user could hold any number of values, and a PATCH of 150 remove operations, each
/// with a 150-term value filter, on a user with 1,000 e-mails ran for minutes inside the shared writer.
async fn bounded_work(app: TestApp) {
    let mut body = entra_user("many@contoso.com");
    body["emails"] = emails(1_001);
    let resp = app.post("/Users", body).await;
    assert_scim_error(&resp, 400, Some("invalidValue"));
    assert!(resp.2["detail"].as_str().is_some_and(|d| d.contains("'emails'") && d.contains("1000")), "{}", resp.2);

    let mut body = entra_user("huge@contoso.com");
    body["displayName"] = json!("x".repeat(200 * 1024));
    let resp = app.post("/Users", body).await;
    assert_scim_error(&resp, 400, Some("invalidValue"));
    assert!(resp.2["detail"].as_str().is_some_and(|d| d.contains("131072")), "{}", resp.2);

    let mut body = entra_user("full@contoso.com");
    body["emails"] = emails(1_000);
    let (st, _, u) = app.post("/Users", body).await;
    assert_eq!(st, StatusCode::CREATED, "{}", u["detail"]);
    let path = format!("/Users/{}", u["id"].as_str().expect("id"));

    // One more value is refused; the stored user is unchanged.
    let resp =
        app.patch(&path, patch_op(json!([{"op": "add", "path": "emails", "value": [{"value": "x@y.z"}]}]))).await;
    assert_scim_error(&resp, 400, Some("invalidValue"));

    let terms: Vec<String> = (0..150).map(|i| format!("value eq \"nobody{i}@contoso.com\"")).collect();
    let path_filter = format!("emails[{}]", terms.join(" or "));
    let ops: Vec<_> = (0..150).map(|_| json!({"op": "remove", "path": path_filter})).collect();
    let resp = app.patch(&path, patch_op(json!(ops))).await;
    assert_scim_error(&resp, 400, Some("invalidValue"));
    assert!(resp.2["detail"].as_str().is_some_and(|d| d.contains("2000000")), "{}", resp.2);

    let (st, _, u) = app.get(&path).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(u["emails"].as_array().map(Vec::len), Some(1_000));
    // An ordinary PATCH on the same user still works.
    app.patch_ok(&path, json!([{"op": "replace", "path": "displayName", "value": "Still fine"}])).await;
}
both!(bounded, bounded_work);
