//! SCIM 2.0 provisioning gateway for Microsoft Entra ID. Data flows http → scim (pure) → store; see
//! `../shared/design.md` for the whole picture (plugins, outbox and reporting build on this).
pub mod admin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod outbox;
pub mod plugins;
pub mod reporting;
pub mod scim;
pub mod store;
