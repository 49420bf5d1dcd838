//! [`SqlStore`]: the store on SQLite or PostgreSQL, with the same SQL (`$N` placeholders, which both
//! drivers understand). This file opens the database ([`connect`]) and holds the pools; each trait is
//! implemented in a file of its own (`tenants`, `resources`, `delivery`, `report`), whose methods pick the
//! backend's pool and call the statements written once in [`Sql`](crate::store::db::Sql), generic over
//! the sqlx database (a copy per backend would duplicate the SQL; see `db/mod.rs`). SQLite gets a
//! single-connection writer pool (writers serialise anyway; this avoids `SQLITE_BUSY` upgrades) behind
//! the group-commit writer (`sqlite/`), beside a reader pool; PostgreSQL uses one pool and row locks on
//! the tenant to keep the per-tenant change log gap-free and ordered.

mod delivery;
mod jobs;
mod kv_cache;
mod listen;
mod report;
mod resources;
mod tenants;

use super::db::{Pg, Seq};
use super::sqlite::Writer;
use super::{DynStore, Store, StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Postgres, Transaction, query};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

enum Pools {
    Sqlite { read: sqlx::SqlitePool, write: sqlx::SqlitePool, writer: Writer },
    Postgres(sqlx::PgPool),
}

pub struct SqlStore {
    pools: Pools,
    /// Signalled after every committed SCIM write (and on PostgreSQL NOTIFY from other instances).
    changes: Arc<tokio::sync::Notify>,
    /// Signalled when operations were queued or finished.
    outbox: Arc<tokio::sync::Notify>,
    /// Plugins' kv state as last read or written (SQLite only).
    kv_cache: Arc<kv_cache::KvCache>,
}

/// The SQLite writer's connection: every commit is durable before the client hears of it
/// (`synchronous=FULL`: Entra does not resend a write it saw acknowledged, so a power loss or OS crash must
/// not lose one; the group commit pays one fsync per batch, not per request). The writer never checkpoints
/// inline (a commit that checkpoints stalls every write queued behind it); a background task checkpoints
/// passively instead. In-memory databases have no WAL.
fn writer_options(opts: SqliteConnectOptions, memory: bool) -> SqliteConnectOptions {
    let opts = opts.synchronous(SqliteSynchronous::Full);
    if memory { opts } else { opts.pragma("wal_autocheckpoint", "0") }
}

/// Opens the database named by `url` (`sqlite://path`, `sqlite::memory:`, `postgres://…`) and migrates it.
pub async fn connect(url: &str) -> StoreResult<DynStore> {
    connect_with(url, 16).await
}

/// As [`connect`], with at most `max_connections` PostgreSQL connections (SQLite readers: at most 4).
pub async fn connect_with(url: &str, max_connections: u32) -> StoreResult<DynStore> {
    let mut listener = None;
    let pools = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let opts = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        // LISTEN holds its connection for good: it gets its own, outside the pool the requests use.
        listener = Some(PgPoolOptions::new().max_connections(1).connect_lazy_with(opts));
        Pools::Postgres(pool)
    } else if url.starts_with("sqlite:") {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // 4 MiB page cache per connection keeps the footprint small (5 connections); the OS cache does the rest.
            .pragma("cache_size", "-4000")
            // Rows come back from sqlx's SQLite thread through a bounded channel; the default (50) makes
            // a 100-row page stall the thread and wake it again mid-page.
            .row_buffer_size(1024);
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let write_opts = writer_options(opts.clone(), memory);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(write_opts)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&write).await?;
        if !memory {
            let checkpoints = SqlitePoolOptions::new().max_connections(1).connect_with(opts.clone()).await?;
            tokio::spawn(checkpointer(checkpoints));
        }
        let read = if memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(max_connections.clamp(1, 4))
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                // Readers map the file (256 MiB at most) instead of copying every page they scan through
                // read(2): whole-tenant reads such as the report's identities scan the users table.
                .connect_with(opts.read_only(true).pragma("mmap_size", "268435456"))
                .await?
        };
        let writer = Writer::spawn(write.clone());
        Pools::Sqlite { read, write, writer }
    } else {
        return Err(StoreError::Corrupt(format!(
            "unsupported database URL scheme (expected sqlite:// or postgres://): {}",
            url.split(':').next().unwrap_or("")
        )));
    };
    let kv_cache = Arc::new(kv_cache::KvCache::new(kv_cache::KvCache::wanted(matches!(pools, Pools::Sqlite { .. }))));
    let store = SqlStore {
        pools,
        changes: Arc::new(tokio::sync::Notify::new()),
        outbox: Arc::new(tokio::sync::Notify::new()),
        kv_cache,
    };
    if let (Pools::Postgres(pool), Some(listen_pool)) = (&store.pools, listener) {
        listen::listen(pool.clone(), listen_pool, store.changes.clone(), store.outbox.clone());
    }
    Ok(Arc::new(store))
}

/// Copies the WAL back into the database file every second without blocking readers or the writer
/// (`PASSIVE`); stops when the store is closed.
async fn checkpointer(pool: sqlx::SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        if self.is_postgres() { "postgres" } else { "sqlite" }
    }
    async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { read, write, .. } => {
                read.close().await;
                // Copy the write-ahead log into the database and empty it: the next process then
                // opens the database without first reading a long log.
                if let Err(e) = query("PRAGMA wal_checkpoint(TRUNCATE)").execute(write).await {
                    tracing::warn!(error = %e, "final WAL checkpoint failed");
                }
                write.close().await;
            }
            Pools::Postgres(p) => p.close().await,
        }
    }
}

impl SqlStore {
    fn is_postgres(&self) -> bool {
        matches!(self.pools, Pools::Postgres(_))
    }
}

/// One SCIM write job in its own PostgreSQL transaction: [`PgJob::begin`] locks the tenant row (which
/// orders the change log), the job runs on `tx` appending to `seq`, [`PgJob::commit`] writes the events,
/// notifies other instances and commits.
struct PgJob {
    tx: Transaction<'static, Postgres>,
    seq: Seq,
    tenant: i64,
}

impl PgJob {
    async fn begin(pool: &sqlx::PgPool, tenant: i64) -> StoreResult<PgJob> {
        let mut tx = pool.begin().await?;
        let seq = Pg::begin_seq(&mut tx, tenant).await?;
        Ok(PgJob { tx, seq, tenant })
    }

    async fn commit(self) -> StoreResult<()> {
        let PgJob { mut tx, seq, tenant } = self;
        Pg::finish_seq(&mut tx, tenant, seq).await?;
        query("SELECT pg_notify('scimgw_changes', '')").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sqlite_writer_commits_with_synchronous_full() {
        let dir = std::env::temp_dir().join(format!("scimgw-sync-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}/t.db", dir.display()))
            .expect("url")
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let pool =
            SqlitePoolOptions::new().max_connections(1).connect_with(writer_options(opts, false)).await.expect("open");
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&pool).await.expect("pragma");
        assert_eq!(level, 2, "FULL");
        pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
