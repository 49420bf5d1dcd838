//! The HTTP surface (actix-web): SCIM 2.0 per tenant under `/scim/v2/{tenant}`, `/healthz`, `/metrics`.
//! Tenants are resolved from the URL and authenticated by their bearer token; handlers call the pure
//! `scim` layer and the `store`.

pub mod admin;
mod auth;
pub mod auth_token;
mod body;
mod discovery;
pub mod error;
mod resources;
mod observe;

use crate::scim::discovery::{CustomSchema, TenantSchemas};
use crate::scim::error::ScimError;
use crate::store::{DynStore, TenantAuth};
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

pub use admin::AdminApi;
pub use error::{ApiError, ApiResult, SCIM_JSON};

/// Limits and knobs of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// How long tenant credentials and schemas are cached in-process. Token revocation and schema
    /// changes made by another process take effect within this time.
    pub cache_ttl: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings { max_body_bytes: 1024 * 1024, cache_ttl: Duration::from_secs(2) }
    }
}

/// Shared state of all workers.
pub struct AppState {
    pub store: DynStore,
    pub settings: HttpSettings,
    pub metrics: Option<PrometheusHandle>,
    /// Tenant credentials and schema sets by tenant, each kept for `cache_ttl` (none when it is zero).
    auth_cache: Option<Cache<String, Option<TenantAuth>>>,
    schema_cache: Option<Cache<i64, Arc<TenantSchemas>>>,
    /// The admin API's service and the digest of its token (unset: the API is off).
    pub admin: std::sync::OnceLock<AdminApi>,
}

impl AppState {
    pub fn new(store: DynStore, settings: HttpSettings, metrics: Option<PrometheusHandle>) -> Arc<AppState> {
        Arc::new(AppState {
            auth_cache: ttl_cache(settings.cache_ttl),
            schema_cache: ttl_cache(settings.cache_ttl),
            store,
            settings,
            metrics,
            admin: std::sync::OnceLock::new(),
        })
    }

    /// The tenant's credentials, from a short-lived cache.
    async fn tenant_auth(&self, name: &str) -> ApiResult<Option<TenantAuth>> {
        if let Some(auth) = self.auth_cache.as_ref().and_then(|c| c.get(name)) {
            return Ok(auth);
        }
        let auth = self.store.tenant_auth(name).await?;
        if let Some(c) = &self.auth_cache {
            c.insert(name.to_owned(), auth.clone());
        }
        Ok(auth)
    }

    /// The tenant's schema set (built-ins plus custom extensions), from a short-lived cache.
    async fn tenant_schemas(&self, tenant_pk: i64) -> ApiResult<Arc<TenantSchemas>> {
        if let Some(s) = self.schema_cache.as_ref().and_then(|c| c.get(&tenant_pk)) {
            return Ok(s);
        }
        let rows = self.store.custom_schemas(tenant_pk).await?;
        let mut custom = Vec::with_capacity(rows.len());
        for r in rows {
            match serde_json::from_str(&r.doc) {
                Ok(schema) => custom.push(CustomSchema {
                    schema: Arc::new(schema),
                    resource_type: r.resource_type,
                    required: r.required,
                }),
                Err(e) => {
                    tracing::error!(schema_id = %r.schema_id, error = %e, "stored custom schema is invalid; skipped")
                }
            }
        }
        let schemas = Arc::new(TenantSchemas::new(&custom));
        if let Some(c) = &self.schema_cache {
            c.insert(tenant_pk, schemas.clone());
        }
        Ok(schemas)
    }
}

/// Entries per cache: beyond it the least used tenants are evicted.
const CACHE_ENTRIES: u64 = 10_000;

fn ttl_cache<K, V>(ttl: Duration) -> Option<Cache<K, V>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    (!ttl.is_zero()).then(|| Cache::builder().max_capacity(CACHE_ENTRIES).time_to_live(ttl).build())
}

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
                        .route(web::get().to(resources::list::<Users>))
                        .route(web::post().to(resources::create::<Users>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Users/.search")
                        .route(web::post().to(resources::search::<Users>))
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
                        .route(web::get().to(resources::list::<Groups>))
                        .route(web::post().to(resources::create::<Groups>))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/Groups/.search")
                        .route(web::post().to(resources::search::<Groups>))
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
                        .route(web::post().to(resources::search_root))
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
