//! What the reporting join needs from the store: the tenant's last loaded snapshot (replaced whole) and
//! the Entra identities the tenant's SCIM users carry.

use super::{BoxFut, StoreResult};
use crate::reporting::model::Identity;

/// A stored snapshot: when it was loaded, from where, and its encoded form.
pub struct StoredSnapshot {
    pub loaded_at: String,
    pub source: String,
    pub data: Vec<u8>,
}

/// The tenant's change-log position and its users' (externalId, identity) pairs.
pub type IdentityList = (i64, Vec<(String, Identity)>);

pub trait ReportStore: Send + Sync {
    /// Replaces the tenant's snapshot in one statement; false when the tenant does not exist.
    fn put_snapshot<'a>(&'a self, tenant: &'a str, snapshot: StoredSnapshot) -> BoxFut<'a, StoreResult<bool>>;
    fn get_snapshot<'a>(&'a self, tenant: &'a str) -> BoxFut<'a, StoreResult<Option<StoredSnapshot>>>;
    /// When the tenant's snapshot was loaded (cheap; for caches).
    fn snapshot_loaded_at<'a>(&'a self, tenant: &'a str) -> BoxFut<'a, StoreResult<Option<String>>>;
    /// (externalId, identity) of every SCIM user of the tenant that has an externalId, and the tenant's
    /// change-log position they reflect.
    fn identities<'a>(&'a self, tenant: &'a str) -> BoxFut<'a, StoreResult<IdentityList>>;
    /// The tenant's change-log position (cheap; for caches).
    fn last_seq<'a>(&'a self, tenant: &'a str) -> BoxFut<'a, StoreResult<Option<i64>>>;
}
