//! Authentication of the admin API. The [`Admin`] extractor admits a request carrying either the
//! operator's token (`admin_token`: every tenant, plugins) or a tenant admin token (`gateway tenant
//! rotate-admin-token`: that tenant's targets, outbox and report only), and refuses what a browser could
//! be tricked into sending:
//!
//! - a request whose `Origin` is not this server (cross-site) → 403;
//! - Basic credentials (the token as password; browsers resend them by themselves) except on GETs of
//!   the report pages → 401; every other route, and every state-changing one, takes `Bearer` only;
//! - a state-changing request with a body that is not JSON (`text/plain` and form posts need no CORS
//!   preflight) → 415; plugin uploads take `application/wasm` or `application/octet-stream`.
//!
//! Tokens are compared by their SHA-256 digest (the operator's in constant time; tenant tokens are
//! looked up by digest). The header is parsed here rather than with `actix-web-httpauth`'s extractors
//! because one credential is accepted under two schemes, each case-insensitively (RFC 7235), and every
//! failure must be a SCIM error body.

use crate::http::auth_token;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::{AdminApi, AppState};
use crate::scim::error::ScimError;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use subtle::ConstantTimeEq;

/// Whose token authenticated the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The operator's token: everything.
    Operator,
    /// A tenant admin token: this tenant's targets, outbox and report.
    Tenant(String),
}

/// An authenticated admin request: the services it may use and the scope of its token.
pub struct Admin {
    api: AdminApi,
    pub scope: Scope,
}

impl std::ops::Deref for Admin {
    type Target = AdminApi;
    fn deref(&self) -> &AdminApi {
        &self.api
    }
}

impl Admin {
    /// Refuses (403) what only the operator may do.
    pub fn operator_only(&self, what: &str) -> ApiResult<()> {
        match &self.scope {
            Scope::Operator => Ok(()),
            Scope::Tenant(t) => {
                Err(forbidden(format!("{what} needs the operator's token; this token is for tenant {t}")))
            }
        }
    }

    /// The tenant a tenant admin token is limited to; None for the operator.
    pub fn own_tenant(&self) -> Option<&str> {
        match &self.scope {
            Scope::Operator => None,
            Scope::Tenant(t) => Some(t),
        }
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = precheck(req);
        let path_tenant = req.match_info().get("tenant").map(str::to_owned);
        if path_tenant.as_deref().is_some_and(|t| t.contains('\0')) {
            return Box::pin(async { Err(ScimError::not_found("no such tenant").into()) });
        }
        let tenant_route = path_tenant.is_some() || req.match_pattern().as_deref() == Some("/admin/v1/targets");
        let store = req.app_data::<web::Data<AppState>>().map(|s| s.store.clone());
        Box::pin(async move {
            let (api, digest) = checked?;
            if bool::from(digest.ct_eq(&api.token_digest)) {
                return Ok(Admin { api, scope: Scope::Operator });
            }
            let Some(store) = store else { return Err(invalid()) };
            let tenant = store.admin_token_tenant(&digest).await.map_err(ApiError::from)?.ok_or_else(invalid)?;
            match path_tenant {
                Some(p) if p != tenant => Err(forbidden(format!("this admin token is for tenant {tenant}, not {p}"))),
                _ if !tenant_route => {
                    Err(forbidden(format!("this route needs the operator's token; this token is for tenant {tenant}")))
                }
                _ => Ok(Admin { api, scope: Scope::Tenant(tenant) }),
            }
        })
    }
}

fn invalid() -> ApiError {
    ScimError::new(401, None, "admin API: invalid token").into()
}

fn forbidden(detail: String) -> ApiError {
    ScimError::new(403, None, format!("admin API: {detail}")).into()
}

/// The checks that need no database: the API is on, the request is not cross-site, the scheme and
/// content type fit the route. Returns the services and the digest of the presented token.
fn precheck(req: &HttpRequest) -> Result<(AdminApi, [u8; 32]), ApiError> {
    let api = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.admin.get())
        .ok_or_else(|| ScimError::not_found("the admin API is disabled (set admin_token / GATEWAY_ADMIN_TOKEN)"))?
        .clone();
    same_origin(req)?;
    let reads = matches!(*req.method(), Method::GET | Method::HEAD);
    let report_page = req.match_pattern().is_some_and(|p| p.starts_with("/admin/v1/tenants/{tenant}/report"));
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let token = match scheme(header) {
        Some(("bearer", token)) => token.to_owned(),
        Some(("basic", creds)) if reads && report_page => {
            basic_password(creds).ok_or_else(|| ScimError::new(401, None, "admin API: malformed Basic credentials"))?
        }
        Some(("basic", _)) => {
            return Err(ScimError::new(
                401,
                None,
                "admin API: Basic credentials are accepted only to read the report pages; use Authorization: Bearer",
            )
            .into());
        }
        _ => return Err(ScimError::new(401, None, "admin API: bearer token required").into()),
    };
    if !reads {
        json_body(req)?;
    }
    Ok((api, auth_token::digest(token.trim())))
}

/// `(lower-case scheme, rest)` of an Authorization header.
fn scheme(header: &str) -> Option<(&'static str, &str)> {
    let (s, rest) = header.split_once(' ')?;
    if s.eq_ignore_ascii_case("bearer") {
        Some(("bearer", rest))
    } else if s.eq_ignore_ascii_case("basic") {
        Some(("basic", rest))
    } else {
        None
    }
}

fn basic_password(creds: &str) -> Option<String> {
    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, creds.trim()).ok()?;
    let pair = String::from_utf8(raw).ok()?;
    pair.split_once(':').map(|(_, p)| p.to_owned())
}

/// A browser sends `Origin` on cross-site requests (and on same-origin ones that are not GET): it must
/// name this server, as the client addressed it (`Host`).
fn same_origin(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or("null");
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let authority = origin.split_once("://").map(|(_, a)| a.trim_end_matches('/')).unwrap_or_default();
    if host.is_empty() || !authority.eq_ignore_ascii_case(host) {
        return Err(forbidden("cross-site request refused (its Origin is not this server)".to_owned()));
    }
    Ok(())
}

/// A state-changing request with a body must say it is JSON (a plugin upload: wasm bytes).
fn json_body(req: &HttpRequest) -> Result<(), ApiError> {
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mime = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let upload = req.match_pattern().as_deref() == Some("/admin/v1/plugins");
    let ok = if upload {
        matches!(mime.as_str(), "application/wasm" | "application/octet-stream")
    } else {
        !has_body || mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    };
    if ok {
        Ok(())
    } else if upload {
        Err(ScimError::unsupported_media_type(
            "admin API: a plugin upload must be application/wasm or application/octet-stream",
        )
        .into())
    } else {
        Err(ScimError::unsupported_media_type("admin API: the body must be application/json").into())
    }
}
