//! What the scheduler and the notification log keep in the database: a target's scheduled jobs (as its
//! plugin declares them, with the run in progress and the last result) and its notifications.

use super::StoreResult;
use super::delivery::NewOp;
use async_trait::async_trait;

/// A declared job: what `schedule.jobs` returned, with the first time it falls due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDecl {
    pub name: String,
    pub cron: String,
    pub exclusive: bool,
    pub lock_message: Option<String>,
    /// When it is next due if it is new, or if its cron changed.
    pub next_ms: i64,
}

/// A job as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRow {
    #[serde(skip)]
    pub target_pk: i64,
    pub name: String,
    pub cron: String,
    pub exclusive: bool,
    /// When it is next due (host clock, Unix ms).
    pub next_ms: i64,
    /// The scheduled time of the run in progress.
    pub run_ms: Option<i64>,
    #[serde(skip)]
    pub run_cursor: Option<String>,
    /// The try of the run in progress (1 = first).
    pub run_attempt: i64,
    /// The scheduled time of the last finished run, when it finished, and how.
    pub last_ms: Option<i64>,
    pub last_finished_ms: Option<i64>,
    /// `ok`, or `failed: <reason>`.
    pub last_result: Option<String>,
    pub last_summary: Option<String>,
    /// Finished runs.
    pub runs: i64,
}

/// How one call of a run ended.
#[derive(Debug, Clone)]
pub enum RunNext {
    /// Call again with this cursor.
    Continue { cursor: String },
    /// The run is over (`result` is `ok` or `failed: …`); the job is next due at `next_ms`.
    Finished { result: String, summary: Option<String>, next_ms: i64 },
    /// This call failed; try the run again (same scheduled time and cursor) as attempt `attempt`.
    Retry { attempt: i64 },
}

/// What one call of a job run commits, atomically: operations for the outbox, the plugin's kv writes,
/// its notifications and the job's progress. Nothing is written when `owner` no longer holds the
/// target's lease or the run was not the one in progress (`run_ms`).
#[derive(Debug, Clone)]
pub struct RunStep {
    pub target_pk: i64,
    pub owner: String,
    pub name: String,
    pub run_ms: i64,
    pub ops: Vec<NewOp>,
    pub kv: Vec<(String, Option<String>)>,
    pub notices: Vec<NewNotice>,
    pub next: RunNext,
}

/// A notification to record.
#[derive(Debug, Clone)]
pub struct NewNotice {
    pub kind: String,
    pub subject: String,
    pub text: String,
    pub recipient: Option<String>,
    /// What became of it (`recorded`, `pending` when it is about to be e-mailed).
    pub delivery: String,
}

/// A recorded notification.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoticeRow {
    pub id: i64,
    pub created_ms: i64,
    pub kind: String,
    pub subject: String,
    pub text: String,
    pub recipient: Option<String>,
    /// `recorded` (no SMTP relay), `pending`, `sent`, or `failed: <reason>`.
    pub delivery: String,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Makes the stored jobs of a target what its plugin declares: new ones added (due at their
    /// `next_ms`), changed ones updated (rescheduled when the cron changed), others removed.
    async fn sync_jobs(&self, target_pk: i64, jobs: &[JobDecl]) -> StoreResult<()>;
    async fn list_jobs(&self, target_pk: i64) -> StoreResult<Vec<JobRow>>;
    /// Starts a run of a job due at `run_ms` (attempt 1, no cursor) if `owner` holds the target's lease
    /// and no run is in progress; false otherwise.
    async fn start_run(&self, target_pk: i64, name: &str, owner: &str, run_ms: i64, now_ms: i64) -> StoreResult<bool>;
    /// Commits one call of a run (see [`RunStep`]); false when nothing was written. Returns the ids of
    /// the notifications it recorded.
    async fn commit_run_step(&self, step: RunStep, now_ms: i64) -> StoreResult<Option<Vec<i64>>>;
    /// Makes a job due at `at_ms` (run now); false when the job does not exist.
    async fn set_job_due(&self, target_pk: i64, name: &str, at_ms: i64) -> StoreResult<bool>;
    /// Whether a run of an exclusive job is in progress: its name and lock message.
    async fn exclusive_running(&self, target_pk: i64) -> StoreResult<Option<(String, Option<String>)>>;

    /// Records notifications and kv writes of a call that is not a job run (deliver, admin); returns
    /// the notifications' ids.
    async fn commit_effects(
        &self,
        target_pk: i64,
        kv: &[(String, Option<String>)],
        notices: &[NewNotice],
        now_ms: i64,
    ) -> StoreResult<Vec<i64>>;
    /// The newest notifications of a target, newest first.
    async fn list_notices(&self, target_pk: i64, limit: i64) -> StoreResult<Vec<NoticeRow>>;
    async fn set_notice_delivery(&self, id: i64, delivery: &str) -> StoreResult<()>;
}
