//! Storage: narrow traits over the tenant registry, the SCIM resources with their change log, the
//! delivery state (`delivery`) and the reporting data (`report`), and what the gateway holds: [`Store`],
//! all four behind one [`DynStore`]. One implementation today, [`SqlStore`] (`sql/`), serves SQLite and
//! PostgreSQL with the same SQL; a second backend implements the four traits in a folder of its own.
//!
//! Every write runs in one transaction that changes the resource AND appends its change events, so the
//! change log is complete and ordered per tenant (`seq`).
//!
//! Inside: `sql/` (the store: pools, one file per trait) uses `sqlite/` (the SQLite group-commit writer
//! and the batches it applies), and both use `db/` (the statements they share); never the other way.

pub mod changelog;
mod db;
pub mod delivery;
mod error;
pub mod jobs;
pub mod report;
mod resources;
mod sql;
mod sqlite;
mod tenants;

use async_trait::async_trait;
use std::sync::Arc;

pub use crate::clock::now_rfc3339;
pub use crate::scim::Kind;
pub use changelog::{ChangeEvent, EventKind};
pub use error::{StoreError, StoreResult};
pub use resources::{
    Evaluate, GroupView, Keys, Lookup, MemberView, ResourceStore, Row, Stored, Update, UpdateFn, fold,
};
pub use sql::{SqlStore, connect, connect_with};
pub use tenants::{CustomSchemaRow, MemberPolicy, TenantAuth, TenantRow, TenantStore, TenantSummary};

/// All four traits: what the gateway holds.
#[async_trait]
pub trait Store: TenantStore + ResourceStore + delivery::DeliveryStore + report::ReportStore + jobs::JobStore {
    fn backend(&self) -> &'static str;
    async fn close(&self);
}

pub type DynStore = Arc<dyn Store>;
