//! The admin API (`/admin/v1`): plugins, targets and the outbox ([`targets`]) and the Learn report
//! ([`report`]), the same operations as the CLI. It is served only when `admin_token` is configured,
//! and every request authenticates with it ([`auth`]). Errors use the SCIM error body (`status`,
//! `detail`); internal failures are logged and answered with a bare 500. Credentials are accepted,
//! never returned.

mod auth;
mod report;
mod targets;

pub use auth::{Admin, AdminApi};

use super::ApiError;
use crate::delivery::ControlError;
use crate::reporting::service::ReportError;
use crate::scim::error::ScimError;
use actix_web::web;

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
fn internal(cause: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %cause, "admin operation failed");
    ApiError(ScimError::new(500, None, "internal error"))
}

/// Registers `/admin/v1` and every admin route under it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/admin/v1").configure(targets::routes).configure(report::routes));
}
