//! The statements the SQLite writer applies to runs of queued jobs: creates of one kind with one
//! multi-row INSERT, updates of distinct users with one read and one write, group PATCHes that only add
//! users with a handful of statements whatever the run's length. Each item still fails alone for its
//! own client errors (404, 409, 412, 400); the change events go to the batch's [`SeqMap`].

use crate::scim::patch::{MemberChange, MemberRef};
use crate::store::changelog;
use crate::store::db::rows::{GROUPS_OF_TENANT, SQLITE_USERS_OF_TENANT, row_from};
use crate::store::db::{Lite, Seq, check_version, map_unique, user_name_taken};
use crate::store::resources::run_update;
use crate::store::{Keys, Kind, MemberPolicy, StoreError, StoreResult, Stored, UpdateFn, fold, now_rfc3339};
use serde_json::Value;
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// The member ids a fast path below takes in one statement (it binds each up to three times);
/// larger lists take the general path, which writes them in chunks.
const FAST_PATH_MAX_IDS: usize = 2_000;

/// A resource to create without memberships: consecutive ones in a batch become one multi-row INSERT.
pub struct NewResource {
    pub tenant: i64,
    pub kind: Kind,
    pub doc: Value,
}

/// An update of one user: consecutive ones of a tenant in a batch are read and written with one
/// statement each.
pub struct UserUpdate {
    pub id: String,
    pub if_match: Option<i64>,
    pub f: UpdateFn,
}

/// The change-log sequences of the tenants a SQLite write batch touches (loaded on first use).
#[derive(Default)]
pub(crate) struct SeqMap(HashMap<i64, Seq>);

/// Where a [`SeqMap`] stood before a unit of a batch ran (see [`SeqMap::mark`]).
pub(crate) struct SeqMark(Vec<(i64, i64, usize, i64, i64)>);

impl SeqMap {
    /// Remembers every tenant's position, so a unit rolled back to its savepoint leaves no events.
    pub(crate) fn mark(&self) -> SeqMark {
        SeqMark(self.0.iter().map(|(t, s)| (*t, s.next, s.events.len(), s.users, s.groups)).collect())
    }

    /// Forgets what was recorded after `mark` (tenants first touched since are read again when next used).
    pub(crate) fn reset(&mut self, mark: SeqMark) {
        let mut kept = HashMap::with_capacity(mark.0.len());
        for (tenant, next, len, users, groups) in mark.0 {
            if let Some(mut s) = self.0.remove(&tenant) {
                s.events.truncate(len);
                (s.next, s.users, s.groups) = (next, users, groups);
                kept.insert(tenant, s);
            }
        }
        self.0 = kept;
    }

    pub(crate) async fn get<'a>(&'a mut self, c: &mut sqlx::SqliteConnection, tenant: i64) -> StoreResult<&'a mut Seq> {
        match self.0.entry(tenant) {
            std::collections::hash_map::Entry::Occupied(o) => Ok(o.into_mut()),
            std::collections::hash_map::Entry::Vacant(v) => Ok(v.insert(Lite::begin_seq(c, tenant).await?)),
        }
    }
}

/// Inserts a run of new resources of one kind with one statement (SQLite group commit). A userName
/// already taken (by a stored user or an earlier one in the run) fails that item alone with 409.
pub(super) async fn insert_many(
    c: &mut sqlx::SqliteConnection,
    seqs: &mut SeqMap,
    kind: Kind,
    items: Vec<NewResource>,
) -> StoreResult<Vec<StoreResult<Stored>>> {
    let now = now_rfc3339();
    let ids: Vec<String> = items.iter().map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let texts: Vec<String> = items.iter().map(|n| n.doc.to_string()).collect();
    let keys: Vec<Keys> = items.iter().map(|n| Keys::of(kind, &n.doc)).collect();
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(match kind {
        Kind::User => {
            "INSERT INTO users (tenant_pk, id, user_name, user_name_lc, external_id, display_name, active, \
             identity, version, created, last_modified, doc) "
        }
        Kind::Group => {
            "INSERT INTO groups (tenant_pk, id, display_name, display_name_lc, external_id, version, created, \
             last_modified, doc) "
        }
    });
    qb.push_values(items.iter().enumerate(), |mut b, (i, n)| {
        let k = &keys[i];
        b.push_bind(n.tenant).push_bind(ids[i].clone());
        match kind {
            Kind::User => {
                b.push_bind(k.user_name.clone())
                    .push_bind(fold(&k.user_name))
                    .push_bind(k.external_id.clone())
                    .push_bind(k.display_name.clone())
                    .push_bind(k.active)
                    .push_bind(k.identity.clone());
            }
            Kind::Group => {
                let name = k.display_name.clone().unwrap_or_default();
                b.push_bind(name.clone()).push_bind(fold(&name)).push_bind(k.external_id.clone());
            }
        }
        b.push_bind(1i64).push_bind(now.clone()).push_bind(now.clone()).push_bind(texts[i].clone());
    });
    qb.push(" ON CONFLICT DO NOTHING RETURNING pk, id");
    let mut inserted: HashMap<String, i64> = HashMap::with_capacity(items.len());
    for row in qb.build().persistent(false).fetch_all(&mut *c).await? {
        inserted.insert(row.try_get(1usize)?, row.try_get(0usize)?);
    }
    let mut out = Vec::with_capacity(items.len());
    for ((n, id), k) in items.into_iter().zip(ids).zip(keys) {
        match inserted.get(&id) {
            Some(&pk) => {
                let seq = seqs.get(c, n.tenant).await?;
                seq.push(changelog::created(kind, &id, &n.doc));
                seq.count(kind, 1);
                out.push(Ok(Stored {
                    pk,
                    id,
                    version: 1,
                    created: now.clone(),
                    last_modified: now.clone(),
                    doc: n.doc,
                    groups: None,
                }));
            }
            None => out.push(Err(StoreError::Conflict(user_name_taken(&k.user_name)))),
        }
    }
    Ok(out)
}

/// Applies a run of user updates (distinct users of one tenant) with one read and one write statement
/// (SQLite group commit). Each item fails alone for its own client errors (404, 412, 400, 409).
pub(super) async fn update_users(
    c: &mut sqlx::SqliteConnection,
    seqs: &mut SeqMap,
    tenant: i64,
    items: Vec<UserUpdate>,
) -> StoreResult<Vec<StoreResult<Stored>>> {
    // 1. Read every user of the run (with their groups, which the responses need).
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(SQLITE_USERS_OF_TENANT.as_str());
    qb.push_bind(tenant).push(" AND id IN (");
    let mut sep = qb.separated(", ");
    for it in &items {
        sep.push_bind(it.id.clone());
    }
    qb.push(")");
    let mut current: HashMap<String, Stored> = HashMap::with_capacity(items.len());
    for row in qb.build().persistent(false).fetch_all(&mut *c).await? {
        let stored = row_from(&row)?.parse()?;
        current.insert(stored.id.clone(), stored);
    }
    // 2. Compute every update (the closures are pure).
    let mut results: Vec<Option<StoreResult<Stored>>> = Vec::with_capacity(items.len());
    let mut writes: Vec<(usize, Stored, Stored)> = Vec::new(); // (index, old, new)
    for (i, it) in items.iter().enumerate() {
        let Some(old) = current.remove(&it.id) else {
            results.push(Some(Err(StoreError::NotFound(format!("User {} not found", it.id)))));
            continue;
        };
        let computed = check_version(&old, it.if_match).and_then(|()| run_update(&it.f, &old));
        match computed {
            Err(e) => results.push(Some(Err(e))),
            Ok(update) if update.doc == old.doc => results.push(Some(Ok(old))),
            Ok(update) => {
                let new = Stored { doc: update.doc, ..old.clone() };
                writes.push((i, old, new));
                results.push(None);
            }
        }
    }
    // 3. Write them with one statement; if that hits a taken userName, write one by one so only the
    //    offending item fails.
    let now = now_rfc3339();
    let versions = if writes.is_empty() {
        HashMap::new()
    } else {
        match update_users_many(c, &writes, &now).await {
            Ok(v) => v,
            Err(e) if e.is_client_error() => {
                let mut v = HashMap::new();
                for (i, _, new) in &writes {
                    match Lite::update_resource(c, Kind::User, new.pk, &new.doc, &now).await {
                        Ok(version) => {
                            v.insert(new.pk, version);
                        }
                        Err(e) if e.is_client_error() => results[*i] = Some(Err(e)),
                        Err(e) => return Err(e),
                    }
                }
                v
            }
            Err(e) => return Err(e),
        }
    };
    // 4. Events and answers, in request order.
    for (i, old, mut new) in writes {
        if results[i].is_some() {
            continue;
        }
        let Some(&version) = versions.get(&new.pk) else {
            results[i] = Some(Err(StoreError::Corrupt("update returned no version".into())));
            continue;
        };
        new.version = version;
        new.last_modified = now.clone();
        let seq = seqs.get(c, tenant).await?;
        for ev in changelog::updated(Kind::User, &old.id, &old.doc, &new.doc) {
            seq.push(ev);
        }
        results[i] = Some(Ok(new));
    }
    Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(StoreError::Corrupt("update lost".into())))).collect())
}

/// One `UPDATE … FROM (VALUES …)` for many users; returns pk → new version.
async fn update_users_many(
    c: &mut sqlx::SqliteConnection,
    writes: &[(usize, Stored, Stored)],
    now: &str,
) -> StoreResult<HashMap<i64, i64>> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "UPDATE users SET user_name = v.column2, user_name_lc = v.column3, external_id = v.column4, \
         display_name = v.column5, active = v.column6, version = users.version + 1, last_modified = v.column7, \
         doc = v.column8, identity = v.column9 FROM (",
    );
    qb.push_values(writes.iter(), |mut b, (_, _, new)| {
        let k = Keys::of(Kind::User, &new.doc);
        b.push_bind(new.pk)
            .push_bind(k.user_name.clone())
            .push_bind(fold(&k.user_name))
            .push_bind(k.external_id)
            .push_bind(k.display_name)
            .push_bind(k.active)
            .push_bind(now.to_owned())
            .push_bind(new.doc.to_string())
            .push_bind(k.identity);
    });
    qb.push(") AS v WHERE users.pk = v.column1 RETURNING users.pk, users.version");
    let rows =
        qb.build().persistent(false).fetch_all(&mut *c).await.map_err(|e| map_unique(e, || user_name_taken("")))?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        out.insert(r.try_get::<i64, _>(0usize)?, r.try_get::<i64, _>(1usize)?);
    }
    Ok(out)
}

/// A group update on SQLite: the common Entra case, a PATCH that only adds users, takes one statement
/// round trip after the read instead of three; anything else goes the general way.
async fn update_group(
    c: &mut sqlx::SqliteConnection,
    seq: &mut Seq,
    tenant: i64,
    id: &str,
    if_match: Option<i64>,
    f: &UpdateFn,
) -> StoreResult<Stored> {
    let Some(old) = Lite::load(c, tenant, Kind::Group, id).await? else {
        return Err(StoreError::NotFound(format!("Group {id} not found")));
    };
    check_version(&old, if_match)?;
    let update = run_update(f, &old)?;
    if let ([MemberChange::Add(refs)], true, MemberPolicy::Reject) =
        (update.members.as_slice(), update.doc == old.doc, update.policy)
        && let Some(done) = add_users(c, seq, tenant, &old, refs).await?
    {
        return Ok(done);
    }
    Lite::apply_update(c, seq, tenant, Kind::Group, old, update).await
}

/// Applies a run of group updates of one tenant, in order. When every one of them only adds users of the
/// tenant (Entra's membership PATCHes), the whole run takes four statements whatever its length: read
/// the groups, check the ids, read which are members already, insert the new memberships (then bump the
/// versions). Otherwise each update is applied on its own, in order.
pub(super) async fn update_groups(
    c: &mut sqlx::SqliteConnection,
    seqs: &mut SeqMap,
    tenant: i64,
    items: Vec<UserUpdate>,
) -> StoreResult<Vec<StoreResult<Stored>>> {
    if items.len() > 1
        && let Some(results) = add_users_many(c, seqs, tenant, &items).await?
    {
        return Ok(results);
    }
    let mut out = Vec::with_capacity(items.len());
    for it in &items {
        let seq = seqs.get(c, tenant).await?;
        out.push(match update_group(c, seq, tenant, &it.id, it.if_match, &it.f).await {
            Err(e) if e.is_client_error() => Err(e),
            other => Ok(other?),
        });
    }
    Ok(out)
}

/// The batched form of [`add_users`]; None (nothing written) when the run is not only user adds of
/// known users.
async fn add_users_many(
    c: &mut sqlx::SqliteConnection,
    seqs: &mut SeqMap,
    tenant: i64,
    items: &[UserUpdate],
) -> StoreResult<Option<Vec<StoreResult<Stored>>>> {
    // 1. The groups, once each.
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(GROUPS_OF_TENANT.as_str());
    qb.push_bind(tenant).push(" AND id IN (");
    let mut sep = qb.separated(", ");
    for it in items {
        sep.push_bind(it.id.clone());
    }
    qb.push(")");
    let mut state: HashMap<String, Stored> = HashMap::new();
    for row in qb.build().persistent(false).fetch_all(&mut *c).await? {
        let s = row_from(&row)?.parse()?;
        state.insert(s.id.clone(), s);
    }
    // 2. Every update must be "add these ids" and nothing else (computed against the group as it will be).
    enum Plan {
        Fail(StoreError),
        Add(Vec<String>),
    }
    let mut plans = Vec::with_capacity(items.len());
    let mut all_ids: Vec<String> = Vec::new();
    let mut seen_ids = HashSet::new();
    for it in items {
        let Some(old) = state.get(&it.id) else {
            plans.push(Plan::Fail(StoreError::NotFound(format!("Group {} not found", it.id))));
            continue;
        };
        // A version check inside a run would depend on the bumps before it: take the general path.
        if it.if_match.is_some() {
            return Ok(None);
        }
        match run_update(&it.f, old) {
            Err(e) => plans.push(Plan::Fail(e)),
            Ok(update) => match (update.members.as_slice(), update.doc == old.doc, update.policy) {
                ([MemberChange::Add(refs)], true, MemberPolicy::Reject) => {
                    let mut mine = HashSet::new();
                    let ids: Vec<String> =
                        refs.iter().map(|r| r.value.clone()).filter(|v| mine.insert(v.clone())).collect();
                    for id in &ids {
                        if seen_ids.insert(id.clone()) {
                            all_ids.push(id.clone());
                        }
                    }
                    plans.push(Plan::Add(ids));
                }
                _ => return Ok(None),
            },
        }
    }
    if all_ids.len() > FAST_PATH_MAX_IDS {
        return Ok(None);
    }
    // 3. Every id must be a user of the tenant (else the general path explains which one is not).
    let users = Lite::resolve(c, tenant, &all_ids).await?;
    if all_ids.iter().any(|id| users.get(id).is_none_or(|r| r.kind != Kind::User)) {
        return Ok(None);
    }
    // 4. Who is a member already.
    let group_pks: Vec<i64> = state.values().map(|g| g.pk).collect();
    let mut present: HashSet<(i64, String)> = HashSet::new();
    if !all_ids.is_empty() {
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT group_pk, member_id FROM memberships WHERE member_kind = 'User' AND group_pk IN (",
        );
        let mut sep = qb.separated(", ");
        for pk in &group_pks {
            sep.push_bind(*pk);
        }
        qb.push(") AND member_id IN (");
        let mut sep = qb.separated(", ");
        for id in &all_ids {
            sep.push_bind(id.clone());
        }
        qb.push(")");
        for row in qb.build().persistent(false).fetch_all(&mut *c).await? {
            present.insert((row.try_get(0usize)?, row.try_get(1usize)?));
        }
    }
    // 5. Replay the run in order: new members, events, versions.
    let now = now_rfc3339();
    let seq = seqs.get(c, tenant).await?;
    let mut rows: Vec<(i64, String, i64, i64, i64)> = Vec::new(); // group_pk, member_id, member_pk, seq, pos
    let mut bumps: HashMap<i64, i64> = HashMap::new();
    let mut results = Vec::with_capacity(items.len());
    for (it, plan) in items.iter().zip(plans) {
        let ids = match plan {
            Plan::Fail(e) => {
                results.push(Err(e));
                continue;
            }
            Plan::Add(ids) => ids,
        };
        let Some(group) = state.get_mut(&it.id) else {
            results.push(Err(StoreError::NotFound(format!("Group {} not found", it.id))));
            continue;
        };
        let new: Vec<String> = ids.into_iter().filter(|id| present.insert((group.pk, id.clone()))).collect();
        if !new.is_empty() {
            let list: Vec<(String, Kind)> = new.iter().map(|id| (id.clone(), Kind::User)).collect();
            let event_seq = seq.push(changelog::members(true, &group.id, &list));
            for (pos, id) in new.into_iter().enumerate() {
                let pk = users.get(&id).map(|r| r.pk).unwrap_or_default();
                rows.push((group.pk, id, pk, event_seq, pos as i64));
            }
            *bumps.entry(group.pk).or_default() += 1;
            group.version += 1;
            group.last_modified = now.clone();
        }
        results.push(Ok(group.clone()));
    }
    // 6. One insert for all new memberships, one update for all versions.
    for chunk in rows.chunks(2000) {
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO memberships (group_pk, member_kind, member_id, member_pk, added_seq, added_pos, added_at) ",
        );
        qb.push_values(chunk.iter(), |mut b, (g, id, pk, s, pos)| {
            b.push_bind(*g)
                .push_bind("User")
                .push_bind(id.clone())
                .push_bind(*pk)
                .push_bind(*s)
                .push_bind(*pos)
                .push_bind(now.clone());
        });
        qb.build().persistent(false).execute(&mut *c).await?;
    }
    if !bumps.is_empty() {
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "UPDATE groups SET version = version + v.column2, last_modified = ",
        );
        qb.push_bind(now.clone()).push(" FROM (");
        qb.push_values(bumps.iter(), |mut b, (pk, n)| {
            b.push_bind(*pk).push_bind(*n);
        });
        qb.push(") AS v WHERE groups.pk = v.column1");
        qb.build().persistent(false).execute(&mut *c).await?;
    }
    Ok(Some(results))
}

/// Adds users to a group with one round trip: a conditional INSERT … SELECT that writes only if every id
/// is a user of the tenant, and the group's version bump when rows were added. None (nothing written)
/// when some id is not a user (unknown, or a group): the caller takes the general path, which says why.
async fn add_users(
    c: &mut sqlx::SqliteConnection,
    seq: &mut Seq,
    tenant: i64,
    group: &Stored,
    refs: &[MemberRef],
) -> StoreResult<Option<Stored>> {
    let mut seen = HashSet::new();
    let ids: Vec<&str> = refs.iter().map(|r| r.value.as_str()).filter(|v| seen.insert(*v)).collect();
    if ids.is_empty() {
        return Ok(Some(group.clone()));
    }
    if ids.len() > FAST_PATH_MAX_IDS {
        return Ok(None);
    }
    let event_seq = seq.next + 1;
    let now = now_rfc3339();
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO memberships (group_pk, member_kind, member_id, member_pk, added_seq, added_pos, added_at) SELECT ",
    );
    qb.push_bind(group.pk).push(", 'User', u.id, u.pk, ").push_bind(event_seq).push(", v.column2, ");
    qb.push_bind(now.clone()).push(" FROM (");
    qb.push_values(ids.iter().enumerate(), |mut b, (pos, id)| {
        b.push_bind((*id).to_owned()).push_bind(pos as i64);
    });
    qb.push(") AS v JOIN users u ON u.tenant_pk = ").push_bind(tenant).push(" AND u.id = v.column1");
    qb.push(" WHERE (SELECT COUNT(*) FROM users WHERE tenant_pk = ").push_bind(tenant).push(" AND id IN (");
    let mut sep = qb.separated(", ");
    for id in &ids {
        sep.push_bind((*id).to_owned());
    }
    qb.push(")) = ").push_bind(ids.len() as i64);
    qb.push(" ORDER BY v.column2 ON CONFLICT DO NOTHING; ");
    qb.push("UPDATE groups SET version = version + 1, last_modified = ").push_bind(now.clone());
    qb.push(" WHERE pk = ").push_bind(group.pk).push(" AND changes() > 0 RETURNING version; ");
    // The ids this statement added (they alone carry this event's sequence number), as one row.
    qb.push("SELECT json_group_array(member_id) FROM memberships WHERE group_pk = ").push_bind(group.pk);
    qb.push(" AND added_seq = ").push_bind(event_seq);
    let mut added: HashSet<String> = HashSet::new();
    let mut version = None;
    for row in qb.build().persistent(false).fetch_all(&mut *c).await? {
        match row.try_get::<i64, _>(0usize) {
            Ok(v) => version = Some(v),
            Err(_) => added.extend(serde_json::from_str::<Vec<String>>(&row.try_get::<String, _>(0usize)?)?),
        }
    }
    let Some(version) = version else {
        // Nothing inserted: every id was already a member (then this is the answer), or some id is not
        // a user (then the general path must say so).
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT COUNT(*) FROM memberships WHERE group_pk = ");
        qb.push_bind(group.pk).push(" AND member_kind = 'User' AND member_id IN (");
        let mut sep = qb.separated(", ");
        for id in &ids {
            sep.push_bind((*id).to_owned());
        }
        qb.push(")");
        let present: i64 = qb.build_query_scalar().persistent(false).fetch_one(&mut *c).await?;
        return Ok((present == ids.len() as i64).then(|| group.clone()));
    };
    let list: Vec<(String, Kind)> =
        ids.iter().filter(|id| added.contains(**id)).map(|id| ((*id).to_owned(), Kind::User)).collect();
    seq.push(changelog::members(true, &group.id, &list));
    Ok(Some(Stored { version, last_modified: now, ..group.clone() }))
}

/// Appends a SQLite batch's change events and stores each tenant's new last sequence number.
pub(super) async fn finish(c: &mut sqlx::SqliteConnection, seqs: SeqMap) -> StoreResult<()> {
    for (tenant, seq) in seqs.0 {
        Lite::finish_seq(c, tenant, seq).await?;
    }
    Ok(())
}
