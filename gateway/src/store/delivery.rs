//! What the plugin host, the dispatcher and the outbox keep in the database: plugins, targets (with their
//! credentials, cursor, kv state and remote ids) and the outbox of operations awaiting delivery.

use super::StoreResult;
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::Notify;

/// One uploaded plugin version (the newest per name is the active one).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginRow {
    pub name: String,
    pub sha256: String,
    pub size: i64,
    pub world: String,
    pub created_at: String,
    /// How many versions of this name were uploaded.
    pub versions: i64,
}

/// A target to create. Credentials are already sealed.
#[derive(Debug, Clone)]
pub struct NewTarget {
    pub name: String,
    pub plugin: String,
    pub config: String,
    pub allowed_hosts: Vec<String>,
    pub allow_http: bool,
    pub allow_private: bool,
    pub credentials: Vec<(String, String)>,
}

/// A target as stored, with its queue figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetRow {
    #[serde(skip)]
    pub pk: i64,
    #[serde(skip)]
    pub tenant_pk: i64,
    pub tenant: String,
    pub name: String,
    pub plugin: String,
    #[serde(skip)]
    pub config: String,
    pub allowed_hosts: Vec<String>,
    pub allow_http: bool,
    pub allow_private: bool,
    pub paused: bool,
    /// Last change-log seq translated.
    pub cursor_seq: i64,
    /// The tenant's newest change-log seq.
    pub last_seq: i64,
    pub parked_seq: Option<i64>,
    pub parked_reason: Option<String>,
    pub parked_at: Option<String>,
    #[serde(skip)]
    pub resync: Option<String>,
    pub resync_running: bool,
    pub credential_names: Vec<String>,
    pub pending: i64,
    pub dead: i64,
    pub created_at: String,
}

impl TargetRow {
    /// The target as `target status` and the admin API show it: the row plus its computed `state`.
    pub fn status_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("state".into(), self.state().into());
        }
        v
    }

    pub fn state(&self) -> &'static str {
        if self.paused {
            "paused"
        } else if self.parked_seq.is_some() {
            "parked"
        } else if self.resync.is_some() {
            "resyncing"
        } else {
            "active"
        }
    }
}

/// An admin action on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetAction {
    Pause,
    Resume,
    /// Clears a parked state: the dispatcher translates the parked change again.
    Retry,
    /// Starts a resync (replay of the tenant's current state); `now_ms` identifies it.
    Resync {
        now_ms: i64,
    },
    Delete,
}

/// An operation to store for delivery.
#[derive(Debug, Clone)]
pub struct NewOp {
    pub op_id: String,
    pub okey: String,
    pub seq: i64,
    /// The operation as JSON (see `plugins::convert`).
    pub op: String,
}

/// What one dispatch step commits, atomically: operations, the plugin's kv writes, the cursor advance,
/// the resync progress and, on a translate failure, the parked state.
#[derive(Debug, Clone, Default)]
pub struct Translated {
    pub target_pk: i64,
    pub owner: String,
    pub old_cursor: i64,
    pub new_cursor: i64,
    /// `Some(None)` ends a resync, `Some(Some(json))` records its progress, `None` leaves it.
    pub resync: Option<Option<String>>,
    pub ops: Vec<NewOp>,
    pub kv: Vec<(String, Option<String>)>,
    /// Park at (seq, reason).
    pub park: Option<(i64, String)>,
}

/// An operation claimed for delivery by one worker.
#[derive(Debug, Clone)]
pub struct ClaimedOp {
    pub pk: i64,
    pub target_pk: i64,
    pub op_id: String,
    pub okey: String,
    pub seq: i64,
    pub op: String,
    pub attempts: i64,
    pub created_ms: i64,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone)]
pub enum Finish {
    /// Delivered: the row is deleted; remote ids (kind, local, remote) and kv writes are recorded.
    Done {
        remote_ids: Vec<(String, String, String)>,
        kv: Vec<(String, Option<String>)>,
    },
    Retry {
        next_at: i64,
        error: String,
        /// Whether this counts as an attempt (false: held back without calling the plugin).
        counted: bool,
    },
    Dead {
        error: String,
    },
}

/// An outbox row for `outbox list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxRow {
    pub op_id: String,
    pub tenant: String,
    pub target: String,
    pub key: String,
    pub seq: i64,
    pub state: String,
    pub attempts: i64,
    pub next_at_ms: i64,
    pub last_error: Option<String>,
    pub op: serde_json::Value,
}

/// Queue figures of one target (for metrics).
#[derive(Debug, Clone)]
pub struct QueueStats {
    pub tenant: String,
    pub target: String,
    pub pending: i64,
    pub dead: i64,
}

/// Filter for outbox listing and replay.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub tenant: String,
    pub target: Option<String>,
    pub op_id: Option<String>,
    pub dead_only: bool,
    pub limit: i64,
}

/// A plugin version's sha256 and component bytes.
pub type PluginBytes = (String, Vec<u8>);

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Records `fingerprint` as the credential key's when none is recorded yet; returns the recorded one.
    async fn claim_key_fingerprint(&self, fingerprint: &str) -> StoreResult<String>;
    /// The recorded credential key fingerprint and how many sealed credentials the database holds.
    async fn key_state(&self) -> StoreResult<(Option<String>, i64)>;
    /// Stores a plugin version; false when this exact version was already there.
    async fn put_plugin(&self, name: &str, sha256: &str, world: &str, wasm: &[u8]) -> StoreResult<bool>;
    async fn list_plugins(&self) -> StoreResult<Vec<PluginRow>>;
    /// (name, sha256) of the active version of every plugin.
    async fn plugin_heads(&self) -> StoreResult<Vec<(String, String)>>;
    /// The active version's sha256 and bytes.
    async fn plugin_wasm(&self, name: &str) -> StoreResult<Option<PluginBytes>>;

    /// Creates a target (404 for an unknown tenant, 409 when the name is taken).
    async fn create_target(&self, tenant: &str, t: NewTarget) -> StoreResult<TargetRow>;
    /// All targets, or one tenant's.
    async fn list_targets(&self, tenant: Option<&str>) -> StoreResult<Vec<TargetRow>>;
    async fn target_by_pk(&self, pk: i64) -> StoreResult<Option<TargetRow>>;
    /// Applies an admin action; false when the target does not exist.
    async fn target_action(&self, target_pk: i64, action: TargetAction) -> StoreResult<bool>;
    /// Replaces the target's configuration (JSON text); false when the target does not exist.
    async fn set_target_config(&self, target_pk: i64, config: &str) -> StoreResult<bool>;
    /// The target's sealed credentials.
    async fn target_credentials(&self, target_pk: i64) -> StoreResult<Vec<(String, String)>>;

    /// Takes (or renews) the right to translate this target until `until_ms`; false when another
    /// instance holds it.
    async fn claim_target(&self, target_pk: i64, owner: &str, now_ms: i64, until_ms: i64) -> StoreResult<bool>;
    /// Commits one dispatch step; false (and nothing written) when the cursor moved meanwhile or the
    /// lease was lost.
    async fn commit_translation(&self, t: Translated) -> StoreResult<bool>;
    async fn kv_get(&self, target_pk: i64, key: &str) -> StoreResult<Option<String>>;
    /// A target's stored kv: (keys, bytes of keys and values), and the stored size of each of `keys`
    /// that exists (for a quota check of writes about to be committed).
    async fn kv_usage(
        &self,
        target_pk: i64,
        keys: &[String],
    ) -> StoreResult<(i64, i64, std::collections::HashMap<String, i64>)>;
    /// Keys starting with `prefix`, from `start` on (inclusive; `start` ≥ `prefix`), sorted, at most `limit`.
    async fn kv_keys(&self, target_pk: i64, prefix: &str, start: &str, limit: i64) -> StoreResult<Vec<String>>;
    async fn remote_id(&self, target_pk: i64, kind: &str, local: &str) -> StoreResult<Option<String>>;

    /// Leases up to `limit` deliverable operations: pending, due, not leased, not behind an earlier
    /// pending operation of the same (target, key), target not paused. `shared_writer`: SCIM writes are
    /// arriving, so avoid holding the (SQLite) writer during the search.
    async fn claim_ops(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
        shared_writer: bool,
    ) -> StoreResult<Vec<ClaimedOp>>;
    /// Records delivery outcomes (only for rows this owner still leases); returns how many applied.
    async fn finish_ops(&self, owner: &str, done: Vec<(i64, i64, Finish)>) -> StoreResult<u64>;
    /// The earliest `next_at` among pending operations (an index lookup; leased or blocked ones included),
    /// to sleep until.
    async fn next_due(&self) -> StoreResult<Option<i64>>;
    async fn list_outbox(&self, f: OutboxFilter) -> StoreResult<Vec<OutboxRow>>;
    /// Puts dead operations back to pending, due now; returns how many.
    async fn replay_dead(&self, f: OutboxFilter, now_ms: i64) -> StoreResult<u64>;
    /// Deletes dead operations matching `f` (never delivered): the later operations of their keys go on.
    async fn skip_dead(&self, f: OutboxFilter) -> StoreResult<u64>;
    /// Keys of a target held back by a dead operation: their number and the first `limit` as
    /// (key, dead op id, last error).
    async fn blocked_keys(
        &self,
        target_pk: i64,
        limit: i64,
    ) -> StoreResult<(i64, Vec<(String, String, Option<String>)>)>;
    async fn queue_stats(&self) -> StoreResult<Vec<QueueStats>>;
    /// Keeps the queue's planner statistics fresh (PostgreSQL: `ANALYZE outbox`; the table swings from
    /// empty to large in seconds, and stale statistics made claims 10× slower).
    async fn maintain_queue(&self) -> StoreResult<()>;
    /// Drops every lease (a single-instance restart: nothing else can hold one).
    async fn release_leases(&self) -> StoreResult<()>;

    /// Signalled after every committed SCIM write (in process) and, on PostgreSQL, on NOTIFY from other
    /// instances.
    fn changes_signal(&self) -> Arc<Notify>;
    /// Signalled when operations were queued or finished.
    fn outbox_signal(&self) -> Arc<Notify>;
}
