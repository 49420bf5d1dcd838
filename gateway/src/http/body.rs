//! Request bodies (content type, size limit, JSON) and SCIM JSON responses.

use super::error::{ApiResult, SCIM_JSON};
use crate::scim::error::ScimError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::Value;

/// Reads a JSON body of at most `limit` bytes. `application/scim+json` and `application/json` are
/// accepted (415 otherwise); a missing Content-Type is tolerated.
pub async fn read_json(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> ApiResult<Value> {
    if let Some(ct) = req.headers().get(actix_web::http::header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if ct != "application/scim+json" && ct != "application/json" {
            return Err(ScimError::unsupported_media_type(format!(
                "Content-Type must be application/scim+json or application/json, not \"{ct}\""
            ))
            .into());
        }
    }
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(too_large(limit).into());
    }
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ScimError::invalid_syntax("the request body could not be read"))?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large(limit).into());
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.is_empty() {
        return Err(ScimError::invalid_syntax("a JSON request body is required").into());
    }
    serde_json::from_slice(&buf).map_err(|e| {
        ScimError::invalid_syntax(format!(
            "the request body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
        .into()
    })
}

fn too_large(limit: usize) -> ScimError {
    ScimError::payload_too_large(format!("the request body exceeds the limit of {limit} bytes"))
}

/// An `application/scim+json` response.
pub fn scim_json(status: u16, body: &Value) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .content_type(SCIM_JSON)
        .body(body.to_string())
}
