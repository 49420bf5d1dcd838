//! Admin routes of the delivery pipeline: `/admin/v1/plugins`, `…/targets`, `…/tenants/{t}/targets/…`
//! and `…/tenants/{t}/outbox…`, each a thin call into `delivery::Control`.

use super::auth::Admin;
use crate::delivery::control::{TargetSpec, action_of};
use crate::http::error::ApiResult;
use crate::scim::error::ScimError;
use crate::store::delivery::{OutboxFilter, TargetAction};
use actix_web::{HttpResponse, web};
use serde::Deserialize;

async fn list_plugins(a: Admin) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(a.control.list_plugins().await?))
}

#[derive(Deserialize)]
struct PluginQuery {
    name: String,
}

async fn add_plugin(a: Admin, q: web::Query<PluginQuery>, body: web::Bytes) -> ApiResult<HttpResponse> {
    let added = a.control.add_plugin(&q.name, body.to_vec()).await?;
    Ok(HttpResponse::Created().json(added))
}

#[derive(Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

async fn list_targets(a: Admin, q: web::Query<TenantQuery>) -> ApiResult<HttpResponse> {
    // A tenant admin token sees its own tenant's targets, whatever the query asks.
    let tenant = a.own_tenant().or(q.tenant.as_deref());
    Ok(HttpResponse::Ok().json(a.control.list_targets(tenant).await?))
}

async fn add_target(a: Admin, path: web::Path<String>, body: web::Bytes) -> ApiResult<HttpResponse> {
    let spec: TargetSpec =
        serde_json::from_slice(&body).map_err(|e| ScimError::invalid_syntax(format!("target: {e}")))?;
    if spec.allow_private {
        // Egress to private and loopback addresses reaches the gateway's own network.
        a.operator_only("a target with allow_private")?;
    }
    Ok(HttpResponse::Created().json(a.control.add_target(&path, spec).await?))
}

async fn get_target(a: Admin, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(a.control.target_status(&path.0, &path.1).await?))
}

async fn delete_target(a: Admin, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    a.control.target_action(&path.0, &path.1, TargetAction::Delete).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn configure_target(
    a: Admin,
    path: web::Path<(String, String)>,
    body: web::Json<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(a.control.configure_target(&path.0, &path.1, body.into_inner()).await?.status_json()))
}

async fn target_action(a: Admin, path: web::Path<(String, String, String)>) -> ApiResult<HttpResponse> {
    let action =
        action_of(&path.2).ok_or_else(|| ScimError::not_found("unknown action (pause, resume, retry, resync)"))?;
    Ok(HttpResponse::Ok().json(a.control.target_action(&path.0, &path.1, action).await?))
}

#[derive(Deserialize)]
struct OutboxQuery {
    target: Option<String>,
    #[serde(default)]
    dead: bool,
    limit: Option<i64>,
}

async fn list_outbox(a: Admin, path: web::Path<String>, q: web::Query<OutboxQuery>) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let f = OutboxFilter {
        tenant: path.into_inner(),
        target: q.target,
        op_id: None,
        dead_only: q.dead,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    Ok(HttpResponse::Ok().json(a.control.outbox_list(f).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    target: Option<String>,
    op_id: Option<String>,
}

async fn replay(a: Admin, path: web::Path<String>, body: web::Bytes) -> ApiResult<HttpResponse> {
    let b: ReplayBody = if body.is_empty() {
        ReplayBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ScimError::invalid_syntax(format!("replay: {e}")))?
    };
    let f = OutboxFilter { tenant: path.into_inner(), target: b.target, op_id: b.op_id, dead_only: true, limit: 0 };
    Ok(HttpResponse::Ok().json(serde_json::json!({"replayed": a.control.outbox_replay(f).await?})))
}

async fn skip(a: Admin, path: web::Path<String>, body: web::Bytes) -> ApiResult<HttpResponse> {
    let b: ReplayBody = serde_json::from_slice(&body).map_err(|e| ScimError::invalid_syntax(format!("skip: {e}")))?;
    let f = OutboxFilter { tenant: path.into_inner(), target: b.target, op_id: b.op_id, dead_only: true, limit: 0 };
    Ok(HttpResponse::Ok().json(serde_json::json!({"skipped": a.control.outbox_skip(f).await?})))
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/plugins")
            .app_data(web::PayloadConfig::new(50 << 20))
            .route(web::get().to(list_plugins))
            .route(web::post().to(add_plugin)),
    )
    .route("/targets", web::get().to(list_targets))
    .route("/tenants/{tenant}/targets", web::post().to(add_target))
    .service(
        web::resource("/tenants/{tenant}/targets/{name}")
            .route(web::get().to(get_target))
            .route(web::delete().to(delete_target)),
    )
    .route("/tenants/{tenant}/targets/{name}/config", web::put().to(configure_target))
    .route("/tenants/{tenant}/targets/{name}/{action}", web::post().to(target_action))
    .route("/tenants/{tenant}/outbox", web::get().to(list_outbox))
    .route("/tenants/{tenant}/outbox/replay", web::post().to(replay))
    .route("/tenants/{tenant}/outbox/skip", web::post().to(skip));
}
