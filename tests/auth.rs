//! Bearer-token authentication per tenant.

use crate::common::*;
use gateway::http::auth_token;
use gateway::store::MemberPolicy;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};

async fn get_with_token(app: &TestApp, tenant: &str, token: Option<&str>) -> Resp {
    let mut rb = app.raw().get(format!("{}/scim/v2/{tenant}/Users", app.origin)).header(CONTENT_TYPE, SCIM_JSON);
    if let Some(t) = token {
        rb = rb.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    app.send(rb).await
}

async fn missing_token_is_401(app: TestApp) {
    let resp = get_with_token(&app, &app.tenant, None).await;
    assert_scim_error(&resp, 401, None);
    let www = header(&resp.1, WWW_AUTHENTICATE.as_str()).unwrap_or("");
    assert!(www.starts_with("Bearer"), "WWW-Authenticate is {www:?}");

    // Also on a write: nothing may be created without a token.
    let rb =
        app.raw().post(app.url("/Users")).header(CONTENT_TYPE, SCIM_JSON).body(entra_user("x@contoso.com").to_string());
    let resp = app.send(rb).await;
    assert_scim_error(&resp, 401, None);
    let (_, _, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 0);
}
both!(missing_token, missing_token_is_401);

async fn wrong_token_is_401(app: TestApp) {
    let other = auth_token::generate().expect("token");
    let resp = get_with_token(&app, &app.tenant, Some(&other)).await;
    assert_scim_error(&resp, 401, None);
    assert!(header(&resp.1, WWW_AUTHENTICATE.as_str()).unwrap_or("").starts_with("Bearer"));
    // Basic auth with the right secret is not a bearer token.
    let rb = app.raw().get(app.url("/Users")).basic_auth("api", Some(&app.token));
    assert_scim_error(&app.send(rb).await, 401, None);
    // Unknown tenant with another tenant's valid token: 403, the same answer an existing tenant gives,
    // so the status does not reveal which tenants exist.
    let resp = get_with_token(&app, &unique_tenant(), Some(&app.token)).await;
    assert_scim_error(&resp, 403, None);
}
both!(wrong_token, wrong_token_is_401);

async fn cross_tenant_token_rejected(app: TestApp) {
    let b = app.new_tenant(MemberPolicy::Reject).await;
    let uid = b.create_user("bob@contoso.com").await;
    // A's token on B's URL.
    // A valid credential without access to this tenant: 403 with a SCIM error body.
    let resp = get_with_token(&app, &b.tenant, Some(&app.token)).await;
    assert_scim_error(&resp, 403, None);
    let rb = app.raw().get(format!("{}/Users/{uid}", b.base())).header(AUTHORIZATION, format!("Bearer {}", app.token));
    let resp = app.send(rb).await;
    assert_eq!(resp.0, StatusCode::FORBIDDEN, "got {}", resp.0);
    // An unknown tenant with a token of another: 403 too; an unknown token anywhere: 401.
    assert_eq!(get_with_token(&app, "no-such-tenant", Some(&app.token)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get_with_token(&app, &b.tenant, Some("scimgw_nope")).await.0, StatusCode::UNAUTHORIZED);
    // And A cannot see B's user through its own URL either.
    let (st, _, _) = app.get(&format!("/Users/{uid}")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, _, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 0, "tenant A sees no users of B");
}
both!(cross_tenant, cross_tenant_token_rejected);

async fn token_rotation(app: TestApp) {
    let old = app.token.clone();
    let new = auth_token::generate().expect("token");
    assert!(app.store.add_token(&app.tenant, &auth_token::digest(&new)).await.expect("add token"));
    assert_eq!(get_with_token(&app, &app.tenant, Some(&old)).await.0, StatusCode::OK, "old token still valid");
    assert_eq!(get_with_token(&app, &app.tenant, Some(&new)).await.0, StatusCode::OK, "new token valid");

    let revoked = app.store.revoke_old_tokens(&app.tenant).await.expect("revoke");
    assert_eq!(revoked, Some(1));
    let resp = get_with_token(&app, &app.tenant, Some(&old)).await;
    assert_scim_error(&resp, 401, None);
    assert_eq!(get_with_token(&app, &app.tenant, Some(&new)).await.0, StatusCode::OK, "new token valid after revoke");
}
both!(rotate_and_revoke, token_rotation);

async fn healthz_needs_no_auth(app: TestApp) {
    let resp = app.raw().get(format!("{}/healthz", app.origin)).send().await.expect("healthz");
    let (st, _, body) = read(resp).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}
both!(healthz, healthz_needs_no_auth);
