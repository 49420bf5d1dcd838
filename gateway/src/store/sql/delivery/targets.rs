//! The statements behind plugins and targets: uploaded plugin versions, targets with their credentials,
//! admin actions and the translation lease, on either database.

use crate::store::db::{Backend, RowsAffected, Sql};
use crate::store::delivery::{NewTarget, PluginBytes, PluginRow, TargetAction, TargetRow};
use crate::store::{StoreError, StoreResult, now_rfc3339};
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Row, Type, query, query_scalar};

const TARGET_COLUMNS: &str = "t.pk, t.tenant_pk, n.name, t.name, t.plugin, t.config, t.allowed_hosts, t.allow_http, \
     t.allow_private, t.paused, t.cursor_seq, n.last_seq, t.parked_seq, t.parked_reason, t.parked_at, t.resync, \
     t.created_at, \
     (SELECT COUNT(*) FROM outbox o WHERE o.target_pk = t.pk AND o.state = 'pending'), \
     (SELECT COUNT(*) FROM outbox o WHERE o.target_pk = t.pk AND o.state = 'dead') \
     FROM targets t JOIN tenants n ON n.pk = t.tenant_pk";

fn target_from<R: Row>(r: &R) -> StoreResult<TargetRow>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    let hosts: String = r.try_get(6usize)?;
    let resync: Option<String> = r.try_get(15usize)?;
    Ok(TargetRow {
        pk: r.try_get(0usize)?,
        tenant_pk: r.try_get(1usize)?,
        tenant: r.try_get(2usize)?,
        name: r.try_get(3usize)?,
        plugin: r.try_get(4usize)?,
        config: r.try_get(5usize)?,
        allowed_hosts: serde_json::from_str(&hosts)?,
        allow_http: r.try_get::<i64, _>(7usize)? != 0,
        allow_private: r.try_get::<i64, _>(8usize)? != 0,
        paused: r.try_get::<i64, _>(9usize)? != 0,
        cursor_seq: r.try_get(10usize)?,
        last_seq: r.try_get(11usize)?,
        parked_seq: r.try_get(12usize)?,
        parked_reason: r.try_get(13usize)?,
        parked_at: r.try_get(14usize)?,
        resync_running: resync.is_some(),
        resync,
        created_at: r.try_get(16usize)?,
        pending: r.try_get(17usize)?,
        dead: r.try_get(18usize)?,
        credential_names: Vec::new(),
    })
}

/// The statements, on either database (see [`Sql`] for the bounds).
impl<DB> Sql<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB>,
{
    /// Stores a plugin version (re-uploading an older one makes it active again).
    pub(super) async fn put_plugin(
        c: &mut DB::Connection,
        name: &str,
        sha: &str,
        world: &str,
        wasm: &[u8],
    ) -> StoreResult<bool> {
        // Re-uploading an older version makes it the active one again (a rollback).
        let moved = query("DELETE FROM plugins WHERE name = $1 AND sha256 = $2")
            .bind(name)
            .bind(sha)
            .execute(&mut *c)
            .await?
            .rows_affected();
        query("INSERT INTO plugins (name, sha256, size, world, wasm, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(name)
            .bind(sha)
            .bind(wasm.len() as i64)
            .bind(world)
            .bind(wasm)
            .bind(now_rfc3339())
            .execute(&mut *c)
            .await?;
        Ok(moved == 0)
    }

    pub(super) async fn list_plugins(read: &Pool<DB>) -> StoreResult<Vec<PluginRow>> {
        let rows = query(
            "SELECT p.name, p.sha256, p.size, p.world, p.created_at, \
             (SELECT COUNT(*) FROM plugins q WHERE q.name = p.name) FROM plugins p \
             WHERE p.pk = (SELECT MAX(q.pk) FROM plugins q WHERE q.name = p.name) ORDER BY p.name",
        )
        .fetch_all(read)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            out.push(PluginRow {
                name: r.try_get(0usize)?,
                sha256: r.try_get(1usize)?,
                size: r.try_get(2usize)?,
                world: r.try_get(3usize)?,
                created_at: r.try_get(4usize)?,
                versions: r.try_get(5usize)?,
            });
        }
        Ok(out)
    }

    pub(super) async fn plugin_heads(read: &Pool<DB>) -> StoreResult<Vec<(String, String)>> {
        let rows = query(
            "SELECT p.name, p.sha256 FROM plugins p WHERE p.pk = (SELECT MAX(q.pk) FROM plugins q WHERE q.name = p.name)",
        )
        .fetch_all(read)
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0usize)?, r.try_get(1usize)?))).collect()
    }

    pub(super) async fn plugin_wasm(read: &Pool<DB>, name: &str) -> StoreResult<Option<PluginBytes>> {
        let row = query("SELECT sha256, wasm FROM plugins WHERE pk = (SELECT MAX(pk) FROM plugins WHERE name = $1)")
            .bind(name)
            .fetch_optional(read)
            .await?;
        match row {
            Some(r) => Ok(Some((r.try_get(0usize)?, r.try_get(1usize)?))),
            None => Ok(None),
        }
    }

    /// Inserts a target and its credentials; returns its pk.
    pub(super) async fn create_target(c: &mut DB::Connection, tenant_name: &str, t: &NewTarget) -> StoreResult<i64> {
        let tenant_pk: Option<i64> =
            query_scalar("SELECT pk FROM tenants WHERE name = $1").bind(tenant_name).fetch_optional(&mut *c).await?;
        let Some(tenant_pk) = tenant_pk else {
            return Err(StoreError::NotFound(format!("tenant \"{tenant_name}\" not found")));
        };
        let taken: Option<i64> = query_scalar("SELECT pk FROM targets WHERE tenant_pk = $1 AND name = $2")
            .bind(tenant_pk)
            .bind(&t.name)
            .fetch_optional(&mut *c)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("tenant \"{tenant_name}\" already has a target \"{}\"", t.name)));
        }
        // A new target starts at the tenant's current position: it receives the changes from
        // now on (use `target resync` to send the existing directory).
        let last_seq: i64 =
            query_scalar("SELECT last_seq FROM tenants WHERE pk = $1").bind(tenant_pk).fetch_one(&mut *c).await?;
        let hosts = serde_json::to_string(&t.allowed_hosts)?;
        let pk: i64 = query_scalar(
            "INSERT INTO targets (tenant_pk, name, plugin, config, allowed_hosts, allow_http, allow_private, \
             cursor_seq, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING pk",
        )
        .bind(tenant_pk)
        .bind(&t.name)
        .bind(&t.plugin)
        .bind(&t.config)
        .bind(&hosts)
        .bind(t.allow_http as i64)
        .bind(t.allow_private as i64)
        .bind(last_seq)
        .bind(now_rfc3339())
        .fetch_one(&mut *c)
        .await?;
        for (name, sealed) in &t.credentials {
            query("INSERT INTO target_credentials (target_pk, name, sealed) VALUES ($1, $2, $3)")
                .bind(pk)
                .bind(name)
                .bind(sealed)
                .execute(&mut *c)
                .await?;
        }
        Ok(pk)
    }

    pub(super) async fn claim_key_fingerprint(write: &Pool<DB>, fingerprint: &str) -> StoreResult<String> {
        query("INSERT INTO credential_key (id, fingerprint, created_at) VALUES (1, $1, $2) ON CONFLICT DO NOTHING")
            .bind(fingerprint)
            .bind(now_rfc3339())
            .execute(write)
            .await?;
        Ok(query_scalar("SELECT fingerprint FROM credential_key WHERE id = 1").fetch_one(write).await?)
    }

    pub(super) async fn key_state(read: &Pool<DB>) -> StoreResult<(Option<String>, i64)> {
        let fp: Option<String> =
            query_scalar("SELECT fingerprint FROM credential_key WHERE id = 1").fetch_optional(read).await?;
        let sealed: i64 = query_scalar("SELECT COUNT(*) FROM target_credentials").fetch_one(read).await?;
        Ok((fp, sealed))
    }

    pub(super) async fn list_targets(read: &Pool<DB>, tenant: Option<&str>) -> StoreResult<Vec<TargetRow>> {
        let sql = format!("SELECT {TARGET_COLUMNS} WHERE ($1 = '' OR n.name = $1) ORDER BY n.name, t.name");
        let rows = query(sqlx::AssertSqlSafe(sql)).bind(tenant.unwrap_or("")).fetch_all(read).await?;
        let mut out = rows.iter().map(target_from).collect::<StoreResult<Vec<_>>>()?;
        let rows = query("SELECT target_pk, name FROM target_credentials ORDER BY name").fetch_all(read).await?;
        let creds = rows
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>(0usize)?, r.try_get::<String, _>(1usize)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        for t in &mut out {
            t.credential_names = creds.iter().filter(|(pk, _)| *pk == t.pk).map(|(_, n)| n.clone()).collect();
        }
        Ok(out)
    }

    pub(super) async fn target_by_pk(read: &Pool<DB>, pk: i64) -> StoreResult<Option<TargetRow>> {
        let sql = format!("SELECT {TARGET_COLUMNS} WHERE t.pk = $1");
        let row = query(sqlx::AssertSqlSafe(sql)).bind(pk).fetch_optional(read).await?;
        let Some(row) = row else { return Ok(None) };
        let mut t = target_from(&row)?;
        t.credential_names = query_scalar("SELECT name FROM target_credentials WHERE target_pk = $1 ORDER BY name")
            .bind(pk)
            .fetch_all(read)
            .await?;
        Ok(Some(t))
    }

    pub(super) async fn target_action(
        c: &mut DB::Connection,
        target_pk: i64,
        action: TargetAction,
    ) -> StoreResult<bool> {
        let n = match action {
            TargetAction::Pause => {
                query("UPDATE targets SET paused = 1 WHERE pk = $1").bind(target_pk).execute(&mut *c).await?
            }
            TargetAction::Resume => {
                query("UPDATE targets SET paused = 0 WHERE pk = $1").bind(target_pk).execute(&mut *c).await?
            }
            TargetAction::Retry => {
                query("UPDATE targets SET parked_seq = NULL, parked_reason = NULL, parked_at = NULL WHERE pk = $1")
                    .bind(target_pk)
                    .execute(&mut *c)
                    .await?
            }
            TargetAction::Resync { now_ms } => {
                // The replayed state covers every change so far: the log resumes after them.
                let progress = serde_json::json!({"id": now_ms, "phase": "start", "offset": 0}).to_string();
                query(
                    "UPDATE targets SET resync = $2, parked_seq = NULL, parked_reason = NULL, parked_at = NULL, \
                     cursor_seq = (SELECT last_seq FROM tenants WHERE pk = targets.tenant_pk) WHERE pk = $1",
                )
                .bind(target_pk)
                .bind(progress)
                .execute(&mut *c)
                .await?
            }
            TargetAction::Delete => query("DELETE FROM targets WHERE pk = $1").bind(target_pk).execute(&mut *c).await?,
        };
        Ok(n.rows_affected() > 0)
    }

    pub(super) async fn set_target_config(c: &mut DB::Connection, target_pk: i64, config: &str) -> StoreResult<bool> {
        let n = query("UPDATE targets SET config = $2 WHERE pk = $1")
            .bind(target_pk)
            .bind(config)
            .execute(&mut *c)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    pub(super) async fn target_credentials(read: &Pool<DB>, target_pk: i64) -> StoreResult<Vec<(String, String)>> {
        let rows = query("SELECT name, sealed FROM target_credentials WHERE target_pk = $1")
            .bind(target_pk)
            .fetch_all(read)
            .await?;
        rows.iter().map(|r| Ok((r.try_get(0usize)?, r.try_get(1usize)?))).collect()
    }

    pub(super) async fn claim_target(
        c: &mut DB::Connection,
        target_pk: i64,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> StoreResult<bool> {
        let n = query(
            "UPDATE targets SET lease_owner = $2, lease_until = $4 WHERE pk = $1 \
             AND (lease_owner = $2 OR lease_owner IS NULL OR lease_until < $3)",
        )
        .bind(target_pk)
        .bind(owner)
        .bind(now_ms)
        .bind(until_ms)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n > 0)
    }
}
