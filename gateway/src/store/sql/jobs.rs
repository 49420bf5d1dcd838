//! [`JobStore`] on the SQL store: scheduled jobs and notifications. Writes go through the SQLite writer
//! or a PostgreSQL transaction, like every other write; a run's step commits its operations, kv writes,
//! notifications and progress together, and only while this instance holds the target's lease.

use super::{Pools, SqlStore};
use crate::store::StoreResult;
use crate::store::db::{Backend, Lite, Pg, RowsAffected, Sql};
use crate::store::jobs::{JobDecl, JobRow, JobStore, NewNotice, NoticeRow, RunNext, RunStep};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Row, Type, query};

/// Runs `Sql::$f` in a write transaction (the SQLite writer, or a PostgreSQL transaction). The
/// arguments are evaluated inside the transaction's future, so they may borrow values moved into it.
macro_rules! write {
    ($self:expr, $f:ident ( $($arg:expr),* )) => {
        match &$self.pools {
            Pools::Sqlite { writer, .. } => {
                writer.run(move |c| Box::pin(async move { Lite::$f(c, $($arg),*).await })).await
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let v = Pg::$f(&mut tx, $($arg),*).await?;
                tx.commit().await?;
                Ok(v)
            }
        }
    };
}

/// Runs `Sql::$f` on the read pool.
macro_rules! read {
    ($self:expr, $f:ident ( $($arg:expr),* )) => {
        match &$self.pools {
            Pools::Sqlite { read, .. } => Lite::$f(read, $($arg),*).await,
            Pools::Postgres(pool) => Pg::$f(pool, $($arg),*).await,
        }
    };
}

#[async_trait]
impl JobStore for SqlStore {
    async fn sync_jobs(&self, target_pk: i64, jobs: &[JobDecl]) -> StoreResult<()> {
        let jobs = jobs.to_vec();
        write!(self, sync_jobs(target_pk, &jobs))
    }

    async fn list_jobs(&self, target_pk: i64) -> StoreResult<Vec<JobRow>> {
        read!(self, list_jobs(target_pk))
    }

    async fn start_run(&self, target_pk: i64, name: &str, owner: &str, run_ms: i64, now_ms: i64) -> StoreResult<bool> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        write!(self, start_run(target_pk, &name, &owner, run_ms, now_ms))
    }

    async fn commit_run_step(&self, step: RunStep, now_ms: i64) -> StoreResult<Option<Vec<i64>>> {
        let queued = !step.ops.is_empty();
        let (target_pk, keys): (i64, Vec<String>) = (step.target_pk, step.kv.iter().map(|(k, _)| k.clone()).collect());
        let out = write!(self, commit_run_step(&step, now_ms));
        self.kv_cache.invalidate(target_pk, &keys);
        let out = out?;
        if out.is_some() && queued {
            self.outbox.notify_one();
        }
        Ok(out)
    }

    async fn set_job_due(&self, target_pk: i64, name: &str, at_ms: i64) -> StoreResult<bool> {
        let name = name.to_owned();
        write!(self, set_job_due(target_pk, &name, at_ms))
    }

    async fn exclusive_running(&self, target_pk: i64) -> StoreResult<Option<(String, Option<String>)>> {
        read!(self, exclusive_running(target_pk))
    }

    async fn commit_effects(
        &self,
        target_pk: i64,
        kv: &[(String, Option<String>)],
        notices: &[NewNotice],
        now_ms: i64,
    ) -> StoreResult<Vec<i64>> {
        if kv.is_empty() && notices.is_empty() {
            return Ok(Vec::new());
        }
        let (kv, notices) = (kv.to_vec(), notices.to_vec());
        let keys: Vec<String> = kv.iter().map(|(k, _)| k.clone()).collect();
        let out = write!(self, commit_effects(target_pk, &kv, &notices, now_ms));
        self.kv_cache.invalidate(target_pk, &keys);
        out
    }

    async fn list_notices(&self, target_pk: i64, limit: i64) -> StoreResult<Vec<NoticeRow>> {
        read!(self, list_notices(target_pk, limit))
    }

    async fn set_notice_delivery(&self, id: i64, delivery: &str) -> StoreResult<()> {
        let delivery = delivery.to_owned();
        write!(self, set_notice_delivery(id, &delivery))
    }
}

const JOB_COLUMNS: &str = "target_pk, name, cron, exclusive, next_ms, run_ms, run_cursor, run_attempt, last_ms, \
     last_finished_ms, last_result, last_summary, runs";

impl<DB> Sql<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
{
    fn job_row(r: &DB::Row) -> StoreResult<JobRow> {
        Ok(JobRow {
            target_pk: r.try_get(0usize)?,
            name: r.try_get(1usize)?,
            cron: r.try_get(2usize)?,
            exclusive: r.try_get::<i64, _>(3usize)? != 0,
            next_ms: r.try_get(4usize)?,
            run_ms: r.try_get(5usize)?,
            run_cursor: r.try_get(6usize)?,
            run_attempt: r.try_get(7usize)?,
            last_ms: r.try_get(8usize)?,
            last_finished_ms: r.try_get(9usize)?,
            last_result: r.try_get(10usize)?,
            last_summary: r.try_get(11usize)?,
            runs: r.try_get(12usize)?,
        })
    }

    async fn sync_jobs(c: &mut DB::Connection, target_pk: i64, jobs: &[JobDecl]) -> StoreResult<()> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM target_jobs WHERE target_pk = $1");
        let rows = query(sqlx::AssertSqlSafe(sql)).bind(target_pk).fetch_all(&mut *c).await?;
        let stored: Vec<JobRow> = rows.iter().map(Self::job_row).collect::<StoreResult<_>>()?;
        for old in &stored {
            if !jobs.iter().any(|j| j.name == old.name) {
                query("DELETE FROM target_jobs WHERE target_pk = $1 AND name = $2")
                    .bind(target_pk)
                    .bind(&old.name)
                    .execute(&mut *c)
                    .await?;
            }
        }
        for job in jobs {
            match stored.iter().find(|s| s.name == job.name) {
                None => {
                    query(
                        "INSERT INTO target_jobs (target_pk, name, cron, exclusive, next_ms, lock_message) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(target_pk)
                    .bind(&job.name)
                    .bind(&job.cron)
                    .bind(i64::from(job.exclusive))
                    .bind(job.next_ms)
                    .bind(job.lock_message.clone())
                    .execute(&mut *c)
                    .await?;
                }
                Some(s) => {
                    let next = if s.cron != job.cron { job.next_ms } else { s.next_ms };
                    query(
                        "UPDATE target_jobs SET cron = $3, exclusive = $4, next_ms = $5, lock_message = $6 \
                         WHERE target_pk = $1 AND name = $2",
                    )
                    .bind(target_pk)
                    .bind(&job.name)
                    .bind(&job.cron)
                    .bind(i64::from(job.exclusive))
                    .bind(next)
                    .bind(job.lock_message.clone())
                    .execute(&mut *c)
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn list_jobs(read: &Pool<DB>, target_pk: i64) -> StoreResult<Vec<JobRow>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM target_jobs WHERE target_pk = $1 ORDER BY next_ms, name");
        let rows = query(sqlx::AssertSqlSafe(sql)).bind(target_pk).fetch_all(read).await?;
        rows.iter().map(Self::job_row).collect()
    }

    /// The target's lease must be ours: the scheduler runs jobs of targets this instance translates.
    async fn holds_lease(c: &mut DB::Connection, target_pk: i64, owner: &str, now_ms: i64) -> StoreResult<bool> {
        let row = query("SELECT 1 FROM targets WHERE pk = $1 AND lease_owner = $2 AND lease_until >= $3")
            .bind(target_pk)
            .bind(owner)
            .bind(now_ms)
            .fetch_optional(&mut *c)
            .await?;
        Ok(row.is_some())
    }

    async fn start_run(
        c: &mut DB::Connection,
        target_pk: i64,
        name: &str,
        owner: &str,
        run_ms: i64,
        now_ms: i64,
    ) -> StoreResult<bool> {
        if !Self::holds_lease(c, target_pk, owner, now_ms).await? {
            return Ok(false);
        }
        let n = query(
            "UPDATE target_jobs SET run_ms = $3, run_cursor = NULL, run_attempt = 1, run_started_ms = $4 \
             WHERE target_pk = $1 AND name = $2 AND run_ms IS NULL",
        )
        .bind(target_pk)
        .bind(name)
        .bind(run_ms)
        .bind(now_ms)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn insert_notices(
        c: &mut DB::Connection,
        target_pk: i64,
        notices: &[NewNotice],
        now_ms: i64,
    ) -> StoreResult<Vec<i64>> {
        let mut ids = Vec::with_capacity(notices.len());
        for n in notices {
            let row = query(
                "INSERT INTO target_notices (target_pk, created_ms, kind, subject, body, recipient, delivery) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING pk",
            )
            .bind(target_pk)
            .bind(now_ms)
            .bind(&n.kind)
            .bind(&n.subject)
            .bind(&n.text)
            .bind(n.recipient.clone())
            .bind(&n.delivery)
            .fetch_one(&mut *c)
            .await?;
            ids.push(row.try_get(0usize)?);
        }
        Ok(ids)
    }

    async fn commit_run_step(c: &mut DB::Connection, step: &RunStep, now_ms: i64) -> StoreResult<Option<Vec<i64>>> {
        if !Self::holds_lease(c, step.target_pk, &step.owner, now_ms).await? {
            return Ok(None);
        }
        let q = match &step.next {
            RunNext::Continue { cursor } => query(
                "UPDATE target_jobs SET run_cursor = $4, run_attempt = 1 WHERE target_pk = $1 AND name = $2 AND run_ms = $3",
            )
            .bind(step.target_pk)
            .bind(&step.name)
            .bind(step.run_ms)
            .bind(cursor.clone()),
            RunNext::Retry { attempt } => {
                query("UPDATE target_jobs SET run_attempt = $4 WHERE target_pk = $1 AND name = $2 AND run_ms = $3")
                    .bind(step.target_pk)
                    .bind(&step.name)
                    .bind(step.run_ms)
                    .bind(*attempt)
            }
            RunNext::Finished { result, summary, next_ms } => query(
                "UPDATE target_jobs SET run_ms = NULL, run_cursor = NULL, run_attempt = 0, run_started_ms = NULL, \
                 last_ms = $3, last_finished_ms = $4, last_result = $5, last_summary = $6, next_ms = $7, \
                 runs = runs + 1 WHERE target_pk = $1 AND name = $2 AND run_ms = $3",
            )
            .bind(step.target_pk)
            .bind(&step.name)
            .bind(step.run_ms)
            .bind(now_ms)
            .bind(result.clone())
            .bind(summary.clone())
            .bind(*next_ms),
        };
        if q.execute(&mut *c).await?.rows_affected() == 0 {
            return Ok(None);
        }
        Self::insert_ops(c, step.target_pk, &step.ops, now_ms).await?;
        Self::apply_kv(c, step.target_pk, &step.kv).await?;
        let ids = Self::insert_notices(c, step.target_pk, &step.notices, now_ms).await?;
        if !step.ops.is_empty() && DB::POSTGRES {
            query("SELECT pg_notify('scimgw_outbox', '')").execute(&mut *c).await?;
        }
        Ok(Some(ids))
    }

    async fn set_job_due(c: &mut DB::Connection, target_pk: i64, name: &str, at_ms: i64) -> StoreResult<bool> {
        let n = query("UPDATE target_jobs SET next_ms = $3 WHERE target_pk = $1 AND name = $2")
            .bind(target_pk)
            .bind(name)
            .bind(at_ms)
            .execute(&mut *c)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    async fn exclusive_running(read: &Pool<DB>, target_pk: i64) -> StoreResult<Option<(String, Option<String>)>> {
        let row = query(
            "SELECT name, lock_message FROM target_jobs WHERE target_pk = $1 AND exclusive <> 0 AND run_ms IS NOT NULL \
             ORDER BY name LIMIT 1",
        )
        .bind(target_pk)
        .fetch_optional(read)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get(0usize)?, r.try_get(1usize)?)),
            None => None,
        })
    }

    async fn commit_effects(
        c: &mut DB::Connection,
        target_pk: i64,
        kv: &[(String, Option<String>)],
        notices: &[NewNotice],
        now_ms: i64,
    ) -> StoreResult<Vec<i64>> {
        Self::apply_kv(c, target_pk, kv).await?;
        if !kv.is_empty() {
            // Another process may hold this target's kv in its cache (see `kv_cache`).
            query("UPDATE targets SET kv_epoch = kv_epoch + 1 WHERE pk = $1").bind(target_pk).execute(&mut *c).await?;
        }
        Self::insert_notices(c, target_pk, notices, now_ms).await
    }

    async fn list_notices(read: &Pool<DB>, target_pk: i64, limit: i64) -> StoreResult<Vec<NoticeRow>> {
        let rows = query(
            "SELECT pk, created_ms, kind, subject, body, recipient, delivery FROM target_notices \
             WHERE target_pk = $1 ORDER BY pk DESC LIMIT $2",
        )
        .bind(target_pk)
        .bind(limit)
        .fetch_all(read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NoticeRow {
                    id: r.try_get(0usize)?,
                    created_ms: r.try_get(1usize)?,
                    kind: r.try_get(2usize)?,
                    subject: r.try_get(3usize)?,
                    text: r.try_get(4usize)?,
                    recipient: r.try_get(5usize)?,
                    delivery: r.try_get(6usize)?,
                })
            })
            .collect()
    }

    async fn set_notice_delivery(c: &mut DB::Connection, id: i64, delivery: &str) -> StoreResult<()> {
        query("UPDATE target_notices SET delivery = $2 WHERE pk = $1").bind(id).bind(delivery).execute(&mut *c).await?;
        Ok(())
    }
}
