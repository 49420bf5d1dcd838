//! iSpring Learn REST API v3 simulator (the subset the SCIM gateway plugin uses).
//!
//! * [`model`]: the account state and the automatic-enrollment rules (pure, synchronous).
//! * [`api`]: routing, authentication, fault injection and JSON shapes, transport-free.
//! * [`http`]: the actix-web adapter.

pub mod api;
pub use sim_kit::{faults, table};
pub mod auth;
pub mod http;
pub mod model;
