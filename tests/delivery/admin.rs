//! The admin API: bearer auth, plugin upload, target create/list/read/pause/resume/retry/delete with
//! reasons for bad specs, the outbox and replay, and no answer or log line showing a credential's secret.

use super::stream::hmac_hex;
use super::{WAIT, rig};
use crate::common::Backend;
use crate::common::proc::{Sink, TestEnv, free_port, gateway_bin, plugin_file, poll};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn admin_api() {
    let Some(r) = rig(Backend::Sqlite, "admin", &[]).await else { return };
    let sink = Sink::start();
    let (gw, t) = (&r.gw, r.tenant.as_str());
    let secret = format!("api-secret-{}", uuid::Uuid::new_v4().simple());
    let mut seen = String::new();
    async fn answer(rb: reqwest::RequestBuilder, seen: &mut String) -> (StatusCode, Value) {
        let resp = rb.send().await.expect("admin API answers");
        let st = resp.status();
        let text = resp.text().await.unwrap_or_default();
        seen.push_str(&text);
        seen.push('\n');
        (st, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
    let url = |p: &str| format!("{}/admin/v1{p}", gw.origin);

    // Authentication.
    let (st, body) = answer(gw.http.get(url("/plugins")), &mut seen).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["status"], "401", "{body}");
    let (st, body) = answer(gw.http.get(url("/targets")).bearer_auth("wrong-token"), &mut seen).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["detail"].as_str().unwrap_or("").contains("invalid token"), "{body}");
    let (st, _) = answer(gw.http.get(url("/targets")).bearer_auth(&r.token), &mut seen).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a tenant's SCIM token is not an admin token");

    // Plugins: upload bytes; a bad component is refused with the reason.
    let wasm = std::fs::read(plugin_file("webhook")).expect("webhook.wasm");
    let (st, added) = answer(
        gw.admin(Method::POST, "/plugins?name=hook").header("content-type", "application/wasm").body(wasm.clone()),
        &mut seen,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{added}");
    assert_eq!(
        (added["name"].as_str(), added["world"].as_str(), added["new_version"].as_bool()),
        (Some("hook"), Some("target+schedule+admin"), Some(true))
    );
    assert_eq!(added["size"], wasm.len());
    let bad = std::fs::read(plugin_file("bad-import")).expect("bad-import.wasm");
    let (st, body) = answer(
        gw.admin(Method::POST, "/plugins?name=bad").header("content-type", "application/wasm").body(bad),
        &mut seen,
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap_or("").contains("evil:steal/files@0.1.0"), "{body}");
    let (st, body) = answer(
        gw.admin(Method::POST, "/plugins?name=junk")
            .header("content-type", "application/octet-stream")
            .body(b"not wasm".to_vec()),
        &mut seen,
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, list) = answer(gw.admin(Method::GET, "/plugins"), &mut seen).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        list.as_array().map(|a| a.iter().map(|p| p["name"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("hook")]),
        "{list}"
    );

    // A target with a credential.
    let spec = json!({
        "name": "lms",
        "plugin": "hook",
        "config": {"url": sink.url, "signing_credential": "sig"},
        "allowed_hosts": [sink.origin],
        "allow_http": true,
        "allow_private": true,
        "credentials": {"sig": secret}
    });
    let targets = format!("/tenants/{t}/targets");
    let (st, created) = answer(gw.admin(Method::POST, &targets).json(&spec), &mut seen).await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    assert_eq!(created["credential_names"], json!(["sig"]), "{created}");
    assert_eq!(created["plugin"], "hook");
    let (st, again) = answer(gw.admin(Method::POST, &targets).json(&spec), &mut seen).await;
    assert_eq!(st, StatusCode::CONFLICT, "the name is taken: {again}");

    // Bad specs: 400 (or 404 for what does not exist) with a detail that says why.
    let bad_spec = |patch: Value| {
        let mut s = spec.clone();
        s["name"] = json!("other");
        if let (Some(o), Some(p)) = (s.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                o.insert(k.clone(), v.clone());
            }
        }
        s
    };
    for (patch, status, needle) in [
        (json!({"allowed_hosts": ["*"]}), 400, "allowed hosts"),
        (json!({"allowed_hosts": ["https://example.com/path"]}), 400, "allowed hosts"),
        (json!({"config": "not an object"}), 400, "config must be a JSON object"),
        (json!({"name": "bad name!"}), 400, "target name"),
        (json!({"credentials": {"sig": ""}}), 400, "credential sig is empty"),
        (json!({"plugin": "nope"}), 404, "plugin \"nope\" is not registered"),
        (json!({"surprise": 1}), 400, "unknown field"),
    ] {
        let body = bad_spec(patch.clone());
        let (st, err) = answer(gw.admin(Method::POST, &targets).json(&body), &mut seen).await;
        assert_eq!(st.as_u16(), status, "{patch} → {err}");
        assert_eq!(err["status"], status.to_string(), "{err}");
        assert!(err["detail"].as_str().unwrap_or("").contains(needle), "{patch}: detail {err}");
    }
    let (st, err) = answer(
        gw.admin(Method::POST, &targets).header("content-type", "application/json").body("{not json"),
        &mut seen,
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{err}");
    assert!(err["detail"].as_str().is_some_and(|d| !d.is_empty()), "{err}");
    let (st, err) = answer(gw.admin(Method::POST, "/tenants/no-such-tenant/targets").json(&spec), &mut seen).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{err}");

    // Listing and reading.
    let (st, list) = answer(gw.admin(Method::GET, &format!("/targets?tenant={t}")), &mut seen).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["name"], "lms");
    let one = format!("/tenants/{t}/targets/lms");
    let (st, target) = answer(gw.admin(Method::GET, &one), &mut seen).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(target["state"], "active", "{target}");
    let (st, _) = answer(gw.admin(Method::GET, &format!("/tenants/{t}/targets/nope")), &mut seen).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Delivery works for a target made over the API, signed with the uploaded credential.
    let u1 = r.scim.create_user("api1@contoso.com").await;
    let hits = sink
        .wait("u1 delivered", WAIT, |h| h.iter().any(|x| x.resource_id() == u1 && x.delivered()))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(30)));
    assert_eq!(hits[0].signature.as_deref(), Some(&*format!("sha256={}", hmac_hex(&secret, &hits[0].raw))));

    // Pause: changes queue up, nothing is sent; resume: they go out.
    let (st, paused) = answer(gw.admin(Method::POST, &format!("{one}/pause")), &mut seen).await;
    assert_eq!((st, paused["paused"].as_bool()), (StatusCode::OK, Some(true)), "{paused}");
    let (_, target) = answer(gw.admin(Method::GET, &one), &mut seen).await;
    assert_eq!(target["state"], "paused", "{target}");
    let u2 = r.scim.create_user("api2@contoso.com").await;
    let queued = poll("the change queued while paused", WAIT, Duration::from_millis(100), async || {
        let (_, o) =
            answer(gw.admin(Method::GET, &format!("/tenants/{t}/outbox?target=lms")), &mut String::new()).await;
        o.as_array().filter(|a| !a.is_empty()).cloned()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(queued[0]["key"], format!("user:{u2}"));
    assert_eq!(queued[0]["attempts"], 0, "not attempted while paused: {}", queued[0]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!sink.hits().iter().any(|h| h.resource_id() == u2), "a paused target sends nothing:\n{}", sink.dump(5));
    let (st, resumed) = answer(gw.admin(Method::POST, &format!("{one}/resume")), &mut seen).await;
    assert_eq!((st, resumed["paused"].as_bool()), (StatusCode::OK, Some(false)), "{resumed}");
    let (_, target) = answer(gw.admin(Method::GET, &one), &mut seen).await;
    assert_eq!(target["state"], "active", "{target}");
    sink.wait("u2 delivered after resume", WAIT, |h| h.iter().any(|x| x.resource_id() == u2 && x.delivered()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (st, err) = answer(gw.admin(Method::POST, &format!("{one}/retry")), &mut seen).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "retry of a target that is not parked: {err}");
    let (st, _) = answer(gw.admin(Method::POST, &format!("{one}/explode")), &mut seen).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Outbox over the API: nothing dead, nothing to replay.
    let (st, dead) = answer(gw.admin(Method::GET, &format!("/tenants/{t}/outbox?dead=true")), &mut seen).await;
    assert_eq!((st, dead), (StatusCode::OK, json!([])));
    let (st, replayed) = answer(
        gw.admin(Method::POST, &format!("/tenants/{t}/outbox/replay")).json(&json!({"target": "lms"})),
        &mut seen,
    )
    .await;
    assert_eq!((st, replayed), (StatusCode::OK, json!({"replayed": 0})));
    let (st, err) = answer(
        gw.admin(Method::POST, &format!("/tenants/{t}/outbox/replay")).json(&json!({"target": "nope"})),
        &mut seen,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{err}");

    // The secret was never shown.
    assert!(seen.contains("\"sig\""), "the responses include the credential's name");
    assert!(!seen.contains(&secret), "an admin API response shows the secret:\n{seen}");
    assert!(!gw.log().contains(&secret), "the gateway log shows the secret");

    // Delete.
    let resp = gw.admin(Method::DELETE, &one).send().await.expect("delete");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (st, _) = answer(gw.admin(Method::GET, &one), &mut seen).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, list) = answer(gw.admin(Method::GET, &format!("/targets?tenant={t}")), &mut seen).await;
    assert_eq!(list, json!([]));
}

/// An empty or short admin token stops `gateway serve` at startup with a message that names the rule and
/// not the token (an empty one used to open the admin API to any Basic password).
#[tokio::test]
async fn serve_refuses_an_empty_or_short_admin_token() {
    let Some(env) = TestEnv::new(Backend::Sqlite, "admin-token").await else { return };
    for token in ["", "   ", "short-token"] {
        let mut cmd = tokio::process::Command::new(gateway_bin());
        cmd.env_clear()
            .envs(env.vars())
            .env("GATEWAY_ADMIN_TOKEN", token)
            .env("GATEWAY_BIND", format!("127.0.0.1:{}", free_port()))
            .arg("serve")
            .current_dir(&env.dir.path)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
            .await
            .expect("gateway serve exits instead of serving")
            .expect("gateway runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "token {token:?} was accepted: {stderr}");
        assert!(stderr.contains("at least 16"), "{stderr}");
        if !token.trim().is_empty() {
            assert!(!stderr.contains(token), "the token is shown: {stderr}");
        }
    }
}
