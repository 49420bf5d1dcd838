//! The reporting join: Microsoft Learn Organizational Reporting datasets (loaded from the CSV files Azure
//! Data Share lands) joined with the Entra identities the gateway holds, as a report people can read
//! (HTML) and export (CSV, JSON). Rules R1–R9 of `docs/spec/reporting.md` §5.
//!
//! Data flow: `load` (folder → [`model::Snapshot`], nothing stored on error) → the store (one row per
//! tenant, replaced whole) → `join` with the SCIM users on every read (so disables and deletes show at
//! once) → `export` / `html`.

pub mod export;
pub mod html;
pub mod join;
pub mod load;
pub mod model;
pub mod parquet;
pub mod pg_source;
pub mod sample;
pub mod service;
