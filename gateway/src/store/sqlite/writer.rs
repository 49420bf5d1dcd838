//! Group commit for SQLite. SQLite has one writer at a time, and what bounds a write there is not the
//! disk but the hand-off of every statement to sqlx's connection thread (bench/RESULTS.md). So all writes
//! go through one task that takes whatever jobs are queued (up to [`MAX_BATCH`]), runs them one after
//! the other inside a single transaction, appends their change events with one statement per tenant,
//! commits once, and only then answers each caller.
//!
//! Contract for jobs: a job that fails for the client's reasons (404, 409, 412, 400) fails before it
//! writes anything, so the others in the batch are unaffected. Every unit of a batch (a generic job, or
//! a run of creates / user updates / group updates applied together) but the first runs after a
//! `SAVEPOINT`: when it fails otherwise (a database error, a panic) it is rolled back to that savepoint
//! (the first unit: the transaction is rolled back and begun again), its change events are forgotten,
//! its callers get the error, and the rest of the batch commits. Only when the rollback
//! to the savepoint itself fails (the database gave up the whole transaction) does every caller of the
//! batch get a retryable error.

use super::batch::{self, NewResource, SeqMap, SeqMark, UserUpdate};
use crate::store::{StoreError, StoreResult, Stored};
use futures_util::FutureExt;
use sqlx::{SqliteConnection, SqlitePool};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use tokio::sync::{mpsc, oneshot};

/// A boxed future a job returns, borrowing the connection for `'a`.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// At most this many jobs share one transaction.
pub const MAX_BATCH: usize = 128;

/// What a job hands back.
pub enum JobOut {
    Stored(Stored),
    Done,
    /// Anything else a generic job computes (downcast by its caller).
    Any(Box<dyn std::any::Any + Send>),
}

pub type JobFn =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection, &'c mut SeqMap) -> BoxFut<'c, StoreResult<JobOut>> + Send>;

enum Work {
    Run(JobFn),
    Create(NewResource),
    UpdateUser(i64, UserUpdate),
    /// A group update (the same shape); runs of them are applied together when they only add users.
    UpdateGroup(i64, UserUpdate),
}

struct Job {
    work: Work,
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
        self.send(Work::Run(run)).await
    }

    /// Queues a job that computes any value and waits for it: the value travels back as [`JobOut::Any`].
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFut<'c, StoreResult<T>> + Send + 'static,
    ) -> StoreResult<T> {
        let out = self
            .submit(Box::new(move |c, _seqs| {
                Box::pin(async move {
                    let v: T = job(c).await?;
                    Ok(JobOut::Any(Box::new(v)))
                })
            }))
            .await?;
        match out {
            JobOut::Any(v) => v
                .downcast::<T>()
                .map(|b| *b)
                .map_err(|_| StoreError::Corrupt("write job returned an unexpected value".into())),
            _ => Err(StoreError::Corrupt("write job returned no value".into())),
        }
    }

    /// Queues a create (the writer inserts runs of them with one statement).
    pub async fn create(&self, new: NewResource) -> StoreResult<JobOut> {
        self.send(Work::Create(new)).await
    }

    /// Queues a user update (the writer applies runs of them with one read and one write).
    pub async fn update_user(&self, tenant: i64, update: UserUpdate) -> StoreResult<JobOut> {
        self.send(Work::UpdateUser(tenant, update)).await
    }

    /// Queues a group update (runs of PATCHes that only add users share their statements).
    pub async fn update_group(&self, tenant: i64, update: UserUpdate) -> StoreResult<JobOut> {
        self.send(Work::UpdateGroup(tenant, update)).await
    }

    async fn send(&self, work: Work) -> StoreResult<JobOut> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { work, reply })
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

type Done = Vec<(oneshot::Sender<StoreResult<JobOut>>, StoreResult<JobOut>)>;

/// What a failed unit answers its callers: a panic is a bug (500), a database error is retryable (503).
fn unit_error(outcome: Result<StoreError, Box<dyn std::any::Any + Send>>) -> StoreError {
    match outcome {
        Ok(e) => {
            tracing::error!(error = %e, "a write failed; rolled back to its savepoint");
            unavailable("database error")
        }
        Err(_) => {
            tracing::error!("a write job panicked; rolled back to its savepoint");
            StoreError::Corrupt("internal error while writing".into())
        }
    }
}

/// Rolls a failed unit back and forgets its events; false when the database cannot, which makes the
/// whole batch fatal. The first unit of a transaction has no savepoint (nothing before it to keep, and a
/// batch of one unit, the common case under light load, then costs no extra statement): the transaction
/// is rolled back and begun again instead.
async fn undo_unit(tx: &mut SqliteConnection, seqs: &mut SeqMap, mark: SeqMark, first: bool) -> bool {
    seqs.reset(mark);
    let undo = if first { "ROLLBACK; BEGIN" } else { "ROLLBACK TO unit" };
    match sqlx::raw_sql(undo).execute(&mut *tx).await {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(error = %e, "cannot roll back the failed write; rolling the batch back");
            false
        }
    }
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
    let mut done: Done = Vec::with_capacity(batch.len());
    let mut fatal: Option<String> = None;
    let mut first_unit = true;
    let mut jobs = batch.into_iter().peekable();
    while let Some(job) = jobs.next() {
        if fatal.is_some() {
            done.push((job.reply, Err(unavailable("an earlier write in the same batch failed"))));
            continue;
        }
        // Savepoints stack; COMMIT releases them all. One statement per unit but the first.
        let first_of_tx = first_unit;
        first_unit = false;
        if !first_of_tx && let Err(e) = sqlx::raw_sql("SAVEPOINT unit").execute(&mut *tx).await {
            tracing::error!(error = %e, "cannot set a savepoint; rolling the batch back");
            fatal = Some("database error".into());
            done.push((job.reply, Err(unavailable("database error"))));
            continue;
        }
        let mark = seqs.mark();
        let outcome = match job.work {
            Work::Run(run) => {
                match AssertUnwindSafe(run(&mut tx, &mut seqs)).catch_unwind().await {
                    Ok(Ok(out)) => done.push((job.reply, Ok(out))),
                    // Client errors fail before their job writes anything.
                    Ok(Err(e)) if e.is_client_error() => done.push((job.reply, Err(e))),
                    other => {
                        let err = unit_error(other.map(|r| r.err().unwrap_or_else(|| unavailable("unknown"))));
                        if !undo_unit(&mut tx, &mut seqs, mark, first_of_tx).await {
                            fatal = Some("database error".into());
                        }
                        // A first unit rolled back leaves a fresh transaction: the next unit is first again.
                        first_unit = first_of_tx;
                        done.push((job.reply, Err(err)));
                    }
                }
                continue;
            }
            Work::Create(first) => {
                // Gather the creates queued right behind this one (same kind) into one statement.
                let kind = first.kind;
                let mut creates = vec![(first, job.reply)];
                while let Some(next) = jobs.next_if(|j| matches!(&j.work, Work::Create(n) if n.kind == kind)) {
                    if let Work::Create(n) = next.work {
                        creates.push((n, next.reply));
                    }
                }
                let (items, replies): (Vec<NewResource>, Vec<_>) = creates.into_iter().unzip();
                (AssertUnwindSafe(batch::insert_many(&mut tx, &mut seqs, kind, items)).catch_unwind().await, replies)
            }
            Work::UpdateUser(tenant, first) => {
                // Gather the updates of other users of the same tenant queued right behind this one (a
                // second update of the same user starts a new run, so it sees the first one's result).
                let mut ids = std::collections::HashSet::from([first.id.clone()]);
                let mut updates = vec![(first, job.reply)];
                while let Some(next) =
                    jobs.next_if(|j| matches!(&j.work, Work::UpdateUser(t, u) if *t == tenant && !ids.contains(&u.id)))
                {
                    if let Work::UpdateUser(_, u) = next.work {
                        ids.insert(u.id.clone());
                        updates.push((u, next.reply));
                    }
                }
                let (items, replies): (Vec<UserUpdate>, Vec<_>) = updates.into_iter().unzip();
                (AssertUnwindSafe(batch::update_users(&mut tx, &mut seqs, tenant, items)).catch_unwind().await, replies)
            }
            Work::UpdateGroup(tenant, first) => {
                // Gather the group updates of the same tenant queued right behind this one (the same group
                // may come up more than once: they are applied in order).
                let mut updates = vec![(first, job.reply)];
                while let Some(next) = jobs.next_if(|j| matches!(&j.work, Work::UpdateGroup(t, _) if *t == tenant)) {
                    if let Work::UpdateGroup(_, u) = next.work {
                        updates.push((u, next.reply));
                    }
                }
                let (items, replies): (Vec<UserUpdate>, Vec<_>) = updates.into_iter().unzip();
                (
                    AssertUnwindSafe(batch::update_groups(&mut tx, &mut seqs, tenant, items)).catch_unwind().await,
                    replies,
                )
            }
        };
        match outcome {
            (Ok(Ok(results)), replies) => {
                for (res, reply) in results.into_iter().zip(replies) {
                    done.push((reply, res.map(JobOut::Stored)));
                }
            }
            (other, replies) => {
                let failed = unit_error(other.map(|r| r.err().unwrap_or_else(|| unavailable("unknown"))));
                if !undo_unit(&mut tx, &mut seqs, mark, first_of_tx).await {
                    fatal = Some("database error".into());
                }
                first_unit = first_of_tx;
                for reply in replies {
                    let again = match &failed {
                        StoreError::Corrupt(why) => StoreError::Corrupt(why.clone()),
                        _ => unavailable("database error"),
                    };
                    done.push((reply, Err(again)));
                }
            }
        }
    }
    if fatal.is_none() {
        let finished = async {
            batch::finish(&mut tx, seqs).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn insert(x: i64, panic: bool) -> JobFn {
        Box::new(move |c, _| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (x) VALUES ($1)").bind(x).execute(&mut *c).await?;
                if panic {
                    panic!("a bug in job {x}");
                }
                Ok(JobOut::Done)
            })
        })
    }

    /// A job that panics after writing fails alone: the others of its batch commit, its row does not.
    #[tokio::test]
    async fn a_panicking_job_fails_only_itself() {
        let pool =
            sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.expect("open");
        sqlx::query("CREATE TABLE t (x INTEGER)").execute(&pool).await.expect("table");
        let writer = Writer::spawn(pool.clone());
        // The first job holds its batch for a while, so the next three queue up into one batch.
        let w = writer.clone();
        let first = tokio::spawn(async move {
            w.submit(Box::new(|c, _| {
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    sqlx::query("INSERT INTO t (x) VALUES (1)").execute(&mut *c).await?;
                    Ok(JobOut::Done)
                })
            }))
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (b, c, d) = tokio::join!(
            writer.submit(insert(2, false)),
            writer.submit(insert(3, true)),
            writer.submit(insert(4, false))
        );
        assert!(first.await.expect("join").is_ok());
        assert!(b.is_ok() && d.is_ok(), "the other jobs of the batch commit");
        assert!(matches!(c, Err(StoreError::Corrupt(_))), "the panicking job fails");
        let rows: Vec<i64> = sqlx::query_scalar("SELECT x FROM t ORDER BY x").fetch_all(&pool).await.expect("rows");
        assert_eq!(rows, vec![1, 2, 4]);

        // The first unit of a batch has no savepoint: when it panics, the transaction starts again and
        // the rest of the batch still commits.
        let w = writer.clone();
        let hold = tokio::spawn(async move {
            w.submit(Box::new(|_, _| {
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(JobOut::Done)
                })
            }))
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (e, f) = tokio::join!(writer.submit(insert(5, true)), writer.submit(insert(6, false)));
        assert!(hold.await.expect("join").is_ok());
        assert!(matches!(e, Err(StoreError::Corrupt(_))) && f.is_ok());
        let rows: Vec<i64> = sqlx::query_scalar("SELECT x FROM t ORDER BY x").fetch_all(&pool).await.expect("rows");
        assert_eq!(rows, vec![1, 2, 4, 6]);
    }
}
