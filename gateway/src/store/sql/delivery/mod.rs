//! [`DeliveryStore`] on the SQL store. Writes go through the SQLite writer (group commit: the outbox's
//! completions and the dispatcher's commits share transactions with SCIM writes) or a PostgreSQL
//! transaction; outbox claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL so instances share the work.
//! This file picks the backend; the statements are in `targets` (plugins, targets) and `outbox`
//! (translation commits, plugin state, the outbox), written once for both databases.

mod outbox;
mod targets;

use super::kv_cache::Lookup;
use super::{Pools, SqlStore};
use crate::store::db::{Lite, Pg};
use crate::store::delivery::{
    ClaimedOp, DeliveryStore, Finish, NewTarget, OutboxFilter, OutboxRow, PluginBytes, PluginRow, QueueStats,
    TargetAction, TargetRow, Translated,
};
use crate::store::{StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::{query, query_scalar};
use std::sync::Arc;
use tokio::sync::Notify;

/// Drops the cached kv keys a commit may have written, once it is over (succeeded or not).
struct KvInvalidation<'a> {
    cache: &'a super::kv_cache::KvCache,
    written: Vec<(i64, Vec<String>)>,
}

impl Drop for KvInvalidation<'_> {
    fn drop(&mut self) {
        for (pk, keys) in &self.written {
            self.cache.invalidate(*pk, keys);
        }
    }
}

#[async_trait]
impl DeliveryStore for SqlStore {
    async fn put_plugin(&self, name: &str, sha256: &str, world: &str, wasm: &[u8]) -> StoreResult<bool> {
        let (name, sha, world, wasm) = (name.to_owned(), sha256.to_owned(), world.to_owned(), wasm.to_vec());
        match &self.pools {
            Pools::Sqlite { writer, .. } => {
                writer
                    .run(move |c| Box::pin(async move { Lite::put_plugin(c, &name, &sha, &world, &wasm).await }))
                    .await
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let v = Pg::put_plugin(&mut tx, &name, &sha, &world, &wasm).await?;
                tx.commit().await?;
                Ok(v)
            }
        }
    }

    async fn list_plugins(&self) -> StoreResult<Vec<PluginRow>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::list_plugins(read).await,
            Pools::Postgres(pool) => Pg::list_plugins(pool).await,
        }
    }

    async fn plugin_heads(&self) -> StoreResult<Vec<(String, String)>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::plugin_heads(read).await,
            Pools::Postgres(pool) => Pg::plugin_heads(pool).await,
        }
    }

    async fn plugin_wasm(&self, name: &str) -> StoreResult<Option<PluginBytes>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::plugin_wasm(read, name).await,
            Pools::Postgres(pool) => Pg::plugin_wasm(pool, name).await,
        }
    }

    async fn create_target(&self, tenant: &str, t: NewTarget) -> StoreResult<TargetRow> {
        let tenant_name = tenant.to_owned();
        let pk = match &self.pools {
            Pools::Sqlite { writer, .. } => {
                writer.run(move |c| Box::pin(async move { Lite::create_target(c, &tenant_name, &t).await })).await?
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let v = Pg::create_target(&mut tx, &tenant_name, &t).await?;
                tx.commit().await?;
                v
            }
        };
        self.target_by_pk(pk).await?.ok_or_else(|| StoreError::Corrupt("created target vanished".into()))
    }

    async fn list_targets(&self, tenant: Option<&str>) -> StoreResult<Vec<TargetRow>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::list_targets(read, tenant).await,
            Pools::Postgres(pool) => Pg::list_targets(pool, tenant).await,
        }
    }

    async fn target_by_pk(&self, pk: i64) -> StoreResult<Option<TargetRow>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::target_by_pk(read, pk).await,
            Pools::Postgres(pool) => Pg::target_by_pk(pool, pk).await,
        }
    }

    async fn target_action(&self, target_pk: i64, action: TargetAction) -> StoreResult<bool> {
        if action == TargetAction::Delete {
            self.kv_cache.clear();
        }
        let changed = match &self.pools {
            Pools::Sqlite { writer, .. } => {
                writer.run(move |c| Box::pin(async move { Lite::target_action(c, target_pk, action).await })).await?
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let v = Pg::target_action(&mut tx, target_pk, action).await?;
                tx.commit().await?;
                v
            }
        };
        if changed {
            self.changes.notify_one();
            self.outbox.notify_one();
        }
        Ok(changed)
    }

    async fn set_target_config(&self, target_pk: i64, config: &str) -> StoreResult<bool> {
        let config = config.to_owned();
        let changed = match &self.pools {
            Pools::Sqlite { writer, .. } => {
                writer
                    .run(move |c| Box::pin(async move { Lite::set_target_config(c, target_pk, &config).await }))
                    .await?
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let v = Pg::set_target_config(&mut tx, target_pk, &config).await?;
                tx.commit().await?;
                v
            }
        };
        if changed {
            self.changes.notify_one();
        }
        Ok(changed)
    }

    async fn claim_key_fingerprint(&self, fingerprint: &str) -> StoreResult<String> {
        match &self.pools {
            Pools::Sqlite { write, .. } => Lite::claim_key_fingerprint(write, fingerprint).await,
            Pools::Postgres(pool) => Pg::claim_key_fingerprint(pool, fingerprint).await,
        }
    }

    async fn key_state(&self) -> StoreResult<(Option<String>, i64)> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::key_state(read).await,
            Pools::Postgres(pool) => Pg::key_state(pool).await,
        }
    }

    async fn target_credentials(&self, target_pk: i64) -> StoreResult<Vec<(String, String)>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::target_credentials(read, target_pk).await,
            Pools::Postgres(pool) => Pg::target_credentials(pool, target_pk).await,
        }
    }

    async fn claim_target(&self, target_pk: i64, owner: &str, now_ms: i64, until_ms: i64) -> StoreResult<bool> {
        let owner = owner.to_owned();
        match &self.pools {
            Pools::Sqlite { writer, .. } => {
                writer
                    .run(move |c| {
                        Box::pin(async move { Lite::claim_target(c, target_pk, &owner, now_ms, until_ms).await })
                    })
                    .await
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let v = Pg::claim_target(&mut tx, target_pk, &owner, now_ms, until_ms).await?;
                tx.commit().await?;
                Ok(v)
            }
        }
    }

    async fn commit_translation(&self, t: Translated) -> StoreResult<bool> {
        let queued = !t.ops.is_empty();
        let now = crate::clock::now_ms();
        let (target_pk, kv, generation) = (t.target_pk, t.kv.clone(), self.kv_cache.generation());
        let ok = match &self.pools {
            Pools::Sqlite { writer, .. } => {
                writer.run(move |c| Box::pin(async move { Lite::commit_translation(c, &t, now).await })).await?
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let v = Pg::commit_translation(&mut tx, &t, now).await?;
                tx.commit().await?;
                v
            }
        };
        if ok {
            self.kv_cache.committed(target_pk, &kv, generation);
        }
        if ok && queued {
            self.outbox.notify_one();
        }
        Ok(ok)
    }

    async fn kv_get(&self, target_pk: i64, key: &str) -> StoreResult<Option<String>> {
        if let Pools::Sqlite { read, .. } = &self.pools
            && self.kv_cache.epoch_due(target_pk)
        {
            let epoch = query_scalar::<_, i64>("SELECT kv_epoch FROM targets WHERE pk = $1")
                .bind(target_pk)
                .fetch_optional(read)
                .await?
                .unwrap_or(0);
            self.kv_cache.epoch_seen(target_pk, epoch);
        }
        let load = match self.kv_cache.lookup(target_pk, key) {
            Lookup::Known(v) => return Ok(v),
            Lookup::Unknown { load } => load,
        };
        match &self.pools {
            Pools::Sqlite { read, .. } => {
                if let Some(load) = load {
                    super::kv_cache::load_keys(&self.kv_cache, read.clone(), target_pk, load);
                }
                let generation = self.kv_cache.generation();
                let v = Lite::kv_get(read, target_pk, key).await?;
                self.kv_cache.fill(target_pk, key, v.clone(), generation);
                Ok(v)
            }
            Pools::Postgres(pool) => Pg::kv_get(pool, target_pk, key).await,
        }
    }

    async fn kv_usage(
        &self,
        target_pk: i64,
        keys: &[String],
    ) -> StoreResult<(i64, i64, std::collections::HashMap<String, i64>)> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::kv_usage(read, target_pk, keys).await,
            Pools::Postgres(pool) => Pg::kv_usage(pool, target_pk, keys).await,
        }
    }

    async fn kv_keys(&self, target_pk: i64, prefix: &str, start: &str, limit: i64) -> StoreResult<Vec<String>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::kv_keys(read, target_pk, prefix, start, limit).await,
            Pools::Postgres(pool) => Pg::kv_keys(pool, target_pk, prefix, start, limit).await,
        }
    }

    async fn remote_id(&self, target_pk: i64, kind: &str, local: &str) -> StoreResult<Option<String>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::remote_id(read, target_pk, kind, local).await,
            Pools::Postgres(pool) => Pg::remote_id(pool, target_pk, kind, local).await,
        }
    }

    async fn claim_ops(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
        shared_writer: bool,
    ) -> StoreResult<Vec<ClaimedOp>> {
        match &self.pools {
            Pools::Postgres(pool) => outbox::claim_ops_pg(pool, owner, now_ms, lease_ms, limit).await,
            Pools::Sqlite { read, writer, .. } => {
                outbox::claim_ops_lite(read, writer, owner, now_ms, lease_ms, limit, shared_writer).await
            }
        }
    }

    async fn finish_ops(&self, owner: &str, done: Vec<(i64, i64, Finish)>) -> StoreResult<u64> {
        let owner = owner.to_owned();
        if done.is_empty() {
            return Ok(0);
        }
        // Whether each row was still leased is known only inside: drop the keys deliveries wrote.
        let written: Vec<(i64, Vec<String>)> = done
            .iter()
            .filter_map(|(_, target_pk, f)| match f {
                Finish::Done { kv, .. } if !kv.is_empty() => {
                    Some((*target_pk, kv.iter().map(|(k, _)| k.clone()).collect()))
                }
                _ => None,
            })
            .collect();
        let _invalidate = KvInvalidation { cache: &self.kv_cache, written };
        let n = match &self.pools {
            Pools::Sqlite { writer, .. } => {
                writer.run(move |c| Box::pin(async move { Lite::finish_ops(c, &owner, &done).await })).await?
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let v = Pg::finish_ops(&mut tx, &owner, &done).await?;
                tx.commit().await?;
                v
            }
        };
        self.outbox.notify_one();
        Ok(n)
    }

    async fn next_due(&self) -> StoreResult<Option<i64>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::next_due(read).await,
            Pools::Postgres(pool) => Pg::next_due(pool).await,
        }
    }

    async fn list_outbox(&self, f: OutboxFilter) -> StoreResult<Vec<OutboxRow>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::list_outbox(read, &f).await,
            Pools::Postgres(pool) => Pg::list_outbox(pool, &f).await,
        }
    }

    async fn skip_dead(&self, f: OutboxFilter) -> StoreResult<u64> {
        let n = match &self.pools {
            Pools::Sqlite { writer, .. } => {
                writer.run(move |c| Box::pin(async move { Lite::skip_dead(c, &f).await })).await?
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let v = Pg::skip_dead(&mut tx, &f).await?;
                tx.commit().await?;
                v
            }
        };
        if n > 0 {
            self.outbox.notify_one();
        }
        Ok(n)
    }

    async fn blocked_keys(
        &self,
        target_pk: i64,
        limit: i64,
    ) -> StoreResult<(i64, Vec<(String, String, Option<String>)>)> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::blocked_keys(read, target_pk, limit).await,
            Pools::Postgres(pool) => Pg::blocked_keys(pool, target_pk, limit).await,
        }
    }

    async fn replay_dead(&self, f: OutboxFilter, now_ms: i64) -> StoreResult<u64> {
        let n = match &self.pools {
            Pools::Sqlite { writer, .. } => {
                writer.run(move |c| Box::pin(async move { Lite::replay_dead(c, &f, now_ms).await })).await?
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let v = Pg::replay_dead(&mut tx, &f, now_ms).await?;
                tx.commit().await?;
                v
            }
        };
        if n > 0 {
            self.outbox.notify_one();
        }
        Ok(n)
    }

    async fn queue_stats(&self) -> StoreResult<Vec<QueueStats>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::queue_stats(read).await,
            Pools::Postgres(pool) => Pg::queue_stats(pool).await,
        }
    }

    async fn maintain_queue(&self) -> StoreResult<()> {
        if let Pools::Postgres(pool) = &self.pools {
            query("ANALYZE outbox").execute(pool).await?;
        }
        Ok(())
    }

    async fn release_leases(&self) -> StoreResult<()> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => {
                writer.run(move |c| Box::pin(async move { Lite::release_leases(c).await })).await
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                Pg::release_leases(&mut tx).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    fn changes_signal(&self) -> Arc<Notify> {
        self.changes.clone()
    }

    fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox.clone()
    }
}
