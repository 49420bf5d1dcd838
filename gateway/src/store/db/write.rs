//! The steps of a SCIM write inside its transaction, on either database: the change-log sequence (lock,
//! append), member resolution and changes, and the create / update / delete jobs. Client errors
//! (unknown members, a taken userName, a failed If-Match) surface before the job writes anything.

use super::rows::{sel_by_id, stored_from_row};
use super::{Backend, Resolved, Seq, Sql, check_version, map_unique, push_member_event, user_name_taken};
use crate::scim::patch::{MemberChange, MemberRef};
use crate::store::changelog;
use crate::store::{Keys, Kind, MemberPolicy, StoreError, StoreResult, Stored, Update, UpdateFn, fold, now_rfc3339};
use serde_json::Value;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type, query, query_scalar};
use std::collections::{HashMap, HashSet};

/// Rows per multi-row INSERT and ids per `IN (…)` list. SQLite allows 32,766 bound values per
/// statement and PostgreSQL 65,535; a member row binds 7 and a change-log row 7, so 1,000 rows stay
/// far below both, and a group of any size is written in as many statements as it takes.
pub(crate) const ROWS_PER_STATEMENT: usize = 1_000;
pub(crate) const IDS_PER_STATEMENT: usize = 5_000;

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
    /// Locks the tenant row and returns its last change-log sequence number.
    pub(crate) async fn begin_seq(c: &mut DB::Connection, tenant: i64) -> StoreResult<Seq> {
        let last: Option<i64> = query_scalar("UPDATE tenants SET last_seq = last_seq WHERE pk = $1 RETURNING last_seq")
            .bind(tenant)
            .fetch_optional(&mut *c)
            .await?;
        let last = last.ok_or_else(|| StoreError::NotFound("tenant not found".into()))?;
        Ok(Seq { next: last, events: Vec::new(), users: 0, groups: 0 })
    }

    /// Appends the collected events and stores the new last sequence number.
    pub(crate) async fn finish_seq(c: &mut DB::Connection, tenant: i64, seq: Seq) -> StoreResult<()> {
        if seq.events.is_empty() {
            return Ok(());
        }
        let now = now_rfc3339();
        for chunk in seq.events.chunks(ROWS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO change_log (tenant_pk, seq, kind, resource_type, resource_id, payload, created_at) ",
            );
            qb.push_values(chunk.iter(), |mut b, (s, ev)| {
                b.push_bind(tenant)
                    .push_bind(*s)
                    .push_bind(ev.kind.as_str())
                    .push_bind(ev.resource_type.as_str())
                    .push_bind(ev.resource_id.clone())
                    .push_bind(ev.payload.to_string())
                    .push_bind(now.clone());
            });
            qb.build().persistent(false).execute(&mut *c).await?;
        }
        query(
            "UPDATE tenants SET last_seq = $2, user_count = user_count + $3, group_count = group_count + $4 \
             WHERE pk = $1",
        )
        .bind(tenant)
        .bind(seq.next)
        .bind(seq.users)
        .bind(seq.groups)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    /// Resolves member ids (users first, then groups), [`IDS_PER_STATEMENT`] ids per statement.
    /// Unknown ids are left out; the caller decides whether that is an error.
    pub(crate) async fn resolve(
        c: &mut DB::Connection,
        tenant: i64,
        ids: &[String],
    ) -> StoreResult<HashMap<String, Resolved>> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        for (kind, table) in [(Kind::User, "users"), (Kind::Group, "groups")] {
            // An id with U+0000 names nothing (and PostgreSQL text cannot bind it): left out, unknown.
            let pending: Vec<&String> = ids.iter().filter(|i| !out.contains_key(*i) && !i.contains('\0')).collect();
            if pending.is_empty() {
                break;
            }
            for chunk in pending.chunks(IDS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::<DB>::new(if table == "users" {
                    "SELECT pk, id FROM users WHERE tenant_pk = "
                } else {
                    "SELECT pk, id FROM groups WHERE tenant_pk = "
                });
                qb.push_bind(tenant).push(" AND id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind((*id).clone());
                }
                qb.push(")");
                for row in qb.build().persistent(false).fetch_all(&mut *c).await? {
                    let pk: i64 = row.try_get(0usize)?;
                    let id: String = row.try_get(1usize)?;
                    out.insert(id.clone(), Resolved { id, kind, pk });
                }
            }
        }
        Ok(out)
    }

    /// Current members of a group, in order of addition.
    async fn current_members(c: &mut DB::Connection, group_pk: i64) -> StoreResult<Vec<Resolved>> {
        let rows = query(
            "SELECT member_kind, member_pk, member_id FROM memberships WHERE group_pk = $1 \
             ORDER BY added_seq, added_pos",
        )
        .bind(group_pk)
        .fetch_all(&mut *c)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind: String = r.try_get(0usize)?;
            out.push(Resolved {
                kind: if kind == "Group" { Kind::Group } else { Kind::User },
                pk: r.try_get(1usize)?,
                id: r.try_get(2usize)?,
            });
        }
        Ok(out)
    }

    /// Resolves every member id a list of changes names, in one statement per kind, and checks the
    /// unknown ones against the policy. Runs before any write of the job: a rejected request
    /// leaves nothing behind (the SQLite group commit relies on that).
    async fn prepare_members(
        c: &mut DB::Connection,
        tenant: i64,
        group_pk: Option<i64>,
        changes: &[MemberChange],
        policy: MemberPolicy,
    ) -> StoreResult<HashMap<String, Resolved>> {
        let mut ids: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        let mut added: Vec<&str> = Vec::new();
        for change in changes {
            let (list, adds): (Vec<&str>, bool) = match change {
                MemberChange::Add(refs) | MemberChange::Replace(refs) => {
                    (refs.iter().map(|r| r.value.as_str()).collect(), true)
                }
                MemberChange::Remove(list) => (list.iter().map(String::as_str).collect(), false),
                MemberChange::RemoveAll => (Vec::new(), false),
            };
            for id in list {
                if adds {
                    added.push(id);
                }
                if seen.insert(id) {
                    ids.push(id.to_owned());
                }
            }
        }
        let resolved = Self::resolve(c, tenant, &ids).await?;
        let unknown: Vec<&&str> = added.iter().filter(|i| !resolved.contains_key(**i)).collect();
        if let Some(missing) = unknown.first() {
            if policy == MemberPolicy::Reject {
                return Err(StoreError::Invalid(format!("member \"{missing}\" is not a user or group of this tenant")));
            }
            metrics::counter!("scim_unknown_members_skipped_total").increment(unknown.len() as u64);
        }
        if let Some(gpk) = group_pk
            && let Some(r) =
                added.iter().filter_map(|i| resolved.get(*i)).find(|r| r.kind == Kind::Group && r.pk == gpk)
        {
            return Err(StoreError::Invalid(format!("group \"{}\" cannot be a member of itself", r.id)));
        }
        Ok(resolved)
    }

    /// Adds members in request order; duplicates, existing members and (under the ignore policy)
    /// unknown ids are skipped. [`ROWS_PER_STATEMENT`] rows per statement.
    async fn add_members(
        c: &mut DB::Connection,
        group: &Stored,
        refs: &[MemberRef],
        resolved: &HashMap<String, Resolved>,
        seq: &mut Seq,
    ) -> StoreResult<()> {
        let mut seen = HashSet::new();
        let ordered: Vec<&Resolved> =
            refs.iter().filter(|r| seen.insert(r.value.as_str())).filter_map(|r| resolved.get(&r.value)).collect();
        if ordered.is_empty() {
            return Ok(());
        }
        let event_seq = seq.next + 1;
        let now = now_rfc3339();
        let mut added = HashSet::new();
        for (n, chunk) in ordered.chunks(ROWS_PER_STATEMENT).enumerate() {
            let first = n * ROWS_PER_STATEMENT;
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO memberships (group_pk, member_kind, member_id, member_pk, added_seq, added_pos, added_at) ",
            );
            qb.push_values(chunk.iter().enumerate(), |mut b, (pos, r)| {
                b.push_bind(group.pk)
                    .push_bind(r.kind.as_str())
                    .push_bind(r.id.clone())
                    .push_bind(r.pk)
                    .push_bind(event_seq)
                    .push_bind((first + pos) as i64)
                    .push_bind(now.clone());
            });
            qb.push(" ON CONFLICT DO NOTHING RETURNING member_kind, member_pk");
            for row in qb.build().persistent(false).fetch_all(&mut *c).await? {
                let k: String = row.try_get(0usize)?;
                let pk: i64 = row.try_get(1usize)?;
                added.insert((k, pk));
            }
        }
        let done = ordered.into_iter().filter(|r| added.contains(&(r.kind.as_str().to_owned(), r.pk)));
        push_member_event(seq, true, group, done);
        Ok(())
    }

    /// Removes the given members (unknown ids and non-members are ignored).
    async fn remove_members(
        c: &mut DB::Connection,
        group: &Stored,
        targets: &[&Resolved],
        seq: &mut Seq,
    ) -> StoreResult<()> {
        let mut removed = HashSet::new();
        for kind in [Kind::User, Kind::Group] {
            let pks: Vec<i64> = targets.iter().filter(|r| r.kind == kind).map(|r| r.pk).collect();
            for chunk in pks.chunks(IDS_PER_STATEMENT) {
                let mut qb = sqlx::QueryBuilder::<DB>::new("DELETE FROM memberships WHERE group_pk = ");
                qb.push_bind(group.pk).push(" AND member_kind = ").push_bind(kind.as_str()).push(" AND member_pk IN (");
                let mut sep = qb.separated(", ");
                for pk in chunk {
                    sep.push_bind(*pk);
                }
                qb.push(") RETURNING member_pk");
                for row in qb.build().persistent(false).fetch_all(&mut *c).await? {
                    let pk: i64 = row.try_get(0usize)?;
                    removed.insert((kind, pk));
                }
            }
        }
        let mut seen = HashSet::new();
        let done = targets.iter().copied().filter(|r| removed.contains(&(r.kind, r.pk)) && seen.insert((r.kind, r.pk)));
        push_member_event(seq, false, group, done);
        Ok(())
    }

    /// Applies membership changes in order, with ids resolved by [`Self::prepare_members`].
    async fn apply_member_changes(
        c: &mut DB::Connection,
        group: &Stored,
        changes: Vec<MemberChange>,
        resolved: &HashMap<String, Resolved>,
        seq: &mut Seq,
    ) -> StoreResult<()> {
        for change in changes {
            match change {
                MemberChange::Add(refs) => Self::add_members(c, group, &refs, resolved, seq).await?,
                MemberChange::Remove(ids) => {
                    let targets: Vec<&Resolved> = ids.iter().filter_map(|i| resolved.get(i)).collect();
                    Self::remove_members(c, group, &targets, seq).await?;
                }
                MemberChange::RemoveAll => {
                    let current = Self::current_members(c, group.pk).await?;
                    Self::remove_members(c, group, &current.iter().collect::<Vec<_>>(), seq).await?;
                }
                MemberChange::Replace(refs) => {
                    let wanted: HashSet<&str> = refs.iter().map(|r| r.value.as_str()).collect();
                    let current = Self::current_members(c, group.pk).await?;
                    let gone: Vec<&Resolved> = current.iter().filter(|r| !wanted.contains(r.id.as_str())).collect();
                    Self::remove_members(c, group, &gone, seq).await?;
                    Self::add_members(c, group, &refs, resolved, seq).await?;
                }
            }
        }
        Ok(())
    }

    /// Creates a resource. Client errors (unknown members, a taken userName) surface before anything
    /// is written.
    pub(crate) async fn job_create(
        c: &mut DB::Connection,
        seq: &mut Seq,
        tenant: i64,
        kind: Kind,
        doc: Value,
        members: Vec<MemberChange>,
        policy: MemberPolicy,
    ) -> StoreResult<Stored> {
        let resolved = if kind == Kind::Group && !members.is_empty() {
            Self::prepare_members(c, tenant, None, &members, policy).await?
        } else {
            HashMap::new()
        };
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_rfc3339();
        let pk = Self::insert_resource(c, tenant, kind, &id, &doc, &now).await?;
        seq.push(changelog::created(kind, &id, &doc));
        seq.count(kind, 1);
        let stored = Stored { pk, id, version: 1, created: now.clone(), last_modified: now, doc, groups: None };
        if kind == Kind::Group && !members.is_empty() {
            Self::apply_member_changes(c, &stored, members, &resolved, seq).await?;
        }
        Ok(stored)
    }

    /// Writes `update`, computed from `old` inside this transaction. Client errors (unknown members,
    /// a taken userName) come before any write.
    pub(crate) async fn apply_update(
        c: &mut DB::Connection,
        seq: &mut Seq,
        tenant: i64,
        kind: Kind,
        old: Stored,
        update: Update,
    ) -> StoreResult<Stored> {
        let resolved = if kind == Kind::Group && !update.members.is_empty() {
            Self::prepare_members(c, tenant, Some(old.pk), &update.members, update.policy).await?
        } else {
            HashMap::new()
        };
        let now = now_rfc3339();
        let doc_events = changelog::updated(kind, &old.id, &old.doc, &update.doc);
        let doc_changed = update.doc != old.doc;
        let mut stored = Stored { doc: update.doc, ..old };
        if doc_changed {
            // The only write that can fail for the client (a taken userName): it comes first.
            stored.version = Self::update_resource(c, kind, stored.pk, &stored.doc, &now).await?;
            stored.last_modified = now.clone();
        }
        for ev in doc_events {
            seq.push(ev);
        }
        let before = seq.events.len();
        if kind == Kind::Group && !update.members.is_empty() {
            Self::apply_member_changes(c, &stored, update.members, &resolved, seq).await?;
        }
        if seq.events.len() > before && !doc_changed {
            stored.version = Self::touch_group(c, stored.pk, &now).await?;
            stored.last_modified = now;
        }
        Ok(stored)
    }

    /// Read-modify-write of one resource, inside the write transaction (PostgreSQL; SQLite updates go
    /// through the writer's batches).
    pub(crate) async fn job_update(
        c: &mut DB::Connection,
        seq: &mut Seq,
        tenant: i64,
        kind: Kind,
        id: &str,
        if_match: Option<i64>,
        f: &UpdateFn,
    ) -> StoreResult<Stored> {
        let Some(old) = Self::load(c, tenant, kind, id).await? else {
            return Err(StoreError::NotFound(format!("{} {id} not found", kind.as_str())));
        };
        check_version(&old, if_match)?;
        let update = crate::store::resources::run_update(f, &old)?;
        Self::apply_update(c, seq, tenant, kind, old, update).await
    }

    /// Deletes a resource and its memberships (as member and, for groups, as owner).
    pub(crate) async fn job_delete(
        c: &mut DB::Connection,
        seq: &mut Seq,
        tenant: i64,
        kind: Kind,
        id: &str,
        if_match: Option<i64>,
    ) -> StoreResult<()> {
        let Some(old) = Self::load(c, tenant, kind, id).await? else {
            return Err(StoreError::NotFound(format!("{} {id} not found", kind.as_str())));
        };
        check_version(&old, if_match)?;
        query("DELETE FROM memberships WHERE member_kind = $1 AND member_pk = $2")
            .bind(kind.as_str())
            .bind(old.pk)
            .execute(&mut *c)
            .await?;
        let del = match kind {
            Kind::User => "DELETE FROM users WHERE pk = $1",
            Kind::Group => "DELETE FROM groups WHERE pk = $1",
        };
        query(del).bind(old.pk).execute(&mut *c).await?;
        seq.push(changelog::deleted(kind, &old.id));
        seq.count(kind, -1);
        Ok(())
    }

    async fn insert_resource(
        c: &mut DB::Connection,
        tenant: i64,
        kind: Kind,
        id: &str,
        doc: &Value,
        now: &str,
    ) -> StoreResult<i64> {
        let keys = Keys::of(kind, doc);
        let text = doc.to_string();
        let pk: Option<i64> = match kind {
            Kind::User => {
                query_scalar(
                    "INSERT INTO users (tenant_pk, id, user_name, user_name_lc, external_id, display_name, active, \
                 version, created, last_modified, doc, identity) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9, $10) \
                 ON CONFLICT DO NOTHING RETURNING pk",
                )
                .bind(tenant)
                .bind(id)
                .bind(&keys.user_name)
                .bind(fold(&keys.user_name))
                .bind(&keys.external_id)
                .bind(&keys.display_name)
                .bind(keys.active)
                .bind(now)
                .bind(&text)
                .bind(&keys.identity)
                .fetch_optional(&mut *c)
                .await?
            }
            Kind::Group => {
                let name = keys.display_name.clone().unwrap_or_default();
                query_scalar(
                    "INSERT INTO groups (tenant_pk, id, display_name, display_name_lc, external_id, version, \
                     created, last_modified, doc) VALUES ($1, $2, $3, $4, $5, 1, $6, $6, $7) \
                     ON CONFLICT DO NOTHING RETURNING pk",
                )
                .bind(tenant)
                .bind(id)
                .bind(&name)
                .bind(fold(&name))
                .bind(&keys.external_id)
                .bind(now)
                .bind(&text)
                .fetch_optional(&mut *c)
                .await?
            }
        };
        pk.ok_or_else(|| StoreError::Conflict(user_name_taken(&keys.user_name)))
    }

    pub(crate) async fn update_resource(
        c: &mut DB::Connection,
        kind: Kind,
        pk: i64,
        doc: &Value,
        now: &str,
    ) -> StoreResult<i64> {
        let keys = Keys::of(kind, doc);
        let text = doc.to_string();
        let version: i64 = match kind {
            Kind::User => query_scalar(
                "UPDATE users SET user_name = $2, user_name_lc = $3, external_id = $4, display_name = $5, \
                 active = $6, version = version + 1, last_modified = $7, doc = $8, identity = $9 \
                 WHERE pk = $1 RETURNING version",
            )
            .bind(pk)
            .bind(&keys.user_name)
            .bind(fold(&keys.user_name))
            .bind(&keys.external_id)
            .bind(&keys.display_name)
            .bind(keys.active)
            .bind(now)
            .bind(&text)
            .bind(&keys.identity)
            .fetch_one(&mut *c)
            .await
            .map_err(|e| map_unique(e, || user_name_taken(&keys.user_name)))?,
            Kind::Group => {
                let name = keys.display_name.clone().unwrap_or_default();
                query_scalar(
                    "UPDATE groups SET display_name = $2, display_name_lc = $3, external_id = $4, \
                     version = version + 1, last_modified = $5, doc = $6 WHERE pk = $1 RETURNING version",
                )
                .bind(pk)
                .bind(&name)
                .bind(fold(&name))
                .bind(&keys.external_id)
                .bind(now)
                .bind(&text)
                .fetch_one(&mut *c)
                .await?
            }
        };
        Ok(version)
    }

    async fn touch_group(c: &mut DB::Connection, pk: i64, now: &str) -> StoreResult<i64> {
        Ok(query_scalar("UPDATE groups SET version = version + 1, last_modified = $2 WHERE pk = $1 RETURNING version")
            .bind(pk)
            .bind(now)
            .fetch_one(&mut *c)
            .await?)
    }

    pub(crate) async fn load(c: &mut DB::Connection, tenant: i64, kind: Kind, id: &str) -> StoreResult<Option<Stored>> {
        let row = query(sel_by_id(kind)).bind(tenant).bind(id).fetch_optional(&mut *c).await?;
        row.as_ref().map(stored_from_row).transpose()
    }
}
