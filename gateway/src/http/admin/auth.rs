//! Authentication of the admin API: the [`Admin`] extractor admits a request carrying the admin token,
//! either as `Authorization: Bearer <token>` or, for a browser opening the HTML report, as Basic
//! credentials with the token as the password (any user name). The token is compared by its SHA-256
//! digest in constant time. The header is parsed here rather than with `actix-web-httpauth`'s
//! extractors because one credential is accepted under two schemes, each case-insensitively (RFC 7235),
//! and every failure must be a SCIM error body.

use crate::http::auth_token;
use crate::http::error::ApiError;
use crate::http::state::{AdminApi, AppState};
use crate::scim::error::ScimError;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use std::future::{Ready, ready};
use subtle::ConstantTimeEq;

/// An authenticated admin request: the services it may use.
pub struct Admin(AdminApi);

impl std::ops::Deref for Admin {
    type Target = AdminApi;
    fn deref(&self) -> &AdminApi {
        &self.0
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req).map(Admin))
    }
}

fn authorize(req: &HttpRequest) -> Result<AdminApi, ApiError> {
    let api = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.admin.get())
        .ok_or_else(|| ScimError::not_found("the admin API is disabled (set admin_token / GATEWAY_ADMIN_TOKEN)"))?;
    let header = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
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
    let given = auth_token::digest(token.trim());
    if !bool::from(given.ct_eq(&api.token_digest)) {
        return Err(ScimError::new(401, None, "admin API: invalid token").into());
    }
    Ok(api.clone())
}
