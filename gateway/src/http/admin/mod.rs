//! The admin API (`/admin/v1`): plugins, targets and the outbox ([`targets`]), scheduled jobs, plugin
//! resources, notifications and the virtual clock ([`jobs`]) and the Learn report ([`report`]), the same
//! operations as the CLI. It is served only when `admin_token` is configured,
//! and every request authenticates with it ([`auth`]). Errors use the SCIM error body (`status`,
//! `detail`; the mapping is in `http::error`); internal failures are logged and answered with a bare
//! 500. Credentials are accepted, never returned.

mod auth;
mod jobs;
mod report;
mod targets;

pub use auth::Admin;

use actix_web::web;

/// Registers `/admin/v1` and every admin route under it.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/admin/v1").configure(jobs::routes).configure(targets::routes).configure(report::routes));
}
