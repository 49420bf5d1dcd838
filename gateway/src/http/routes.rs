//! The HTTP server and its routes: SCIM under `/scim/v2/{tenant}`, `/healthz`, `/metrics` and the admin
//! API; every request passes the observing middleware, and unknown paths and methods get SCIM errors.

use super::error::ApiResult;
use super::state::AppState;
use super::{admin, auth, discovery, list, observe, resources};
use crate::scim::error::ScimError;
use actix_web::{HttpResponse, web};
use std::sync::Arc;

/// The HTTP server on an already bound listener, with the middleware `gateway serve` uses. Run it inside
/// an actix system (`actix_web::rt::System`); tests bind 127.0.0.1:0 and call this too.
pub fn server(
    state: Arc<AppState>,
    listener: std::net::TcpListener,
    workers: Option<usize>,
    shutdown_timeout_secs: u64,
) -> std::io::Result<actix_web::dev::Server> {
    use actix_web::middleware::{NormalizePath, TrailingSlash, from_fn};
    use actix_web::{App, HttpServer};
    let data = web::Data::from(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(observe::observe))
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .configure(configure)
    })
    .shutdown_timeout(shutdown_timeout_secs)
    .listen(listener)?;
    if let Some(w) = workers {
        server = server.workers(w.max(1));
    }
    Ok(server.run())
}

/// Registers every route on an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use resources::{Groups, Users};
    cfg.route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(observe::metrics))
        .configure(admin::configure)
        .service(
            web::scope("/scim/v2/{tenant}")
                .service(
                    web::resource("/Users")
                        .route(web::get().to(list::list::<Users>))
                        .route(web::post().to(resources::create::<Users>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Users/.search")
                        .route(web::post().to(list::search::<Users>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Users/{id}")
                        .route(web::get().to(resources::get::<Users>))
                        .route(web::put().to(resources::replace::<Users>))
                        .route(web::patch().to(resources::patch::<Users>))
                        .route(web::delete().to(resources::delete::<Users>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Groups")
                        .route(web::get().to(list::list::<Groups>))
                        .route(web::post().to(resources::create::<Groups>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Groups/.search")
                        .route(web::post().to(list::search::<Groups>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Groups/{id}")
                        .route(web::get().to(resources::get::<Groups>))
                        .route(web::put().to(resources::replace::<Groups>))
                        .route(web::patch().to(resources::patch::<Groups>))
                        .route(web::delete().to(resources::delete::<Groups>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/.search")
                        .route(web::post().to(list::search_root))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/ServiceProviderConfig")
                        .route(web::get().to(discovery::service_provider_config))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/ResourceTypes")
                        .route(web::get().to(discovery::resource_types))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/ResourceTypes/{name}")
                        .route(web::get().to(discovery::resource_type))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Schemas")
                        .route(web::get().to(discovery::schemas))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Schemas/{urn}")
                        .route(web::get().to(discovery::schema))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(web::resource("/Bulk").to(bulk)),
        )
        .default_service(web::to(not_found));
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok", "store": state.store.backend()}))
}

async fn not_found() -> ApiResult<HttpResponse> {
    Err(ScimError::not_found("no such endpoint; SCIM resources live under /scim/v2/{tenant}/").into())
}

async fn method_not_allowed() -> ApiResult<HttpResponse> {
    Err(ScimError::method_not_allowed("this method is not supported on this endpoint").into())
}

async fn bulk(_t: auth::Tenant) -> ApiResult<HttpResponse> {
    Err(ScimError::new(501, None, "bulk operations are not supported (see /ServiceProviderConfig)").into())
}
