//! Integration tests of the SCIM gateway: a real server over SQLite and PostgreSQL, driven with the
//! requests Microsoft Entra provisioning sends (see `docs/spec/entra.md`). Every scenario runs on both backends
//! (`both!`); PostgreSQL runs need `TEST_POSTGRES_URL`.

#[macro_use]
mod common;

mod auth;
mod changelog;
mod delivery;
mod discovery;
mod entra;
mod errors;
mod fuzz;
mod groups;
mod ispring;
mod learn365;
mod paging;
mod plugin_state;
mod report;
mod users;
