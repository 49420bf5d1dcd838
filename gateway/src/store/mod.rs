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
pub mod report;
mod sql;
mod sqlite;

use crate::scim::error::ScimError;
use crate::scim::patch::MemberChange;
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

pub use crate::clock::now_rfc3339;
pub use crate::scim::Kind;
pub use changelog::{ChangeEvent, EventKind};
pub use sql::{SqlStore, connect, connect_with};

/// Errors from the store. Client-caused ones carry a SCIM error; the rest are internal.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A transient condition (a rolled-back group commit, a stopped writer): the client should retry.
    #[error("{0}")]
    Unavailable(String),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct TenantRow {
    pub pk: i64,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantSummary {
    pub tenant: String,
    pub created_at: String,
    pub active_tokens: i64,
    pub unknown_members: String,
    pub users: i64,
    pub groups: i64,
    pub last_seq: i64,
}

/// What authenticating a request needs: the tenant's key and the digests of its valid tokens.
#[derive(Debug, Clone)]
pub struct TenantAuth {
    pub pk: i64,
    pub token_hashes: Vec<Vec<u8>>,
    pub policy: MemberPolicy,
}

/// What adding a member id that is neither a user nor a group of the tenant does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberPolicy {
    /// 400 invalidValue: nothing is recorded that the store cannot honour (the default; right for Entra,
    /// which provisions users before memberships).
    #[default]
    Reject,
    /// Skip unknown ids, apply the rest, count them in `scim_unknown_members_skipped_total`.
    Ignore,
}

impl MemberPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberPolicy::Reject => "reject",
            MemberPolicy::Ignore => "ignore",
        }
    }
    pub fn parse(s: &str) -> MemberPolicy {
        if s.eq_ignore_ascii_case("ignore") { MemberPolicy::Ignore } else { MemberPolicy::Reject }
    }
}

#[derive(Debug, Clone)]
pub struct CustomSchemaRow {
    pub schema_id: String,
    pub resource_type: String,
    pub required: bool,
    pub doc: String,
}

/// A stored resource: its document (without `id`, `meta`, `members`, `groups`) plus bookkeeping.
#[derive(Debug, Clone)]
pub struct Stored {
    pub pk: i64,
    pub id: String,
    pub version: i64,
    pub created: String,
    pub last_modified: String,
    pub doc: Value,
    /// A user's groups when they were read with the resource (JSON `[id, displayName]` pairs).
    pub groups: Option<String>,
}

/// A resource as read for serving: the stored document as JSON text (parsed only when a request needs
/// it: a filter to evaluate, attributes to project) and, for users, their groups.
#[derive(Debug, Clone)]
pub struct Row {
    pub pk: i64,
    pub id: String,
    pub version: i64,
    pub created: String,
    pub last_modified: String,
    pub text: String,
    /// A user's groups in order of addition, as a JSON array of `[id, displayName]` pairs.
    pub groups: Option<String>,
}

impl Row {
    pub fn parse(&self) -> StoreResult<Stored> {
        Ok(Stored {
            pk: self.pk,
            id: self.id.clone(),
            version: self.version,
            created: self.created.clone(),
            last_modified: self.last_modified.clone(),
            doc: serde_json::from_str(&self.text)?,
            groups: self.groups.clone(),
        })
    }

    /// The groups column decoded.
    pub fn group_views(&self) -> StoreResult<Vec<GroupView>> {
        let Some(text) = &self.groups else { return Ok(Vec::new()) };
        let pairs: Vec<(String, Option<String>)> = serde_json::from_str(text)?;
        Ok(pairs
            .into_iter()
            .map(|(value, display)| GroupView { value, display: display.unwrap_or_default() })
            .collect())
    }
}

/// An indexed lookup (the filters Entra sends are answered through these, never by a scan).
#[derive(Debug, Clone)]
pub enum Lookup {
    Id(String),
    /// Lower-cased userName.
    UserName(String),
    ExternalId(String),
    /// Lower-cased displayName.
    DisplayName(String),
}

/// A member as rendered in a group's `members`.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    pub value: String,
    pub kind: Kind,
}

/// A group as rendered in a user's `groups`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub value: String,
    pub display: String,
}

/// What an update closure returns: the new document and the membership changes to apply (groups).
pub struct Update {
    pub doc: Value,
    pub members: Vec<MemberChange>,
    pub policy: MemberPolicy,
}

/// Computes the new state from the current one, inside the write transaction.
pub type UpdateFn = Box<dyn Fn(&Stored) -> Result<Update, ScimError> + Send + Sync>;

/// The tenant registry and credentials.
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn create_tenant(&self, name: &str, token_hash: &[u8], policy: MemberPolicy) -> StoreResult<TenantRow>;
    async fn list_tenants(&self) -> StoreResult<Vec<TenantSummary>>;
    async fn tenant_auth(&self, name: &str) -> StoreResult<Option<TenantAuth>>;
    /// Whether a valid (unrevoked) token with this digest exists for any tenant.
    async fn token_exists(&self, token_hash: &[u8]) -> StoreResult<bool>;
    /// Adds a token; returns false when the tenant does not exist.
    async fn add_token(&self, name: &str, token_hash: &[u8]) -> StoreResult<bool>;
    /// Revokes every token but the newest; returns how many were revoked, None if no such tenant.
    async fn revoke_old_tokens(&self, name: &str) -> StoreResult<Option<u64>>;
    async fn delete_tenant(&self, name: &str) -> StoreResult<bool>;
    async fn put_custom_schema(&self, tenant: &str, row: CustomSchemaRow) -> StoreResult<bool>;
    async fn delete_custom_schema(&self, tenant: &str, schema_id: &str) -> StoreResult<bool>;
    async fn custom_schemas(&self, tenant_pk: i64) -> StoreResult<Vec<CustomSchemaRow>>;
}

/// SCIM resources of one tenant, and the change log their writes append to.
#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// One resource; users come with their groups.
    async fn get(&self, tenant: i64, kind: Kind, id: &str) -> StoreResult<Option<Row>>;
    /// Resources by an indexed key; users come with their groups.
    async fn lookup(&self, tenant: i64, kind: Kind, key: &Lookup) -> StoreResult<Vec<Row>>;
    /// A page in creation order and the total count.
    async fn page(&self, tenant: i64, kind: Kind, offset: i64, limit: i64) -> StoreResult<(i64, Vec<Row>)>;
    /// Creates a resource; for groups, `members` are added in order. Fails with 409 on a userName clash.
    async fn create(
        &self,
        tenant: i64,
        kind: Kind,
        doc: Value,
        members: Vec<MemberChange>,
        policy: MemberPolicy,
    ) -> StoreResult<Stored>;
    /// Read-modify-write in one transaction. `if_match` is a version the row must have.
    async fn update(
        &self,
        tenant: i64,
        kind: Kind,
        id: &str,
        if_match: Option<i64>,
        f: UpdateFn,
    ) -> StoreResult<Stored>;
    async fn delete(&self, tenant: i64, kind: Kind, id: &str, if_match: Option<i64>) -> StoreResult<()>;
    /// Members of the given groups (by pk), in the order they were added.
    async fn members_of(&self, group_pks: &[i64]) -> StoreResult<Vec<(i64, MemberView)>>;
    /// Groups the given users (by pk) are direct members of, in the order they were added.
    async fn groups_of(&self, user_pks: &[i64]) -> StoreResult<Vec<(i64, GroupView)>>;
    /// Whether `member_id` (a user or group id of the tenant) is a direct member of group `group_pk`.
    async fn has_member(&self, tenant: i64, group_pk: i64, member_id: &str) -> StoreResult<bool>;
    /// Change events after `after_seq`, in order.
    async fn changes(&self, tenant: i64, after_seq: i64, limit: i64) -> StoreResult<Vec<ChangeEvent>>;
}

/// All four traits: what the gateway holds.
#[async_trait]
pub trait Store: TenantStore + ResourceStore + delivery::DeliveryStore + report::ReportStore {
    fn backend(&self) -> &'static str;
    async fn close(&self);
}

pub type DynStore = Arc<dyn Store>;

/// The indexed columns extracted from a document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keys {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    /// Users: `[title, department, emails]` as JSON, the Entra fields the reporting join shows, kept in
    /// their own column so reading every identity parses a few bytes per user instead of the document.
    pub identity: Option<String>,
}

impl Keys {
    pub fn of(kind: Kind, doc: &Value) -> Keys {
        let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
        Keys {
            user_name: if kind == Kind::User { s("userName").unwrap_or_default() } else { String::new() },
            external_id: s("externalId"),
            display_name: s("displayName"),
            // RFC 7643: an absent `active` means active unless said otherwise; Entra always sends it.
            active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
            identity: (kind == Kind::User).then(|| {
                let department = doc.get(crate::scim::schema::ENTERPRISE_USER_SCHEMA).and_then(|e| e.get("department"));
                serde_json::json!([doc.get("title"), department, doc.get("emails")]).to_string()
            }),
        }
    }
}

/// Case folding used for the case-insensitive unique/lookup columns (same on both backends).
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}
