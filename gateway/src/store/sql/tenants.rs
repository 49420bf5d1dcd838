//! [`TenantStore`] on the SQL store: the tenant registry, its tokens and custom schemas. Each method
//! picks the backend's pool; the statements are written once below, generic over the database.

use super::{Pools, SqlStore};
use crate::store::db::{Backend, Lite, Pg, RowsAffected, Sql};
use crate::store::{
    CustomSchemaRow, MemberPolicy, StoreError, StoreResult, TenantAuth, TenantRow, TenantStore, TenantSummary,
    now_rfc3339,
};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Row, Type, query, query_scalar};

#[async_trait]
impl TenantStore for SqlStore {
    async fn create_tenant(&self, name: &str, token_hash: &[u8], policy: MemberPolicy) -> StoreResult<TenantRow> {
        match &self.pools {
            Pools::Sqlite { write, .. } => Lite::create_tenant(write, name, token_hash, policy).await,
            Pools::Postgres(pool) => Pg::create_tenant(pool, name, token_hash, policy).await,
        }
    }

    async fn list_tenants(&self) -> StoreResult<Vec<TenantSummary>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::list_tenants(read).await,
            Pools::Postgres(pool) => Pg::list_tenants(pool).await,
        }
    }

    async fn tenant_auth(&self, name: &str) -> StoreResult<Option<TenantAuth>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::tenant_auth(read, name).await,
            Pools::Postgres(pool) => Pg::tenant_auth(pool, name).await,
        }
    }

    async fn token_exists(&self, token_hash: &[u8]) -> StoreResult<bool> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::token_exists(read, token_hash).await,
            Pools::Postgres(pool) => Pg::token_exists(pool, token_hash).await,
        }
    }

    async fn add_token(&self, name: &str, token_hash: &[u8]) -> StoreResult<bool> {
        match &self.pools {
            Pools::Sqlite { write, .. } => Lite::add_token(write, name, token_hash).await,
            Pools::Postgres(pool) => Pg::add_token(pool, name, token_hash).await,
        }
    }

    async fn revoke_old_tokens(&self, name: &str) -> StoreResult<Option<u64>> {
        match &self.pools {
            Pools::Sqlite { write, .. } => Lite::revoke_old_tokens(write, name).await,
            Pools::Postgres(pool) => Pg::revoke_old_tokens(pool, name).await,
        }
    }

    async fn add_admin_token(&self, name: &str, token_hash: &[u8]) -> StoreResult<bool> {
        match &self.pools {
            Pools::Sqlite { write, .. } => Lite::add_admin_token(write, name, token_hash).await,
            Pools::Postgres(pool) => Pg::add_admin_token(pool, name, token_hash).await,
        }
    }

    async fn revoke_admin_tokens(&self, name: &str, all: bool) -> StoreResult<Option<u64>> {
        match &self.pools {
            Pools::Sqlite { write, .. } => Lite::revoke_admin_tokens(write, name, all).await,
            Pools::Postgres(pool) => Pg::revoke_admin_tokens(pool, name, all).await,
        }
    }

    async fn admin_token_tenant(&self, token_hash: &[u8]) -> StoreResult<Option<String>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::admin_token_tenant(read, token_hash).await,
            Pools::Postgres(pool) => Pg::admin_token_tenant(pool, token_hash).await,
        }
    }

    async fn delete_tenant(&self, name: &str) -> StoreResult<bool> {
        match &self.pools {
            Pools::Sqlite { write, .. } => Lite::delete_tenant(write, name).await,
            Pools::Postgres(pool) => Pg::delete_tenant(pool, name).await,
        }
    }

    async fn put_custom_schema(&self, tenant: &str, row: CustomSchemaRow) -> StoreResult<bool> {
        match &self.pools {
            Pools::Sqlite { write, .. } => Lite::put_custom_schema(write, tenant, row).await,
            Pools::Postgres(pool) => Pg::put_custom_schema(pool, tenant, row).await,
        }
    }

    async fn delete_custom_schema(&self, tenant: &str, schema_id: &str) -> StoreResult<bool> {
        match &self.pools {
            Pools::Sqlite { write, .. } => Lite::delete_custom_schema(write, tenant, schema_id).await,
            Pools::Postgres(pool) => Pg::delete_custom_schema(pool, tenant, schema_id).await,
        }
    }

    async fn custom_schemas(&self, tenant_pk: i64) -> StoreResult<Vec<CustomSchemaRow>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::custom_schemas(read, tenant_pk).await,
            Pools::Postgres(pool) => Pg::custom_schemas(pool, tenant_pk).await,
        }
    }
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
    async fn create_tenant(
        write: &Pool<DB>,
        name: &str,
        token_hash: &[u8],
        policy: MemberPolicy,
    ) -> StoreResult<TenantRow> {
        let mut tx = write.begin().await?;
        let now = now_rfc3339();
        let pk: Option<i64> = query_scalar(
            "INSERT INTO tenants (name, created_at, unknown_members) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING pk",
        )
        .bind(name)
        .bind(&now)
        .bind(policy.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(pk) = pk else {
            return Err(StoreError::Conflict(format!("tenant \"{name}\" already exists")));
        };
        query("INSERT INTO tenant_tokens (tenant_pk, hash, created_at) VALUES ($1, $2, $3)")
            .bind(pk)
            .bind(token_hash)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(TenantRow { pk, name: name.to_owned(), created_at: now })
    }

    async fn list_tenants(read: &Pool<DB>) -> StoreResult<Vec<TenantSummary>> {
        let rows = query(
            "SELECT t.name, t.created_at, t.last_seq, t.unknown_members, \
             (SELECT COUNT(*) FROM tenant_tokens k WHERE k.tenant_pk = t.pk AND k.revoked_at IS NULL), \
             t.user_count, t.group_count \
             FROM tenants t ORDER BY t.name",
        )
        .fetch_all(read)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            out.push(TenantSummary {
                tenant: r.try_get(0usize)?,
                created_at: r.try_get(1usize)?,
                last_seq: r.try_get(2usize)?,
                unknown_members: r.try_get(3usize)?,
                active_tokens: r.try_get(4usize)?,
                users: r.try_get(5usize)?,
                groups: r.try_get(6usize)?,
            });
        }
        Ok(out)
    }

    async fn tenant_auth(read: &Pool<DB>, name: &str) -> StoreResult<Option<TenantAuth>> {
        let rows = query(
            "SELECT t.pk, k.hash, t.unknown_members FROM tenants t LEFT JOIN tenant_tokens k \
             ON k.tenant_pk = t.pk AND k.revoked_at IS NULL WHERE t.name = $1",
        )
        .bind(name)
        .fetch_all(read)
        .await?;
        let mut auth: Option<TenantAuth> = None;
        for r in rows {
            let pk: i64 = r.try_get(0usize)?;
            let hash: Option<Vec<u8>> = r.try_get(1usize)?;
            let policy: String = r.try_get(2usize)?;
            let a = auth.get_or_insert_with(|| TenantAuth {
                pk,
                token_hashes: Vec::new(),
                policy: MemberPolicy::parse(&policy),
            });
            if let Some(h) = hash {
                a.token_hashes.push(h);
            }
        }
        Ok(auth)
    }

    async fn token_exists(read: &Pool<DB>, token_hash: &[u8]) -> StoreResult<bool> {
        let hit: Option<i64> =
            query_scalar("SELECT tenant_pk FROM tenant_tokens WHERE hash = $1 AND revoked_at IS NULL LIMIT 1")
                .bind(token_hash)
                .fetch_optional(read)
                .await?;
        Ok(hit.is_some())
    }

    async fn add_token(write: &Pool<DB>, name: &str, token_hash: &[u8]) -> StoreResult<bool> {
        Self::insert_token(write, "INSERT INTO tenant_tokens (tenant_pk, hash, created_at) ", name, token_hash).await
    }

    /// `head` names the token table: SCIM tokens or tenant admin tokens, stored alike.
    async fn insert_token(write: &Pool<DB>, head: &'static str, name: &str, token_hash: &[u8]) -> StoreResult<bool> {
        let mut qb = sqlx::QueryBuilder::<DB>::new(head);
        qb.push("SELECT pk, ").push_bind(token_hash.to_vec()).push(", ").push_bind(now_rfc3339());
        qb.push(" FROM tenants WHERE name = ").push_bind(name.to_owned());
        let n = qb.build().execute(write).await?.rows_affected();
        Ok(n == 1)
    }

    async fn revoke_old_tokens(write: &Pool<DB>, name: &str) -> StoreResult<Option<u64>> {
        let pk: Option<i64> =
            query_scalar("SELECT pk FROM tenants WHERE name = $1").bind(name).fetch_optional(write).await?;
        let Some(pk) = pk else { return Ok(None) };
        let n = query(
            "UPDATE tenant_tokens SET revoked_at = $2 WHERE tenant_pk = $1 AND revoked_at IS NULL AND pk < \
             (SELECT MAX(pk) FROM tenant_tokens WHERE tenant_pk = $1 AND revoked_at IS NULL)",
        )
        .bind(pk)
        .bind(now_rfc3339())
        .execute(write)
        .await?
        .rows_affected();
        Ok(Some(n))
    }

    async fn add_admin_token(write: &Pool<DB>, name: &str, token_hash: &[u8]) -> StoreResult<bool> {
        Self::insert_token(write, "INSERT INTO tenant_admin_tokens (tenant_pk, hash, created_at) ", name, token_hash)
            .await
    }

    async fn revoke_admin_tokens(write: &Pool<DB>, name: &str, all: bool) -> StoreResult<Option<u64>> {
        let pk: Option<i64> =
            query_scalar("SELECT pk FROM tenants WHERE name = $1").bind(name).fetch_optional(write).await?;
        let Some(pk) = pk else { return Ok(None) };
        let n = query(
            "UPDATE tenant_admin_tokens SET revoked_at = $2 WHERE tenant_pk = $1 AND revoked_at IS NULL AND \
             ($3 OR pk < (SELECT MAX(pk) FROM tenant_admin_tokens WHERE tenant_pk = $1 AND revoked_at IS NULL))",
        )
        .bind(pk)
        .bind(now_rfc3339())
        .bind(all)
        .execute(write)
        .await?
        .rows_affected();
        Ok(Some(n))
    }

    async fn admin_token_tenant(read: &Pool<DB>, token_hash: &[u8]) -> StoreResult<Option<String>> {
        Ok(query_scalar(
            "SELECT t.name FROM tenant_admin_tokens k JOIN tenants t ON t.pk = k.tenant_pk \
             WHERE k.hash = $1 AND k.revoked_at IS NULL LIMIT 1",
        )
        .bind(token_hash)
        .fetch_optional(read)
        .await?)
    }

    async fn delete_tenant(write: &Pool<DB>, name: &str) -> StoreResult<bool> {
        let mut tx = write.begin().await?;
        let pk: Option<i64> =
            query_scalar("SELECT pk FROM tenants WHERE name = $1").bind(name).fetch_optional(&mut *tx).await?;
        let Some(pk) = pk else { return Ok(false) };
        // Memberships hang off groups (cascade); delete them first so member rows never dangle.
        query("DELETE FROM memberships WHERE group_pk IN (SELECT pk FROM groups WHERE tenant_pk = $1)")
            .bind(pk)
            .execute(&mut *tx)
            .await?;
        query("DELETE FROM tenants WHERE pk = $1").bind(pk).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn put_custom_schema(write: &Pool<DB>, tenant: &str, row: CustomSchemaRow) -> StoreResult<bool> {
        let n = query(
            "INSERT INTO custom_schemas (tenant_pk, schema_id, resource_type, required, doc, created_at) \
             SELECT pk, $2, $3, $4, $5, $6 FROM tenants WHERE name = $1 \
             ON CONFLICT (tenant_pk, schema_id) DO UPDATE SET resource_type = excluded.resource_type, \
             required = excluded.required, doc = excluded.doc",
        )
        .bind(tenant)
        .bind(&row.schema_id)
        .bind(&row.resource_type)
        .bind(row.required)
        .bind(&row.doc)
        .bind(now_rfc3339())
        .execute(write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn delete_custom_schema(write: &Pool<DB>, tenant: &str, schema_id: &str) -> StoreResult<bool> {
        let n = query(
            "DELETE FROM custom_schemas WHERE schema_id = $2 AND tenant_pk = (SELECT pk FROM tenants WHERE name = $1)",
        )
        .bind(tenant)
        .bind(schema_id)
        .execute(write)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    async fn custom_schemas(read: &Pool<DB>, tenant_pk: i64) -> StoreResult<Vec<CustomSchemaRow>> {
        let rows = query(
            "SELECT schema_id, resource_type, required, doc FROM custom_schemas WHERE tenant_pk = $1 ORDER BY schema_id",
        )
        .bind(tenant_pk)
        .fetch_all(read)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            out.push(CustomSchemaRow {
                schema_id: r.try_get(0usize)?,
                resource_type: r.try_get(1usize)?,
                required: r.try_get(2usize)?,
                doc: r.try_get(3usize)?,
            });
        }
        Ok(out)
    }
}
