//! [`ReportStore`] on the SQL store: the tenant's reporting snapshot and the identities of its users,
//! read in one statement as one JSON array.

use super::{Pools, SqlStore};
use crate::store::db::{Backend, Lite, Pg, Sql};
use crate::store::report::{Identity, IdentityList, ReportStore, StoredSnapshot};
use crate::store::{StoreError, StoreResult};
use async_trait::async_trait;
use serde::Deserialize;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Row, Type, query, query_scalar};

#[derive(Deserialize)]
struct EmailView<'a> {
    #[serde(default)]
    value: Option<String>,
    #[serde(rename = "type", default, borrow)]
    kind: Option<&'a str>,
    #[serde(default)]
    primary: Option<bool>,
}

/// One user as the database returns it: externalId, displayName, userName, active, and
/// `[title, department, emails]` from the document.
#[derive(Deserialize)]
struct IdentityRow<'a>(String, Option<String>, String, Active, #[serde(borrow)] Three<'a>);

#[derive(Deserialize, Default)]
#[serde(default)]
struct Three<'a>(Option<String>, Option<String>, #[serde(borrow)] Option<Vec<EmailView<'a>>>);

/// `active`: a boolean on PostgreSQL, 0/1 on SQLite.
struct Active(bool);

impl<'de> Deserialize<'de> for Active {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(b) => Ok(Active(b)),
            serde_json::Value::Number(n) => Ok(Active(n.as_i64() != Some(0))),
            _ => Ok(Active(true)),
        }
    }
}

/// The work address of a SCIM `emails` array (else the primary one, else the first).
fn work_mail(v: &[EmailView]) -> Option<String> {
    v.iter()
        .find(|e| e.kind.is_some_and(|k| k.eq_ignore_ascii_case("work")))
        .or_else(|| v.iter().find(|e| e.primary == Some(true)))
        .or_else(|| v.first())
        .and_then(|e| e.value.clone())
}

#[async_trait]
impl ReportStore for SqlStore {
    async fn put_snapshot(&self, tenant: &str, s: StoredSnapshot) -> StoreResult<bool> {
        let tenant = tenant.to_owned();
        match &self.pools {
            Pools::Sqlite { writer, .. } => {
                writer.run(move |c| Box::pin(async move { Lite::put_snapshot(c, &tenant, &s).await })).await
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let v = Pg::put_snapshot(&mut tx, &tenant, &s).await?;
                tx.commit().await?;
                Ok(v)
            }
        }
    }

    async fn get_snapshot(&self, tenant: &str) -> StoreResult<Option<StoredSnapshot>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::get_snapshot(read, tenant).await,
            Pools::Postgres(pool) => Pg::get_snapshot(pool, tenant).await,
        }
    }

    async fn snapshot_loaded_at(&self, tenant: &str) -> StoreResult<Option<String>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::snapshot_loaded_at(read, tenant).await,
            Pools::Postgres(pool) => Pg::snapshot_loaded_at(pool, tenant).await,
        }
    }

    async fn identities(&self, tenant: &str) -> StoreResult<IdentityList> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::identities(read, tenant).await,
            Pools::Postgres(pool) => Pg::identities(pool, tenant).await,
        }
    }

    async fn last_seq(&self, tenant: &str) -> StoreResult<Option<i64>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::last_seq(read, tenant).await,
            Pools::Postgres(pool) => Pg::last_seq(pool, tenant).await,
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
    /// The write transaction of [`ReportStore::put_snapshot`].
    async fn put_snapshot(c: &mut DB::Connection, tenant: &str, s: &StoredSnapshot) -> StoreResult<bool> {
        let pk: Option<i64> =
            query_scalar("SELECT pk FROM tenants WHERE name = $1").bind(tenant).fetch_optional(&mut *c).await?;
        let Some(pk) = pk else { return Ok(false) };
        query(
            "INSERT INTO report_snapshots (tenant_pk, loaded_at, source, data) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_pk) DO UPDATE SET loaded_at = excluded.loaded_at, \
             source = excluded.source, data = excluded.data",
        )
        .bind(pk)
        .bind(&s.loaded_at)
        .bind(&s.source)
        .bind(&s.data)
        .execute(&mut *c)
        .await?;
        Ok(true)
    }

    async fn get_snapshot(read: &Pool<DB>, tenant: &str) -> StoreResult<Option<StoredSnapshot>> {
        let row = query(
            "SELECT r.loaded_at, r.source, r.data FROM report_snapshots r JOIN tenants t ON t.pk = r.tenant_pk \
             WHERE t.name = $1",
        )
        .bind(tenant)
        .fetch_optional(read)
        .await?;
        Ok(match row {
            Some(r) => Some(StoredSnapshot {
                loaded_at: r.try_get(0usize)?,
                source: r.try_get(1usize)?,
                data: r.try_get(2usize)?,
            }),
            None => None,
        })
    }

    async fn snapshot_loaded_at(read: &Pool<DB>, tenant: &str) -> StoreResult<Option<String>> {
        Ok(query_scalar(
            "SELECT r.loaded_at FROM report_snapshots r JOIN tenants t ON t.pk = r.tenant_pk WHERE t.name = $1",
        )
        .bind(tenant)
        .fetch_optional(read)
        .await?)
    }

    async fn identities(read: &Pool<DB>, tenant: &str) -> StoreResult<IdentityList> {
        let Some((pk, seq)): Option<(i64, i64)> = query("SELECT pk, last_seq FROM tenants WHERE name = $1")
            .bind(tenant)
            .fetch_optional(read)
            .await?
            .map(|r| Ok::<_, sqlx::Error>((r.try_get(0usize)?, r.try_get(1usize)?)))
            .transpose()?
        else {
            return Err(StoreError::NotFound(format!("tenant \"{tenant}\" not found")));
        };
        // The identity column holds the document fields the report shows (written with the
        // document); every user comes back in one JSON array: one row instead of one hand-off per user.
        let sql = if DB::POSTGRES {
            "SELECT coalesce(json_agg(json_build_array(external_id, display_name, user_name, active, \
             coalesce(identity, '[]')::json)), '[]')::text \
             FROM users WHERE tenant_pk = $1 AND external_id IS NOT NULL"
        } else {
            "SELECT json_group_array(json_array(external_id, display_name, user_name, active, \
             json(coalesce(identity, '[]')))) \
             FROM users WHERE tenant_pk = $1 AND external_id IS NOT NULL"
        };
        let all: Option<String> = query_scalar(sql).bind(pk).fetch_one(read).await?;
        let rows: Vec<IdentityRow> = serde_json::from_str(all.as_deref().unwrap_or("[]"))
            .map_err(|e| StoreError::Corrupt(format!("identities: {e}")))?;
        let out = rows
            .into_iter()
            .map(|IdentityRow(ext, display_name, user_name, active, Three(job_title, department, emails))| {
                let identity = Identity {
                    display_name,
                    user_principal_name: Some(user_name),
                    mail: emails.as_deref().and_then(work_mail),
                    department,
                    job_title,
                    account_enabled: active.0,
                };
                (ext, identity)
            })
            .collect();
        Ok((seq, out))
    }

    async fn last_seq(read: &Pool<DB>, tenant: &str) -> StoreResult<Option<i64>> {
        Ok(query_scalar("SELECT last_seq FROM tenants WHERE name = $1").bind(tenant).fetch_optional(read).await?)
    }
}
