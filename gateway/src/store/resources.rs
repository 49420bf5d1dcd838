//! SCIM resources of a tenant as the store holds them ([`Stored`], [`Row`], the indexed [`Keys`]) and
//! the trait that reads and writes them with their change log ([`ResourceStore`]).

use super::changelog::ChangeEvent;
use super::error::StoreResult;
use super::tenants::MemberPolicy;
use crate::scim::Kind;
use crate::scim::error::ScimError;
use crate::scim::patch::MemberChange;
use async_trait::async_trait;
use serde_json::Value;

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

/// Computes the new state from the current one. It must depend on the current *document* only (not
/// its version or memberships): the store computes it once outside the write transaction against a
/// snapshot and reuses that result when the document is still the same when written (see
/// [`precomputed`]).
pub type UpdateFn = Box<dyn Fn(&Stored) -> Result<Update, ScimError> + Send + Sync>;

/// Where the store runs an update closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluate {
    /// First against a snapshot, outside the write transaction (see [`precomputed`]): its work depends on
    /// the stored resource (a user PATCH, any PUT).
    Outside,
    /// Inside the write transaction only: its work is bounded by the request alone (a PATCH of a group's
    /// members: a group's document holds no member list), and the writer's batched paths apply it best.
    Inside,
}

/// Runs an update closure; a panic in it is a bug that fails this update alone (500), never the
/// write batch it is part of.
pub(crate) fn run_update(f: &UpdateFn, old: &Stored) -> Result<Update, super::StoreError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(old))) {
        Ok(r) => r.map_err(super::StoreError::Rejected),
        Err(_) => {
            tracing::error!(kind = "update", "an update computation panicked");
            Err(super::StoreError::Rejected(ScimError::internal("internal error while computing the update")))
        }
    }
}

/// Computes `f` against `snapshot` now, outside the write transaction, and returns the closure the
/// writer runs instead: the precomputed result when the row is still at the snapshot's version or holds
/// the same document (a group whose members changed meanwhile), else `f` again. So a costly PATCH costs
/// its own request, not the writer every tenant shares. A client error surfaces here, before any write.
pub(crate) fn precomputed(f: UpdateFn, snapshot: &Stored) -> Result<UpdateFn, super::StoreError> {
    let update = run_update(&f, snapshot)?;
    let (version, doc) = (snapshot.version, snapshot.doc.clone());
    let ready = std::sync::Mutex::new(Some(update));
    Ok(Box::new(move |current: &Stored| {
        if (current.version == version || current.doc == doc)
            && let Some(u) = ready.lock().ok().and_then(|mut r| r.take())
        {
            return Ok(u);
        }
        f(current)
    }))
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
    /// Up to `limit` resources created after the one with `after_pk`, in creation order (keyset paging:
    /// deletes meanwhile cannot make it skip any).
    async fn page_after(&self, tenant: i64, kind: Kind, after_pk: i64, limit: i64) -> StoreResult<Vec<Row>>;
    /// Creates a resource; for groups, `members` are added in order. Fails with 409 on a userName clash.
    async fn create(
        &self,
        tenant: i64,
        kind: Kind,
        doc: Value,
        members: Vec<MemberChange>,
        policy: MemberPolicy,
    ) -> StoreResult<Stored>;
    /// Read-modify-write in one transaction. `if_match` is a version the row must have; `evaluate` says
    /// whether `f` is computed outside the write transaction first.
    async fn update(
        &self,
        tenant: i64,
        kind: Kind,
        id: &str,
        if_match: Option<i64>,
        f: UpdateFn,
        evaluate: Evaluate,
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
