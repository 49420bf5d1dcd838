//! Turning every failure into an RFC 7644 §3.12 response: the one place where the errors of the store,
//! the delivery control service and the reporting service become HTTP statuses (`docs/ERRORS.md`).

use crate::delivery::ControlError;
use crate::reporting::service::ReportError;
use crate::scim::error::ScimError;
use crate::store::StoreError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

pub const SCIM_JSON: &str = "application/scim+json";

/// The error type of every SCIM handler.
#[derive(Debug)]
pub struct ApiError(pub ScimError);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(detail) => ApiError(ScimError::not_found(detail)),
            StoreError::Conflict(detail) => ApiError(ScimError::uniqueness(detail)),
            StoreError::VersionMismatch(detail) => ApiError(ScimError::precondition_failed(detail)),
            StoreError::Invalid(detail) => ApiError(ScimError::invalid_value(detail)),
            StoreError::Rejected(e) => ApiError(e),
            StoreError::Unavailable(why) => {
                tracing::warn!(reason = %why, "write not applied");
                ApiError(ScimError::unavailable("the gateway could not apply the write; retry"))
            }
            other => {
                // Logged once here, where it becomes a 500/503; the client gets no internals.
                tracing::error!(error = %other, "store failure");
                let busy = matches!(&other, StoreError::Db(sqlx::Error::PoolTimedOut));
                ApiError(if busy {
                    ScimError::unavailable("the gateway's database is busy; retry later")
                } else {
                    ScimError::internal("internal error in the gateway's store; see the gateway log")
                })
            }
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        let (status, msg) = match e {
            ControlError::NotFound(m) => (404, m),
            ControlError::Invalid(m) => (400, m),
            ControlError::Conflict(m) => (409, m),
            ControlError::Internal(m) => return internal(m),
        };
        ApiError(ScimError::new(status, None, msg))
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Load(_) => ApiError(ScimError::new(400, None, e.to_string())),
            ReportError::NotFound(m) => ApiError(ScimError::new(404, None, m)),
            ReportError::Store(s) => ControlError::from(s).into(),
            ReportError::Internal(m) => internal(m),
        }
    }
}

/// A 500 whose cause goes to the log, not to the client.
pub(super) fn internal(cause: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %cause, "admin operation failed");
    ApiError(ScimError::new(500, None, "internal error"))
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn error_response(&self) -> HttpResponse {
        scim_error_response(&self.0)
    }
}

pub fn scim_error_response(e: &ScimError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = HttpResponse::build(status);
    resp.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON)));
    if e.status == 401 {
        resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scim\"")));
    }
    if e.status == 503 {
        resp.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
    }
    resp.body(e.to_json().to_string())
}

pub type ApiResult<T> = Result<T, ApiError>;
