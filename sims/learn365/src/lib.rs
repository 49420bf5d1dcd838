//! Learn365 (formerly LMS365) simulator: the OData v2 subset the SCIM gateway's plugin uses, plus
//! Learn365's training-plan enrollment logic, behind a real HTTP server. Specification:
//! `docs/spec/learn365.md` (§2 the API, §3 the training-plan rules T1–T6 and scenarios #1–#5).
//!
//! * [`model`]: the tenant state and the enrollment / training-plan rules (pure, synchronous).
//! * [`odata`]: query options (`$filter`, `$select`, `$expand`, `$orderby`, `$top`, `$skip`, `$count`)
//!   and the property schema of every entity set.
//! * [`graph`]: the Microsoft Graph subset served beside the API (Entra ID client-credentials tokens,
//!   security groups and their members), over the same tenant groups.
//! * [`api`]: routing, authentication, fault injection, statistics and the `/_sim` surface,
//!   transport-free.
//! * [`http`]: the actix-web adapter.

pub mod api;
pub use sim_kit::{faults, table};
pub mod auth;
pub mod graph;
pub mod http;
pub mod model;
pub mod odata;

#[cfg(test)]
mod tests;
