//! The HTTP surface (actix-web): SCIM 2.0 per tenant under `/scim/v2/{tenant}`, `/healthz`, `/metrics`.
//! Tenants are resolved from the URL and authenticated by their bearer token; handlers call the pure
//! `scim` layer and the `store`.

pub mod admin;
mod auth;
pub mod auth_token;
mod body;
mod discovery;
pub mod error;
mod list;
mod observe;
mod resources;
mod routes;
mod state;

pub use error::{ApiError, ApiResult, SCIM_JSON};
pub use routes::{configure, server};
pub use state::{AdminApi, AppState, HttpSettings};
