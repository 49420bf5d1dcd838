//! What the reporting join needs from the store: the tenant's last loaded snapshot (replaced whole) and
//! the Entra identities the tenant's SCIM users carry.

use super::StoreResult;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The Entra side of a row: the SCIM user whose objectId matched (R1).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Identity {
    pub display_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub mail: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub account_enabled: bool,
}

/// A stored snapshot: when it was loaded, from where, and its encoded form.
pub struct StoredSnapshot {
    pub loaded_at: String,
    pub source: String,
    pub data: Vec<u8>,
}

/// The tenant's change-log position and its users' (externalId, identity) pairs.
pub type IdentityList = (i64, Vec<(String, Identity)>);

#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Replaces the tenant's snapshot in one statement; false when the tenant does not exist.
    async fn put_snapshot(&self, tenant: &str, snapshot: StoredSnapshot) -> StoreResult<bool>;
    async fn get_snapshot(&self, tenant: &str) -> StoreResult<Option<StoredSnapshot>>;
    /// When the tenant's snapshot was loaded (cheap; for caches).
    async fn snapshot_loaded_at(&self, tenant: &str) -> StoreResult<Option<String>>;
    /// (externalId, identity) of every SCIM user of the tenant that has an externalId, and the tenant's
    /// change-log position they reflect.
    async fn identities(&self, tenant: &str) -> StoreResult<IdentityList>;
    /// The tenant's change-log position (cheap; for caches).
    async fn last_seq(&self, tenant: &str) -> StoreResult<Option<i64>>;
}
