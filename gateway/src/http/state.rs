//! The state every HTTP worker shares: the store, the HTTP settings, the metrics handle, the admin
//! API's services, and short-lived caches of tenant credentials and schema sets (`cache_ttl`, a bounded
//! number of tenants; none when the TTL is zero).

use super::error::ApiResult;
use crate::delivery::Control;
use crate::reporting::service::Reports;
use crate::scim::discovery::{CustomSchema, TenantSchemas};
use crate::store::{DynStore, TenantAuth};
use metrics_exporter_prometheus::PrometheusHandle;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// Limits and knobs of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// How long tenant credentials and schemas are cached in-process. Token revocation and schema
    /// changes made by another process take effect within this time.
    pub cache_ttl: Duration,
    /// The base URL clients reach this server by (`https://scim.example.com`): `meta.location` and
    /// `Location` are built from it. Unset: from the request's `Host` (and scheme), with the
    /// `Forwarded` / `X-Forwarded-*` headers honoured only from `trusted_proxies`.
    pub public_base_url: Option<String>,
    /// Peer addresses whose forwarded headers are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// SHA-256 of the bearer token `GET /metrics` requires; open when unset.
    pub metrics_token_digest: Option<[u8; 32]>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_body_bytes: 1024 * 1024,
            cache_ttl: Duration::from_secs(2),
            public_base_url: None,
            trusted_proxies: Vec::new(),
            metrics_token_digest: None,
        }
    }
}

/// What the admin API serves, set on `AppState::admin` when an admin token is configured.
#[derive(Clone)]
pub struct AdminApi {
    pub control: Arc<Control>,
    /// Scheduled jobs, plugin resources and the clock (None when the gateway runs without delivery).
    pub jobs: Option<Arc<crate::delivery::jobs::Jobs>>,
    pub reports: Arc<Reports>,
    /// SHA-256 of the admin token.
    pub token_digest: [u8; 32],
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
    pub(super) async fn tenant_auth(&self, name: &str) -> ApiResult<Option<TenantAuth>> {
        if let Some(auth) = self.auth_cache.as_ref().and_then(|c| c.get(name)) {
            return Ok(auth);
        }
        let auth = self.store.tenant_auth(name).await?;
        // Known tenants only: requests naming random tenants (anyone can send them) must not take the
        // cache's room from the real ones; an unknown name costs one indexed lookup each time.
        if let (Some(c), Some(_)) = (&self.auth_cache, &auth) {
            c.insert(name.to_owned(), auth.clone());
        }
        Ok(auth)
    }

    /// The tenant's schema set (built-ins plus custom extensions), from a short-lived cache.
    pub(super) async fn tenant_schemas(&self, tenant_pk: i64) -> ApiResult<Arc<TenantSchemas>> {
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
