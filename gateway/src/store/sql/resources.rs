//! [`ResourceStore`] on the SQL store: SCIM users and groups, their memberships and the change log.
//! Reads pick the backend's reader pool; writes run as one job in a PostgreSQL transaction ([`PgJob`])
//! or through the SQLite writer, which commits queued writes together (`sqlite/`).

use super::{PgJob, Pools, SqlStore};
use crate::scim::patch::MemberChange;
use crate::store::db::rows::{row_by_id, row_from, row_lookup, row_page, sel_count};
use crate::store::db::{Backend, IDS_PER_STATEMENT, Lite, Pg, Sql, check_version};
use crate::store::resources::precomputed;
use crate::store::sqlite::{JobOut, NewResource, UserUpdate};
use crate::store::{
    ChangeEvent, Evaluate, GroupView, Kind, Lookup, MemberPolicy, MemberView, ResourceStore, Row as StoredRow,
    StoreError, StoreResult, Stored, UpdateFn,
};
use async_trait::async_trait;
use serde_json::Value;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Row, Type, query, query_scalar};

#[async_trait]
impl ResourceStore for SqlStore {
    async fn get(&self, tenant: i64, kind: Kind, id: &str) -> StoreResult<Option<StoredRow>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::get(read, tenant, kind, id).await,
            Pools::Postgres(pool) => Pg::get(pool, tenant, kind, id).await,
        }
    }

    async fn lookup(&self, tenant: i64, kind: Kind, key: &Lookup) -> StoreResult<Vec<StoredRow>> {
        let Some((sql, value)) = row_lookup(kind, key) else {
            return Err(StoreError::Corrupt(format!("no index for {key:?} on {}", kind.as_str())));
        };
        if value.contains('\0') {
            // No stored value holds U+0000 (scim::limits refuses it), and PostgreSQL text cannot bind it.
            return Ok(Vec::new());
        }
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::lookup(read, tenant, sql.get(false), value).await,
            Pools::Postgres(pool) => Pg::lookup(pool, tenant, sql.get(true), value).await,
        }
    }

    async fn page(&self, tenant: i64, kind: Kind, offset: i64, limit: i64) -> StoreResult<(i64, Vec<StoredRow>)> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::page(read, tenant, kind, 0, offset, limit).await,
            Pools::Postgres(pool) => Pg::page(pool, tenant, kind, 0, offset, limit).await,
        }
    }

    async fn page_after(&self, tenant: i64, kind: Kind, after_pk: i64, limit: i64) -> StoreResult<Vec<StoredRow>> {
        let (_, rows) = match &self.pools {
            Pools::Sqlite { read, .. } => Lite::page(read, tenant, kind, after_pk, 0, limit).await?,
            Pools::Postgres(pool) => Pg::page(pool, tenant, kind, after_pk, 0, limit).await?,
        };
        Ok(rows)
    }

    async fn create(
        &self,
        tenant: i64,
        kind: Kind,
        doc: Value,
        members: Vec<MemberChange>,
        policy: MemberPolicy,
    ) -> StoreResult<Stored> {
        let out: StoreResult<_> = async {
            match &self.pools {
                Pools::Postgres(pool) => {
                    let mut job = PgJob::begin(pool, tenant).await?;
                    let out = Pg::job_create(&mut job.tx, &mut job.seq, tenant, kind, doc, members, policy).await?;
                    job.commit().await?;
                    Ok(out)
                }
                Pools::Sqlite { writer, .. } if members.is_empty() => {
                    stored_out(writer.create(NewResource { tenant, kind, doc }).await?)
                }
                Pools::Sqlite { writer, .. } => {
                    let out = writer
                        .submit(Box::new(move |c, seqs| {
                            Box::pin(async move {
                                let seq = seqs.get(c, tenant).await?;
                                Lite::job_create(c, seq, tenant, kind, doc, members, policy).await.map(JobOut::Stored)
                            })
                        }))
                        .await?;
                    stored_out(out)
                }
            }
        }
        .await;
        if out.is_ok() {
            self.changes.notify_one();
        }
        out
    }

    async fn update(
        &self,
        tenant: i64,
        kind: Kind,
        id: &str,
        if_match: Option<i64>,
        f: UpdateFn,
        evaluate: Evaluate,
    ) -> StoreResult<Stored> {
        let f = match evaluate {
            Evaluate::Inside => f,
            Evaluate::Outside => self.precompute(tenant, kind, id, if_match, f).await?,
        };
        let out: StoreResult<_> = async {
            match &self.pools {
                Pools::Postgres(pool) => {
                    let mut job = PgJob::begin(pool, tenant).await?;
                    let out = Pg::job_update(&mut job.tx, &mut job.seq, tenant, kind, id, if_match, &f).await?;
                    job.commit().await?;
                    Ok(out)
                }
                Pools::Sqlite { writer, .. } if kind == Kind::User => {
                    let update = UserUpdate { id: id.to_owned(), if_match, f };
                    stored_out(writer.update_user(tenant, update).await?)
                }
                Pools::Sqlite { writer, .. } => {
                    let update = UserUpdate { id: id.to_owned(), if_match, f };
                    stored_out(writer.update_group(tenant, update).await?)
                }
            }
        }
        .await;
        if out.is_ok() {
            self.changes.notify_one();
        }
        out
    }

    async fn delete(&self, tenant: i64, kind: Kind, id: &str, if_match: Option<i64>) -> StoreResult<()> {
        let out: StoreResult<_> = async {
            match &self.pools {
                Pools::Postgres(pool) => {
                    let mut job = PgJob::begin(pool, tenant).await?;
                    Pg::job_delete(&mut job.tx, &mut job.seq, tenant, kind, id, if_match).await?;
                    job.commit().await?;
                    Ok(())
                }
                Pools::Sqlite { writer, .. } => {
                    let id = id.to_owned();
                    writer
                        .submit(Box::new(move |c, seqs| {
                            Box::pin(async move {
                                let seq = seqs.get(c, tenant).await?;
                                Lite::job_delete(c, seq, tenant, kind, &id, if_match).await.map(|()| JobOut::Done)
                            })
                        }))
                        .await?;
                    Ok(())
                }
            }
        }
        .await;
        if out.is_ok() {
            self.changes.notify_one();
        }
        out
    }

    async fn members_of(&self, group_pks: &[i64]) -> StoreResult<Vec<(i64, MemberView)>> {
        if group_pks.is_empty() {
            return Ok(Vec::new());
        }
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::members_of(read, group_pks).await,
            Pools::Postgres(pool) => Pg::members_of(pool, group_pks).await,
        }
    }

    async fn groups_of(&self, user_pks: &[i64]) -> StoreResult<Vec<(i64, GroupView)>> {
        if user_pks.is_empty() {
            return Ok(Vec::new());
        }
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::groups_of(read, user_pks).await,
            Pools::Postgres(pool) => Pg::groups_of(pool, user_pks).await,
        }
    }

    async fn has_member(&self, tenant: i64, group_pk: i64, member_id: &str) -> StoreResult<bool> {
        if member_id.contains('\0') {
            return Ok(false);
        }
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::has_member(read, tenant, group_pk, member_id).await,
            Pools::Postgres(pool) => Pg::has_member(pool, tenant, group_pk, member_id).await,
        }
    }

    async fn changes(&self, tenant: i64, after_seq: i64, limit: i64) -> StoreResult<Vec<ChangeEvent>> {
        match &self.pools {
            Pools::Sqlite { read, .. } => Lite::changes(read, tenant, after_seq, limit).await,
            Pools::Postgres(pool) => Pg::changes(pool, tenant, after_seq, limit).await,
        }
    }
}

fn stored_out(out: JobOut) -> StoreResult<Stored> {
    match out {
        JobOut::Stored(s) => Ok(s),
        _ => Err(StoreError::Corrupt("write job returned no resource".into())),
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
    async fn get(read: &Pool<DB>, tenant: i64, kind: Kind, id: &str) -> StoreResult<Option<StoredRow>> {
        let sql = row_by_id(kind).get(DB::POSTGRES);
        let row = query(sql).bind(tenant).bind(id).fetch_optional(read).await?;
        row.as_ref().map(row_from).transpose()
    }

    async fn lookup(read: &Pool<DB>, tenant: i64, sql: &'static str, value: String) -> StoreResult<Vec<StoredRow>> {
        let rows = query(sql).bind(tenant).bind(value).fetch_all(read).await?;
        rows.iter().map(row_from).collect()
    }

    async fn page(
        read: &Pool<DB>,
        tenant: i64,
        kind: Kind,
        after_pk: i64,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(i64, Vec<StoredRow>)> {
        let sql = row_page(kind).get(DB::POSTGRES);
        let rows = if limit > 0 {
            query(sql).bind(tenant).bind(limit).bind(offset).bind(after_pk).fetch_all(read).await?
        } else {
            Vec::new()
        };
        let total: i64 = match rows.first() {
            Some(r) => r.try_get(7usize)?,
            // An empty page (count=0, or past the end) still reports the total.
            None => query_scalar(sel_count(kind)).bind(tenant).fetch_optional(read).await?.unwrap_or(0),
        };
        let items = rows.iter().map(row_from).collect::<StoreResult<Vec<_>>>()?;
        Ok((total, items))
    }

    async fn members_of(read: &Pool<DB>, group_pks: &[i64]) -> StoreResult<Vec<(i64, MemberView)>> {
        // One row per group with its members aggregated as JSON: on SQLite every row is a hand-off
        // from sqlx's connection thread, and a group has hundreds of members.
        let (head, tail) = if DB::POSTGRES {
            (
                "SELECT group_pk, json_agg(json_build_array(member_kind, member_id) ORDER BY added_seq, added_pos)::text \
                 FROM memberships WHERE group_pk IN (",
                ") GROUP BY group_pk ORDER BY group_pk",
            )
        } else {
            (
                "SELECT group_pk, json_group_array(json_array(member_kind, member_id)) FROM \
                 (SELECT group_pk, member_kind, member_id FROM memberships WHERE group_pk IN (",
                ") ORDER BY group_pk, added_seq, added_pos) GROUP BY group_pk ORDER BY group_pk",
            )
        };
        let mut rows = Vec::new();
        for chunk in group_pks.chunks(IDS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::<DB>::new(head);
            let mut sep = qb.separated(", ");
            for pk in chunk {
                sep.push_bind(*pk);
            }
            qb.push(tail);
            rows.extend(qb.build().persistent(false).fetch_all(read).await?);
        }
        let mut out = Vec::new();
        for r in rows {
            let group_pk: i64 = r.try_get(0usize)?;
            let list: String = r.try_get(1usize)?;
            let members: Vec<(String, String)> = serde_json::from_str(&list)?;
            out.extend(members.into_iter().map(|(kind, value)| {
                (group_pk, MemberView { value, kind: if kind == "Group" { Kind::Group } else { Kind::User } })
            }));
        }
        Ok(out)
    }

    async fn groups_of(read: &Pool<DB>, user_pks: &[i64]) -> StoreResult<Vec<(i64, GroupView)>> {
        let mut rows = Vec::new();
        for chunk in user_pks.chunks(IDS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "SELECT m.member_pk, g.id, g.display_name FROM memberships m JOIN groups g ON g.pk = m.group_pk \
                 WHERE m.member_kind = 'User' AND m.member_pk IN (",
            );
            let mut sep = qb.separated(", ");
            for pk in chunk {
                sep.push_bind(*pk);
            }
            qb.push(") ORDER BY m.member_pk, m.added_seq, m.added_pos");
            rows.extend(qb.build().persistent(false).fetch_all(read).await?);
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push((r.try_get(0usize)?, GroupView { value: r.try_get(1usize)?, display: r.try_get(2usize)? }));
        }
        Ok(out)
    }

    async fn has_member(read: &Pool<DB>, tenant: i64, group_pk: i64, member_id: &str) -> StoreResult<bool> {
        // Two primary-key probes: the member by (tenant, id), then the membership row.
        let hit: Option<i64> = query_scalar(
            "SELECT m.member_pk FROM memberships m WHERE m.group_pk = $1 AND ( \
             (m.member_kind = 'User' AND m.member_pk = (SELECT pk FROM users WHERE tenant_pk = $3 AND id = $2)) OR \
             (m.member_kind = 'Group' AND m.member_pk = (SELECT pk FROM groups WHERE tenant_pk = $3 AND id = $2))) \
             LIMIT 1",
        )
        .bind(group_pk)
        .bind(member_id)
        .bind(tenant)
        .fetch_optional(read)
        .await?;
        Ok(hit.is_some())
    }

    async fn changes(read: &Pool<DB>, tenant: i64, after_seq: i64, limit: i64) -> StoreResult<Vec<ChangeEvent>> {
        let rows = query(
            "SELECT seq, kind, resource_type, resource_id, payload, created_at FROM change_log \
             WHERE tenant_pk = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(tenant)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let payload: String = r.try_get(4usize)?;
            out.push(ChangeEvent {
                seq: r.try_get(0usize)?,
                kind: r.try_get(1usize)?,
                resource_type: r.try_get(2usize)?,
                resource_id: r.try_get(3usize)?,
                payload: serde_json::from_str(&payload)?,
                created_at: r.try_get(5usize)?,
            });
        }
        Ok(out)
    }
}

impl SqlStore {
    /// Computes an update against a snapshot read outside the write transaction, so a costly PATCH holds
    /// neither the SQLite writer every tenant shares nor this tenant's row lock on PostgreSQL. Inside the
    /// transaction the result is reused when the document is unchanged, else computed again (bounded by
    /// the caps of `scim::limits`); no retry loop. A client error (404, 412, 400) comes back from here.
    async fn precompute(
        &self,
        tenant: i64,
        kind: Kind,
        id: &str,
        if_match: Option<i64>,
        f: UpdateFn,
    ) -> StoreResult<UpdateFn> {
        let snapshot = match &self.pools {
            Pools::Sqlite { read, .. } => Lite::load(&mut *read.acquire().await?, tenant, kind, id).await?,
            Pools::Postgres(pool) => Pg::load(&mut *pool.acquire().await?, tenant, kind, id).await?,
        };
        let Some(snapshot) = snapshot else {
            return Err(StoreError::NotFound(format!("{} {id} not found", kind.as_str())));
        };
        check_version(&snapshot, if_match)?;
        precomputed(f, &snapshot)
    }
}
