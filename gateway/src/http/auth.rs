//! Bearer-token authentication: the URL names the tenant, the token must be one of that tenant's.
//! Tokens are compared as SHA-256 digests in constant time; neither the token nor its digest is logged.

use super::error::ApiError;
use super::state::AppState;
use crate::scim::discovery::TenantSchemas;
use crate::scim::error::ScimError;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// An authenticated tenant, with what handlers need to serve it.
pub struct Tenant {
    pub pk: i64,
    pub policy: crate::store::MemberPolicy,
    pub schemas: Arc<TenantSchemas>,
    /// Absolute SCIM root of the tenant (for `meta.location` and `$ref`).
    pub base: String,
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let h = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = h.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

impl FromRequest for Tenant {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Tenant, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError(ScimError::internal("application state missing")))?
                .clone();
            let name = req.match_info().get("tenant").unwrap_or_default().to_owned();
            if name.contains('\0') {
                return Err(ScimError::not_found("no such tenant").into());
            }
            let Some(token) = bearer(&req) else {
                return Err(
                    ScimError::unauthorized("missing bearer token (Authorization: Bearer <secret token>)").into()
                );
            };
            let digest = super::auth_token::digest(token);
            let auth = state.tenant_auth(&name).await?;
            let valid = auth
                .as_ref()
                .filter(|a| a.token_hashes.iter().fold(false, |ok, h| ok | bool::from(h.as_slice().ct_eq(&digest))));
            let Some(auth) = valid else {
                // A token of another tenant is a valid credential without access here: 403, not 401.
                if state.store.token_exists(&digest).await? {
                    return Err(
                        ScimError::forbidden("this token belongs to another tenant; use this tenant's token").into()
                    );
                }
                return Err(ScimError::unauthorized("the bearer token is not valid for this tenant").into());
            };
            let schemas = state.tenant_schemas(auth.pk).await?;
            let base = format!("{}/scim/v2/{}", public_base(&req, &state.settings), name);
            tracing::Span::current().record("tenant", name.as_str());
            // Only authenticated SCIM traffic makes delivery yield (anyone could send the rest).
            crate::delivery::pacing::scim_request();
            Ok(Tenant { pk: auth.pk, policy: auth.policy, schemas, base })
        })
    }
}

/// `scheme://host` as clients reach this server: the configured public base URL; else the forwarded
/// headers when the peer is a trusted proxy; else the request's own `Host` (plain HTTP).
fn public_base(req: &HttpRequest, settings: &super::state::HttpSettings) -> String {
    if let Some(base) = &settings.public_base_url {
        return base.clone();
    }
    let trusted = req.peer_addr().is_some_and(|p| settings.trusted_proxies.contains(&p.ip()));
    if trusted {
        let conn = req.connection_info();
        return format!("{}://{}", conn.scheme(), conn.host());
    }
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        .map(str::to_owned)
        .unwrap_or_else(|| req.app_config().host().to_owned());
    format!("{}://{host}", if req.app_config().secure() { "https" } else { "http" })
}
