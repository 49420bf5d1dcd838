//! Admin routes of scheduled jobs, notifications, plugin admin resources and the virtual clock:
//! `…/tenants/{t}/targets/{n}/jobs` (list, `…/jobs/{job}/run`), `…/notifications`,
//! `…/resources/{path}` (any method, answered by the target's plugin; writes 423 while an exclusive job
//! runs) and `/admin/v1/clock` (`…/advance`, operator only, when the gateway runs on a virtual clock).

use super::auth::Admin;
use crate::clock::{parse_rfc3339_ms, rfc3339_of_ms};
use crate::http::error::ApiResult;
use crate::scim::error::ScimError;
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;

fn jobs_service(a: &Admin) -> ApiResult<&std::sync::Arc<crate::delivery::jobs::Jobs>> {
    a.jobs
        .as_ref()
        .ok_or_else(|| ScimError::new(503, None, "this gateway runs without delivery (delivery = false)").into())
}

async fn list_jobs(a: Admin, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(a.control.target_jobs(&path.0, &path.1).await?))
}

async fn run_now(a: Admin, path: web::Path<(String, String, String)>) -> ApiResult<HttpResponse> {
    a.control.run_job_now(&path.0, &path.1, &path.2).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({"job": path.2, "due": "now"})))
}

#[derive(Deserialize)]
struct LimitQuery {
    limit: Option<i64>,
}

async fn notifications(
    a: Admin,
    path: web::Path<(String, String)>,
    q: web::Query<LimitQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(a.control.target_notices(&path.0, &path.1, q.limit.unwrap_or(100)).await?))
}

async fn resource(
    a: Admin,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let (tenant, name, rest) = path.into_inner();
    let jobs = jobs_service(&a)?;
    let pk = a.control.target_pk(&tenant, &name).await?;
    let body = if body.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&body).map_err(|e| ScimError::invalid_syntax(format!("body: {e}")))?)
    };
    let query: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let (status, value) = jobs.resource(pk, req.method().as_str(), &rest, query, body).await;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    Ok(HttpResponse::build(status).json(value))
}

async fn clock(a: Admin) -> ApiResult<HttpResponse> {
    let jobs = jobs_service(&a)?;
    let c = jobs.clock();
    Ok(HttpResponse::Ok().json(serde_json::json!({"now": rfc3339_of_ms(c.now_ms()), "virtual": c.is_virtual()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    /// An RFC 3339 time to move to.
    to: Option<String>,
    /// Or seconds to move by.
    by_secs: Option<i64>,
}

/// Moves the virtual clock, running every job due on the way in order; answers when they are done.
async fn advance(a: Admin, body: web::Json<Advance>) -> ApiResult<HttpResponse> {
    a.operator_only("advancing the clock")?;
    let jobs = jobs_service(&a)?;
    let now = jobs.clock().now_ms();
    let to = match (&body.to, body.by_secs) {
        (Some(t), None) => parse_rfc3339_ms(t).map_err(ScimError::invalid_value)?,
        (None, Some(s)) if s >= 0 => now.saturating_add(s.saturating_mul(1000)),
        _ => return Err(ScimError::invalid_value("give either `to` (RFC 3339) or `by_secs` (≥ 0)").into()),
    };
    let runs = jobs.advance(to).await.map_err(|e| ScimError::new(409, None, e))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"now": rfc3339_of_ms(jobs.clock().now_ms()), "runs": runs})))
}

/// The admin API's OpenAPI document.
async fn openapi(_a: Admin) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(include_str!("openapi.json"))
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi))
        .route("/clock", web::get().to(clock))
        .route("/clock/advance", web::post().to(advance))
        .route("/tenants/{tenant}/targets/{name}/jobs", web::get().to(list_jobs))
        .route("/tenants/{tenant}/targets/{name}/jobs/{job}/run", web::post().to(run_now))
        .route("/tenants/{tenant}/targets/{name}/notifications", web::get().to(notifications))
        .route("/tenants/{tenant}/targets/{name}/resources/{rest:.*}", web::route().to(resource));
}
