//! Who may use the admin API and how: what a browser holding Basic credentials could be tricked into
//! sending is refused (Basic on state-changing routes, a foreign `Origin`, a non-JSON body), the report
//! page carries headers that keep it out of frames and caches, and a tenant admin token reaches its own
//! tenant's targets, outbox and report and nothing else. On 7914331 `POST …/outbox/replay` with a foreign
//! Origin and Basic credentials answered 200, and there was one admin token for every tenant.

use super::rig;
use crate::common::Backend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn status_of(rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = rb.send().await.expect("admin API answers");
    let st = resp.status();
    (st, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_browser_cannot_be_used_against_the_admin_api() {
    let Some(r) = rig(Backend::Sqlite, "admin-browser", &[]).await else { return };
    let (gw, t) = (&r.gw, r.tenant.as_str());
    let url = |p: &str| format!("{}/admin/v1{p}", gw.origin);
    let replay = url(&format!("/tenants/{t}/outbox/replay"));

    // Basic (what a browser resends by itself) is refused on a state-changing route, whatever the body.
    let (st, body) = status_of(gw.http.post(&replay).basic_auth("admin", Some(&gw.admin_token)).json(&json!({}))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("Bearer")), "{body}");
    // ... and on reads other than the report pages.
    let (st, _) = status_of(gw.http.get(url("/targets")).basic_auth("admin", Some(&gw.admin_token))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // A foreign Origin is refused even with the right Bearer token; this server's own origin is fine.
    let (st, body) = status_of(
        gw.admin(Method::POST, &format!("/tenants/{t}/outbox/replay")).header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("cross-site")), "{body}");
    let own = gw.origin.clone();
    let (st, body) =
        status_of(gw.admin(Method::POST, &format!("/tenants/{t}/outbox/replay")).header("origin", own)).await;
    assert_eq!(st, StatusCode::OK, "{body}");

    // A body must be JSON: text/plain and form posts need no CORS preflight.
    let spec = json!({"name": "x", "plugin": "webhook"}).to_string();
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let rb = gw.admin(Method::POST, &format!("/tenants/{t}/targets")).header("content-type", ct).body(spec.clone());
        let (st, body) = status_of(rb).await;
        assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}: {body}");
    }
    let rb = gw.admin(Method::POST, "/plugins?name=p").header("content-type", "text/plain").body("x");
    assert_eq!(status_of(rb).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // The report page's own headers are checked where a report is loaded (tests/report.rs).
}

#[tokio::test]
async fn tenant_admin_tokens_reach_their_own_tenant_only() {
    let Some(r) = rig(Backend::Sqlite, "admin-tenant", &[]).await else { return };
    let (gw, t) = (&r.gw, r.tenant.as_str());
    let (other, _) = r.env.create_tenant().await;
    let url = |p: &str| format!("{}/admin/v1{p}", gw.origin);

    let issued = r.env.cli_json(&["tenant", "rotate-admin-token", t]).await;
    let token = issued["admin_token"].as_str().expect("admin_token").to_owned();
    assert_eq!(issued["admin_path"], format!("/admin/v1/tenants/{t}"));

    // Its own tenant: targets (listing is limited to it), outbox, replay.
    let (st, list) = status_of(gw.http.get(url("/targets")).bearer_auth(&token)).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let (st, body) = status_of(gw.http.get(url(&format!("/tenants/{t}/outbox"))).bearer_auth(&token)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let (st, body) = status_of(gw.http.post(url(&format!("/tenants/{t}/outbox/replay"))).bearer_auth(&token)).await;
    assert_eq!(st, StatusCode::OK, "{body}");

    // Another tenant, the plugin registry, and egress into private networks: refused with the reason.
    let (st, body) = status_of(gw.http.get(url(&format!("/tenants/{other}/outbox"))).bearer_auth(&token)).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains(t) && d.contains(&other)), "{body}");
    let (st, _) = status_of(gw.http.get(url("/plugins")).bearer_auth(&token)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let spec = json!({"name": "lms", "plugin": "webhook", "allowed_hosts": ["http://127.0.0.1:9"], "allow_http": true, "allow_private": true});
    let (st, body) =
        status_of(gw.http.post(url(&format!("/tenants/{t}/targets"))).bearer_auth(&token).json(&spec)).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("allow_private")), "{body}");
    let load = json!({"path": "/etc"});
    let (st, _) = status_of(gw.http.post(url(&format!("/tenants/{t}/report"))).bearer_auth(&token).json(&load)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // It is not a SCIM token either.
    let (st, _, _) = gw.scim(t, &token).get("/Users").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // Rotation: a second token works beside the first until the old ones are revoked; --all revokes all.
    let second =
        r.env.cli_json(&["tenant", "rotate-admin-token", t]).await["admin_token"].as_str().expect("token").to_owned();
    assert_eq!(status_of(gw.http.get(url("/targets")).bearer_auth(&token)).await.0, StatusCode::OK);
    let revoked = r.env.cli_json(&["tenant", "revoke-admin-token", t]).await;
    assert_eq!(revoked["revoked"], 1, "{revoked}");
    assert_eq!(status_of(gw.http.get(url("/targets")).bearer_auth(&token)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(gw.http.get(url("/targets")).bearer_auth(&second)).await.0, StatusCode::OK);
    r.env.cli_json(&["tenant", "revoke-admin-token", t, "--all"]).await;
    assert_eq!(status_of(gw.http.get(url("/targets")).bearer_auth(&second)).await.0, StatusCode::UNAUTHORIZED);

    // The operator's token still reaches everything.
    assert_eq!(status_of(gw.admin(Method::GET, "/plugins")).await.0, StatusCode::OK);
    assert_eq!(status_of(gw.admin(Method::GET, &format!("/tenants/{other}/outbox"))).await.0, StatusCode::OK);
}

/// `/metrics` names tenants: with `metrics_token` set it answers only that bearer token (open on
/// 7914331). The SCIM `meta.location` ignores `X-Forwarded-Host` from a client that is not a
/// configured proxy (on 7914331 any client could make the gateway hand out its own host name).
#[tokio::test]
async fn metrics_token_and_untrusted_forwarded_headers() {
    let token = "metrics-token-0123456789abcdef";
    let Some(r) = rig(Backend::Sqlite, "metrics", &[("GATEWAY_METRICS_TOKEN", token)]).await else { return };
    let url = format!("{}/metrics", r.gw.origin);
    assert_eq!(r.gw.http.get(&url).send().await.expect("metrics").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.gw.http.get(&url).bearer_auth("wrong-token-0123456789").send().await.expect("m").status(),
        StatusCode::UNAUTHORIZED
    );
    let ok = r.gw.http.get(&url).bearer_auth(token).send().await.expect("metrics");
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap_or_default().contains("http_requests_total"));

    let id = r.scim.create_user("forwarded@contoso.com").await;
    let resp = r
        .scim
        .send(
            r.scim
                .request(Method::GET, &format!("/Users/{id}"))
                .header("x-forwarded-host", "evil.example")
                .header("x-forwarded-proto", "https"),
        )
        .await;
    let location = resp.2["meta"]["location"].as_str().unwrap_or_default().to_owned();
    assert!(location.starts_with(&r.gw.origin) && !location.contains("evil"), "{location}");
}

/// Only authenticated SCIM requests make delivery yield (on 7914331 any request under `/scim/` did, so
/// anyone could slow delivery down): `scim_paced_requests_total` counts them.
#[tokio::test]
async fn only_authenticated_scim_traffic_paces_delivery() {
    let Some(r) = rig(Backend::Sqlite, "pacing", &[]).await else { return };
    let url = format!("{}/Users", r.scim.base());
    for _ in 0..50 {
        let resp = r.gw.http.get(&url).bearer_auth("not-a-token").send().await.expect("answer");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let resp = r.gw.http.get(format!("{}/scim/v2/no-such-tenant/Users", r.gw.origin)).send().await.expect("a");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(r.gw.counter("scim_paced_requests_total").await, 0.0, "unauthenticated requests were counted");
    for _ in 0..5 {
        let (st, _, _) = r.scim.get("/Users").await;
        assert_eq!(st, StatusCode::OK);
    }
    assert_eq!(r.gw.counter("scim_paced_requests_total").await, 5.0);
}
