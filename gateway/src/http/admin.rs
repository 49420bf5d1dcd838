//! The admin API (`/admin/v1`): plugins, targets and the outbox, the same operations as the CLI. It is
//! served only when `admin_token` is configured, and every request needs `Authorization: Bearer <it>`.
//! Errors use the SCIM error body (`status`, `detail`). Credentials are accepted, never returned.

use super::{ApiResult, AppState};
use crate::admin::{AdminError, TargetSpec, action_of};
use crate::scim::error::ScimError;
use crate::store::delivery::{OutboxFilter, TargetAction};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use subtle::ConstantTimeEq;

impl From<AdminError> for super::ApiError {
    fn from(e: AdminError) -> Self {
        let (status, msg) = match e {
            AdminError::NotFound(m) => (404, m),
            AdminError::Invalid(m) => (400, m),
            AdminError::Conflict(m) => (409, m),
            AdminError::Internal(m) => {
                tracing::error!(error = %m, "admin operation failed");
                (500, "internal error".to_owned())
            }
        };
        super::ApiError(ScimError::new(status, None, msg))
    }
}

pub(super) fn authorize<'a>(state: &'a AppState, req: &HttpRequest) -> ApiResult<&'a crate::admin::Admin> {
    let Some((admin, digest)) = state.admin.get() else {
        return Err(ScimError::not_found("the admin API is disabled (set admin_token / GATEWAY_ADMIN_TOKEN)").into());
    };
    let header = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    // A browser opening the HTML report authenticates with Basic (any user name, the token as password).
    let basic = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))
        .and_then(|b| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, p)| p.to_owned()));
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::to_owned)
        .or(basic)
        .ok_or_else(|| ScimError::new(401, None, "admin API: bearer token required"))?;
    let given = super::auth_token::digest(token.trim());
    if !bool::from(given.ct_eq(digest)) {
        return Err(ScimError::new(401, None, "admin API: invalid token").into());
    }
    Ok(admin.as_ref())
}

async fn list_plugins(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    Ok(HttpResponse::Ok().json(a.list_plugins().await?))
}

#[derive(Deserialize)]
struct PluginQuery {
    name: String,
}

async fn add_plugin(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<PluginQuery>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    let added = a.add_plugin(&q.name, body.to_vec()).await?;
    Ok(HttpResponse::Created().json(added))
}

#[derive(Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

async fn list_targets(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<TenantQuery>,
) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    Ok(HttpResponse::Ok().json(a.list_targets(q.tenant.as_deref()).await?))
}

async fn add_target(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    let spec: TargetSpec =
        serde_json::from_slice(&body).map_err(|e| ScimError::invalid_syntax(format!("target: {e}")))?;
    Ok(HttpResponse::Created().json(a.add_target(&path, spec).await?))
}

async fn get_target(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    Ok(HttpResponse::Ok().json(a.target(&path.0, &path.1).await?.status_json()))
}

async fn delete_target(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    a.target_action(&path.0, &path.1, TargetAction::Delete).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn configure_target(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    Ok(HttpResponse::Ok().json(a.configure_target(&path.0, &path.1, body.into_inner()).await?.status_json()))
}

async fn target_action(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    let action =
        action_of(&path.2).ok_or_else(|| ScimError::not_found("unknown action (pause, resume, retry, resync)"))?;
    Ok(HttpResponse::Ok().json(a.target_action(&path.0, &path.1, action).await?))
}

#[derive(Deserialize)]
struct OutboxQuery {
    target: Option<String>,
    #[serde(default)]
    dead: bool,
    limit: Option<i64>,
}

async fn list_outbox(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<OutboxQuery>,
) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    let q = q.into_inner();
    let f = OutboxFilter {
        tenant: path.into_inner(),
        target: q.target,
        op_id: None,
        dead_only: q.dead,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    Ok(HttpResponse::Ok().json(a.outbox_list(f).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    target: Option<String>,
    op_id: Option<String>,
}

async fn replay(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    let b: ReplayBody = if body.is_empty() {
        ReplayBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ScimError::invalid_syntax(format!("replay: {e}")))?
    };
    let f = OutboxFilter { tenant: path.into_inner(), target: b.target, op_id: b.op_id, dead_only: true, limit: 0 };
    Ok(HttpResponse::Ok().json(serde_json::json!({"replayed": a.outbox_replay(f).await?})))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/v1")
            .service(
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
            .service(
                web::resource("/tenants/{tenant}/report")
                    .app_data(web::JsonConfig::default().limit(1 << 30))
                    .route(web::get().to(super::report::page))
                    .route(web::post().to(super::report::load)),
            )
            .route("/tenants/{tenant}/report/{table}", web::get().to(super::report::table))
            .route("/tenants/{tenant}/outbox", web::get().to(list_outbox))
            .route("/tenants/{tenant}/outbox/replay", web::post().to(replay)),
    );
}
