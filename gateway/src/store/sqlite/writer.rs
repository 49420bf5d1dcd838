//! Group commit for SQLite. SQLite has one writer at a time, and what bounds a write there is not the
//! disk but the hand-off of every statement to sqlx's connection thread (bench/RESULTS.md). So all writes
//! go through one task that takes whatever jobs are queued (up to [`MAX_BATCH`]), runs them one after
//! the other inside a single transaction, appends their change events with one statement per tenant,
//! commits once, and only then answers each caller.
//!
//! Contract for jobs: a job that fails for the client's reasons (404, 409, 412, 400) fails before it
//! writes anything, so the others in the batch are unaffected. Any other failure (database error, panic)
//! rolls the whole batch back and every caller of that batch gets a retryable error.

use super::batch::{self, NewResource, SeqMap, UserUpdate};
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

/// Records a generic job's outcome; anything but a client error makes the batch fatal.
fn classify(
    outcome: Result<StoreResult<JobOut>, Box<dyn std::any::Any + Send>>,
    reply: oneshot::Sender<StoreResult<JobOut>>,
    done: &mut Done,
    fatal: &mut Option<String>,
) {
    match outcome {
        Ok(Ok(out)) => done.push((reply, Ok(out))),
        // Client errors fail before their job writes anything.
        Ok(Err(e)) if e.is_client_error() => done.push((reply, Err(e))),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "write failed; rolling the batch back");
            *fatal = Some("database error".into());
            done.push((reply, Err(e)));
        }
        Err(_) => {
            tracing::error!("a write job panicked; rolling the batch back");
            *fatal = Some("internal error".into());
            done.push((reply, Err(StoreError::Corrupt("internal error while writing".into()))));
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
    let mut jobs = batch.into_iter().peekable();
    while let Some(job) = jobs.next() {
        if fatal.is_some() {
            done.push((job.reply, Err(unavailable("an earlier write in the same batch failed"))));
            continue;
        }
        let outcome = match job.work {
            Work::Run(run) => {
                let outcome = AssertUnwindSafe(run(&mut tx, &mut seqs)).catch_unwind().await;
                classify(outcome, job.reply, &mut done, &mut fatal);
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
                let failed = match other {
                    Ok(Err(e)) => e,
                    _ => StoreError::Corrupt("internal error while writing".into()),
                };
                tracing::error!(error = %failed, "batched insert failed; rolling the batch back");
                fatal = Some("database error".into());
                for reply in replies {
                    done.push((reply, Err(unavailable("database error"))));
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
