//! Group commit for SQLite. SQLite has one writer at a time, and what bounds a write there is not the
//! disk but the hand-off of every statement to sqlx's connection thread (bench/RESULTS.md). So all writes
//! go through one task that takes whatever jobs are queued (up to [`MAX_BATCH`]), runs them one after
//! the other inside a single transaction, appends their change events with one statement per tenant,
//! commits once, and only then answers each caller.
//!
//! Contract for jobs: a job that fails for the client's reasons (404, 409, 412, 400) fails before it
//! writes anything, so the others in the batch are unaffected. Any other failure (database error, panic)
//! rolls the whole batch back and every caller of that batch gets a retryable error.

use super::sql::{SeqMap, lite_finish};
use super::{BoxFut, StoreError, StoreResult, Stored};
use futures_util::FutureExt;
use sqlx::{SqliteConnection, SqlitePool};
use std::panic::AssertUnwindSafe;
use tokio::sync::{mpsc, oneshot};

/// At most this many jobs share one transaction.
pub const MAX_BATCH: usize = 128;

/// What a job hands back.
pub enum JobOut {
    Stored(Stored),
    Done,
}

pub type JobFn =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection, &'c mut SeqMap) -> BoxFut<'c, StoreResult<JobOut>> + Send>;

struct Job {
    run: JobFn,
    reply: oneshot::Sender<StoreResult<JobOut>>,
}

/// Handle to the writer task.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Spawns the writer on the current tokio runtime. It stops when every handle is dropped.
    pub fn spawn(pool: SqlitePool) -> Writer {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, rx));
        Writer { tx }
    }

    /// Queues a job and waits until its batch is committed (or rolled back).
    pub async fn submit(&self, run: JobFn) -> StoreResult<JobOut> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { run, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the database writer stopped before answering".into()))?
    }
}

async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch = std::mem::replace(&mut jobs, Vec::with_capacity(MAX_BATCH));
        metrics::histogram!("store_write_batch_jobs").record(batch.len() as f64);
        run_batch(&pool, batch).await;
    }
}

fn unavailable(why: &str) -> StoreError {
    StoreError::Unavailable(format!("the write was rolled back ({why}); retry"))
}

async fn run_batch(pool: &SqlitePool, batch: Vec<Job>) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a write transaction");
            for job in batch {
                let _ = job.reply.send(Err(unavailable("no database connection")));
            }
            return;
        }
    };
    let mut seqs = SeqMap::default();
    let mut done: Vec<(oneshot::Sender<StoreResult<JobOut>>, StoreResult<JobOut>)> = Vec::with_capacity(batch.len());
    let mut fatal: Option<String> = None;
    for job in batch {
        if fatal.is_some() {
            done.push((job.reply, Err(unavailable("an earlier write in the same batch failed"))));
            continue;
        }
        let outcome = AssertUnwindSafe((job.run)(&mut tx, &mut seqs)).catch_unwind().await;
        match outcome {
            Ok(Ok(out)) => done.push((job.reply, Ok(out))),
            Ok(Err(StoreError::Scim(e))) => done.push((job.reply, Err(StoreError::Scim(e)))),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "write failed; rolling the batch back");
                fatal = Some("database error".into());
                done.push((job.reply, Err(e)));
            }
            Err(_) => {
                tracing::error!("a write job panicked; rolling the batch back");
                fatal = Some("internal error".into());
                done.push((job.reply, Err(StoreError::Corrupt("internal error while writing".into()))));
            }
        }
    }
    if fatal.is_none() {
        let finished = async {
            lite_finish(&mut tx, seqs).await?;
            tx.commit().await.map_err(StoreError::from)
        }
        .await;
        match finished {
            Ok(()) => {
                for (reply, res) in done {
                    let _ = reply.send(res);
                }
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed");
                for (reply, res) in done {
                    let _ = reply.send(res.and(Err(unavailable("commit failed"))));
                }
                return;
            }
        }
    }
    let _ = tx.rollback().await;
    let why = fatal.unwrap_or_default();
    for (reply, res) in done {
        let _ = reply.send(res.and_then(|_| Err(unavailable(&why))));
    }
}
