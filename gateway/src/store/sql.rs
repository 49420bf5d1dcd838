//! The SQL store, one implementation for SQLite and PostgreSQL. The statements are written once with
//! `$N` placeholders, which both drivers understand; `dispatch!` instantiates each method body for the
//! backend in use. SQLite gets a single-connection writer pool (writers serialise anyway; this avoids
//! `SQLITE_BUSY` upgrades) beside a reader pool; PostgreSQL uses one pool and row locks on the tenant to
//! keep the per-tenant change log gap-free and ordered.

use super::changelog::{self, NewEvent};
use super::writer::{JobOut, NewResource, UserUpdate, Writer};
use super::{
    BoxFut, ChangeEvent, CustomSchemaRow, GroupView, Keys, Kind, Lookup, MemberPolicy, MemberView, ResourceStore,
    Row as StoredRow, Store, StoreError, StoreResult, Stored, TenantAuth, TenantRow, TenantStore, TenantSummary,
    UpdateFn, fold, now_rfc3339,
};
use crate::scim::error::ScimError;
use crate::scim::patch::{MemberChange, MemberRef};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, query, query_scalar};
use std::collections::{HashMap, HashSet};
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
}

/// Runs `$body` with `$read`/`$write` bound to the backend's pools and `$db` naming its sqlx database.
macro_rules! dispatch {
    ($self:ident, $read:ident, $write:ident, $db:ident => $body:block) => {
        match &$self.pools {
            Pools::Sqlite { read: $read, write: $write, .. } => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                $body
            }
            Pools::Postgres(pool) => {
                #[allow(unused_variables)]
                let ($read, $write) = (pool, pool);
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                $body
            }
        }
    };
}

/// Opens the database named by `url` (`sqlite://path`, `sqlite::memory:`, `postgres://…`) and migrates it.
pub async fn connect(url: &str) -> StoreResult<super::DynStore> {
    connect_with(url, 16).await
}

/// As [`connect`], with at most `max_connections` PostgreSQL connections (SQLite readers: at most 4).
pub async fn connect_with(url: &str, max_connections: u32) -> StoreResult<super::DynStore> {
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
        // The writer never checkpoints inline (a commit that checkpoints stalls every write queued behind
        // it); a background task checkpoints passively instead. In-memory databases have no WAL.
        let write_opts = if memory { opts.clone() } else { opts.clone().pragma("wal_autocheckpoint", "0") };
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
    let store =
        SqlStore { pools, changes: Arc::new(tokio::sync::Notify::new()), outbox: Arc::new(tokio::sync::Notify::new()) };
    if let (Pools::Postgres(pool), Some(listen_pool)) = (&store.pools, listener) {
        delivery::listen(pool.clone(), listen_pool, store.changes.clone(), store.outbox.clone());
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

fn stored_from_row<R: Row>(row: &R) -> StoreResult<Stored>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    let doc: String = row.try_get(5usize)?;
    Ok(Stored {
        pk: row.try_get(0usize)?,
        id: row.try_get(1usize)?,
        version: row.try_get(2usize)?,
        created: row.try_get(3usize)?,
        last_modified: row.try_get(4usize)?,
        doc: serde_json::from_str(&doc)?,
        groups: None,
    })
}

fn sel_by_id(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "SELECT pk, id, version, created, last_modified, doc FROM users WHERE tenant_pk = $1 AND id = $2",
        Kind::Group => {
            "SELECT pk, id, version, created, last_modified, doc FROM groups WHERE tenant_pk = $1 AND id = $2"
        }
    }
}

/// The columns of a [`Row`]: the resource and, for users, their groups as one JSON text (so serving a
/// user never needs a second query). The aggregate is the one place the two dialects differ.
macro_rules! user_row {
    (sqlite, $tail:literal) => {
        user_row!(sqlite, "", $tail)
    };
    (postgres, $tail:literal) => {
        user_row!(postgres, "", $tail)
    };
    (sqlite, $extra:literal, $tail:literal) => {
        concat!(
            "SELECT pk, id, version, created, last_modified, doc, \
             (SELECT json_group_array(json_array(x.id, x.display_name)) FROM \
             (SELECT g.id, g.display_name FROM memberships m JOIN groups g ON g.pk = m.group_pk \
             WHERE m.member_kind = 'User' AND m.member_pk = users.pk ORDER BY m.added_seq, m.added_pos) x)",
            $extra,
            " FROM users ",
            $tail
        )
    };
    (postgres, $extra:literal, $tail:literal) => {
        concat!(
            "SELECT pk, id, version, created, last_modified, doc, \
             (SELECT COALESCE(json_agg(json_build_array(g.id, g.display_name) ORDER BY m.added_seq, m.added_pos), \
             '[]'::json)::text FROM memberships m JOIN groups g ON g.pk = m.group_pk \
             WHERE m.member_kind = 'User' AND m.member_pk = users.pk)",
            $extra,
            " FROM users ",
            $tail
        )
    };
}

macro_rules! group_row {
    ($tail:literal) => {
        group_row!("", $tail)
    };
    ($extra:literal, $tail:literal) => {
        concat!(
            "SELECT pk, id, version, created, last_modified, doc, CAST(NULL AS TEXT)",
            $extra,
            " FROM groups ",
            $tail
        )
    };
}

/// The (SQLite, PostgreSQL) statements reading rows.
struct RowSql {
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! row_sql {
    (users, $tail:literal) => {
        row_sql!(users, "", $tail)
    };
    (groups, $tail:literal) => {
        row_sql!(groups, "", $tail)
    };
    (users, $extra:literal, $tail:literal) => {
        RowSql { sqlite: user_row!(sqlite, $extra, $tail), postgres: user_row!(postgres, $extra, $tail) }
    };
    (groups, $extra:literal, $tail:literal) => {
        RowSql { sqlite: group_row!($extra, $tail), postgres: group_row!($extra, $tail) }
    };
}

fn row_by_id(kind: Kind) -> RowSql {
    match kind {
        Kind::User => row_sql!(users, "WHERE tenant_pk = $1 AND id = $2"),
        Kind::Group => row_sql!(groups, "WHERE tenant_pk = $1 AND id = $2"),
    }
}

fn row_lookup(kind: Kind, key: &Lookup) -> Option<(RowSql, String)> {
    Some(match (kind, key) {
        (_, Lookup::Id(v)) => (row_by_id(kind), v.clone()),
        (Kind::User, Lookup::UserName(v)) => (row_sql!(users, "WHERE tenant_pk = $1 AND user_name_lc = $2"), v.clone()),
        (Kind::User, Lookup::ExternalId(v)) => {
            (row_sql!(users, "WHERE tenant_pk = $1 AND external_id = $2 ORDER BY pk"), v.clone())
        }
        (Kind::Group, Lookup::ExternalId(v)) => {
            (row_sql!(groups, "WHERE tenant_pk = $1 AND external_id = $2 ORDER BY pk"), v.clone())
        }
        (Kind::Group, Lookup::DisplayName(v)) => {
            (row_sql!(groups, "WHERE tenant_pk = $1 AND display_name_lc = $2 ORDER BY pk"), v.clone())
        }
        _ => return None,
    })
}

/// Pages walk the (tenant_pk, pk) index for the offset and read documents for the page only; every row
/// also carries the tenant's count (an eighth column), so a page is one statement.
fn row_page(kind: Kind) -> RowSql {
    match kind {
        Kind::User => row_sql!(
            users,
            ", (SELECT user_count FROM tenants WHERE pk = $1)",
            "WHERE pk IN (SELECT pk FROM users WHERE tenant_pk = $1 ORDER BY pk LIMIT $2 OFFSET $3) ORDER BY pk"
        ),
        Kind::Group => row_sql!(
            groups,
            ", (SELECT group_count FROM tenants WHERE pk = $1)",
            "WHERE pk IN (SELECT pk FROM groups WHERE tenant_pk = $1 ORDER BY pk LIMIT $2 OFFSET $3) ORDER BY pk"
        ),
    }
}

fn row_from<R: sqlx::Row>(row: &R) -> StoreResult<StoredRow>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    Ok(StoredRow {
        pk: row.try_get(0usize)?,
        id: row.try_get(1usize)?,
        version: row.try_get(2usize)?,
        created: row.try_get(3usize)?,
        last_modified: row.try_get(4usize)?,
        text: row.try_get(5usize)?,
        groups: row.try_get(6usize)?,
    })
}

fn sel_count(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "SELECT user_count FROM tenants WHERE pk = $1",
        Kind::Group => "SELECT group_count FROM tenants WHERE pk = $1",
    }
}

fn map_unique(e: sqlx::Error, detail: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Scim(ScimError::uniqueness(detail())),
        _ => StoreError::Db(e),
    }
}

fn user_name_taken(name: &str) -> String {
    let _ = name; // the value is personal data; the message names the attribute only
    "userName is already in use by another user of this tenant".to_owned()
}

/// A member id resolved to its row.
#[derive(Clone)]
struct Resolved {
    id: String,
    kind: Kind,
    pk: i64,
}

/// The state of one write transaction's change-log sequence.
pub(super) struct Seq {
    next: i64,
    events: Vec<(i64, NewEvent)>,
    /// Users and groups created minus deleted in this transaction.
    users: i64,
    groups: i64,
}

impl Seq {
    fn count(&mut self, kind: Kind, delta: i64) {
        match kind {
            Kind::User => self.users += delta,
            Kind::Group => self.groups += delta,
        }
    }

    fn push(&mut self, ev: NewEvent) -> i64 {
        self.next += 1;
        self.events.push((self.next, ev));
        self.next
    }
}

/// The change-log sequences of the tenants a SQLite write batch touches (loaded on first use).
#[derive(Default)]
pub(super) struct SeqMap(HashMap<i64, Seq>);

impl SeqMap {
    async fn get<'a>(&'a mut self, c: &mut sqlx::SqliteConnection, tenant: i64) -> StoreResult<&'a mut Seq> {
        match self.0.entry(tenant) {
            std::collections::hash_map::Entry::Occupied(o) => Ok(o.into_mut()),
            std::collections::hash_map::Entry::Vacant(v) => Ok(v.insert(lite::begin_seq(c, tenant).await?)),
        }
    }
}

/// Inserts a run of new resources of one kind with one statement (SQLite group commit). A userName
/// already taken (by a stored user or an earlier one in the run) fails that item alone with 409.
pub(super) async fn lite_insert_many(
    c: &mut sqlx::SqliteConnection,
    seqs: &mut SeqMap,
    kind: Kind,
    items: Vec<super::writer::NewResource>,
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
            None => out.push(Err(StoreError::Scim(ScimError::uniqueness(user_name_taken(&k.user_name))))),
        }
    }
    Ok(out)
}

/// Applies a run of user updates (distinct users of one tenant) with one read and one write statement
/// (SQLite group commit). Each item fails alone for its own client errors (404, 412, 400, 409).
pub(super) async fn lite_update_users(
    c: &mut sqlx::SqliteConnection,
    seqs: &mut SeqMap,
    tenant: i64,
    items: Vec<UserUpdate>,
) -> StoreResult<Vec<StoreResult<Stored>>> {
    // 1. Read every user of the run (with their groups, which the responses need).
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(user_row!(sqlite, "WHERE tenant_pk = "));
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
            results.push(Some(Err(StoreError::Scim(ScimError::not_found(format!("User {} not found", it.id))))));
            continue;
        };
        let computed = check_version(&old, it.if_match).and_then(|()| (it.f)(&old).map_err(StoreError::Scim));
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
            Err(StoreError::Scim(_)) => {
                let mut v = HashMap::new();
                for (i, _, new) in &writes {
                    match lite::update_resource(c, Kind::User, new.pk, &new.doc, &now).await {
                        Ok(version) => {
                            v.insert(new.pk, version);
                        }
                        Err(e @ StoreError::Scim(_)) => results[*i] = Some(Err(e)),
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
pub(super) async fn lite_update_group(
    c: &mut sqlx::SqliteConnection,
    seq: &mut Seq,
    tenant: i64,
    id: &str,
    if_match: Option<i64>,
    f: &UpdateFn,
) -> StoreResult<Stored> {
    let Some(old) = lite::load(c, tenant, Kind::Group, id).await? else {
        return Err(StoreError::Scim(ScimError::not_found(format!("Group {id} not found"))));
    };
    check_version(&old, if_match)?;
    let update = f(&old)?;
    if let ([MemberChange::Add(refs)], true, MemberPolicy::Reject) =
        (update.members.as_slice(), update.doc == old.doc, update.policy)
        && let Some(done) = lite_add_users(c, seq, tenant, &old, refs).await?
    {
        return Ok(done);
    }
    lite::apply_update(c, seq, tenant, Kind::Group, old, update).await
}

/// Applies a run of group updates of one tenant, in order. When every one of them only adds users of the
/// tenant (Entra's membership PATCHes), the whole run takes four statements whatever its length: read
/// the groups, check the ids, read which are members already, insert the new memberships (then bump the
/// versions). Otherwise each update is applied on its own, in order.
pub(super) async fn lite_update_groups(
    c: &mut sqlx::SqliteConnection,
    seqs: &mut SeqMap,
    tenant: i64,
    items: Vec<UserUpdate>,
) -> StoreResult<Vec<StoreResult<Stored>>> {
    if items.len() > 1
        && let Some(results) = lite_add_users_many(c, seqs, tenant, &items).await?
    {
        return Ok(results);
    }
    let mut out = Vec::with_capacity(items.len());
    for it in &items {
        let seq = seqs.get(c, tenant).await?;
        out.push(match lite_update_group(c, seq, tenant, &it.id, it.if_match, &it.f).await {
            Err(e @ StoreError::Scim(_)) => Err(e),
            other => Ok(other?),
        });
    }
    Ok(out)
}

/// The batched form of [`lite_add_users`]; None (nothing written) when the run is not only user adds of
/// known users.
async fn lite_add_users_many(
    c: &mut sqlx::SqliteConnection,
    seqs: &mut SeqMap,
    tenant: i64,
    items: &[UserUpdate],
) -> StoreResult<Option<Vec<StoreResult<Stored>>>> {
    // 1. The groups, once each.
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(group_row!("WHERE tenant_pk = "));
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
            plans.push(Plan::Fail(StoreError::Scim(ScimError::not_found(format!("Group {} not found", it.id)))));
            continue;
        };
        // A version check inside a run would depend on the bumps before it: take the general path.
        if it.if_match.is_some() {
            return Ok(None);
        }
        match (it.f)(old) {
            Err(e) => plans.push(Plan::Fail(StoreError::Scim(e))),
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
    // 3. Every id must be a user of the tenant (else the general path explains which one is not).
    let users = lite::resolve(c, tenant, &all_ids).await?;
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
            results.push(Err(StoreError::Scim(ScimError::not_found(format!("Group {} not found", it.id)))));
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
async fn lite_add_users(
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
pub(super) async fn lite_finish(c: &mut sqlx::SqliteConnection, seqs: SeqMap) -> StoreResult<()> {
    for (tenant, seq) in seqs.0 {
        lite::finish_seq(c, tenant, seq).await?;
    }
    Ok(())
}

impl SqlStore {
    pub(super) fn is_postgres(&self) -> bool {
        matches!(self.pools, Pools::Postgres(_))
    }
}

/// Generates the transactional helpers for one backend (the SQL is identical; the connection types differ).
macro_rules! tx_helpers {
    ($modname:ident, $db:ty) => {
        mod $modname {
            use super::*;
            type Conn = <$db as sqlx::Database>::Connection;

            /// Locks the tenant row and returns its last change-log sequence number.
            pub(super) async fn begin_seq(c: &mut Conn, tenant: i64) -> StoreResult<Seq> {
                let last: Option<i64> =
                    query_scalar("UPDATE tenants SET last_seq = last_seq WHERE pk = $1 RETURNING last_seq")
                        .bind(tenant)
                        .fetch_optional(&mut *c)
                        .await?;
                let last = last.ok_or_else(|| StoreError::Scim(ScimError::not_found("tenant not found")))?;
                Ok(Seq { next: last, events: Vec::new(), users: 0, groups: 0 })
            }

            /// Appends the collected events and stores the new last sequence number.
            pub(super) async fn finish_seq(c: &mut Conn, tenant: i64, seq: Seq) -> StoreResult<()> {
                if seq.events.is_empty() {
                    return Ok(());
                }
                let now = now_rfc3339();
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO change_log (tenant_pk, seq, kind, resource_type, resource_id, payload, created_at) ",
                );
                qb.push_values(seq.events.iter(), |mut b, (s, ev)| {
                    b.push_bind(tenant)
                        .push_bind(*s)
                        .push_bind(ev.kind.as_str())
                        .push_bind(ev.resource_type.as_str())
                        .push_bind(ev.resource_id.clone())
                        .push_bind(ev.payload.to_string())
                        .push_bind(now.clone());
                });
                qb.build().persistent(false).execute(&mut *c).await?;
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

            /// Resolves member ids (users first, then groups) in one statement per kind. Unknown ids are
            /// left out; the caller decides whether that is an error.
            pub(super) async fn resolve(c: &mut Conn, tenant: i64, ids: &[String]) -> StoreResult<HashMap<String, Resolved>> {
                let mut out = HashMap::new();
                if ids.is_empty() {
                    return Ok(out);
                }
                for (kind, table) in [(Kind::User, "users"), (Kind::Group, "groups")] {
                    let pending: Vec<&String> = ids.iter().filter(|i| !out.contains_key(*i)).collect();
                    if pending.is_empty() {
                        break;
                    }
                    let mut qb = sqlx::QueryBuilder::<$db>::new(if table == "users" {
                        "SELECT pk, id FROM users WHERE tenant_pk = "
                    } else {
                        "SELECT pk, id FROM groups WHERE tenant_pk = "
                    });
                    qb.push_bind(tenant).push(" AND id IN (");
                    let mut sep = qb.separated(", ");
                    for id in &pending {
                        sep.push_bind((*id).clone());
                    }
                    qb.push(")");
                    for row in qb.build().persistent(false).fetch_all(&mut *c).await? {
                        let pk: i64 = row.try_get(0usize)?;
                        let id: String = row.try_get(1usize)?;
                        out.insert(id.clone(), Resolved { id, kind, pk });
                    }
                }
                Ok(out)
            }

            /// Current members of a group, in order of addition.
            pub(super) async fn current_members(c: &mut Conn, group_pk: i64) -> StoreResult<Vec<Resolved>> {
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
            pub(super) async fn prepare_members(
                c: &mut Conn,
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
                let resolved = resolve(c, tenant, &ids).await?;
                let unknown: Vec<&&str> = added.iter().filter(|i| !resolved.contains_key(**i)).collect();
                if let Some(missing) = unknown.first() {
                    if policy == MemberPolicy::Reject {
                        return Err(StoreError::Scim(ScimError::invalid_value(format!(
                            "member \"{missing}\" is not a user or group of this tenant"
                        ))));
                    }
                    metrics::counter!("scim_unknown_members_skipped_total").increment(unknown.len() as u64);
                }
                if let Some(gpk) = group_pk {
                    if let Some(r) = added.iter().filter_map(|i| resolved.get(*i)).find(|r| r.kind == Kind::Group && r.pk == gpk) {
                        return Err(StoreError::Scim(ScimError::invalid_value(format!(
                            "group \"{}\" cannot be a member of itself",
                            r.id
                        ))));
                    }
                }
                Ok(resolved)
            }

            /// Adds members in request order; duplicates, existing members and (under the ignore policy)
            /// unknown ids are skipped. One statement for the whole list.
            async fn add_members(
                c: &mut Conn,
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
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO memberships (group_pk, member_kind, member_id, member_pk, added_seq, added_pos, added_at) ",
                );
                qb.push_values(ordered.iter().enumerate(), |mut b, (pos, r)| {
                    b.push_bind(group.pk)
                        .push_bind(r.kind.as_str())
                        .push_bind(r.id.clone())
                        .push_bind(r.pk)
                        .push_bind(event_seq)
                        .push_bind(pos as i64)
                        .push_bind(now.clone());
                });
                qb.push(" ON CONFLICT DO NOTHING RETURNING member_kind, member_pk");
                let mut added = HashSet::new();
                for row in qb.build().persistent(false).fetch_all(&mut *c).await? {
                    let k: String = row.try_get(0usize)?;
                    let pk: i64 = row.try_get(1usize)?;
                    added.insert((k, pk));
                }
                let done = ordered.into_iter().filter(|r| added.contains(&(r.kind.as_str().to_owned(), r.pk)));
                push_member_event(seq, true, group, done);
                Ok(())
            }

            /// Removes the given members (unknown ids and non-members are ignored).
            async fn remove_members(
                c: &mut Conn,
                group: &Stored,
                targets: &[&Resolved],
                seq: &mut Seq,
            ) -> StoreResult<()> {
                let mut removed = HashSet::new();
                for kind in [Kind::User, Kind::Group] {
                    let pks: Vec<i64> = targets.iter().filter(|r| r.kind == kind).map(|r| r.pk).collect();
                    if pks.is_empty() {
                        continue;
                    }
                    let mut qb = sqlx::QueryBuilder::<$db>::new("DELETE FROM memberships WHERE group_pk = ");
                    qb.push_bind(group.pk).push(" AND member_kind = ").push_bind(kind.as_str()).push(" AND member_pk IN (");
                    let mut sep = qb.separated(", ");
                    for pk in &pks {
                        sep.push_bind(*pk);
                    }
                    qb.push(") RETURNING member_pk");
                    for row in qb.build().persistent(false).fetch_all(&mut *c).await? {
                        let pk: i64 = row.try_get(0usize)?;
                        removed.insert((kind, pk));
                    }
                }
                let mut seen = HashSet::new();
                let done = targets.iter().copied().filter(|r| removed.contains(&(r.kind, r.pk)) && seen.insert((r.kind, r.pk)));
                push_member_event(seq, false, group, done);
                Ok(())
            }

            /// Applies membership changes in order, with ids resolved by [`prepare_members`].
            async fn apply_member_changes(
                c: &mut Conn,
                group: &Stored,
                changes: Vec<MemberChange>,
                resolved: &HashMap<String, Resolved>,
                seq: &mut Seq,
            ) -> StoreResult<()> {
                for change in changes {
                    match change {
                        MemberChange::Add(refs) => add_members(c, group, &refs, resolved, seq).await?,
                        MemberChange::Remove(ids) => {
                            let targets: Vec<&Resolved> = ids.iter().filter_map(|i| resolved.get(i)).collect();
                            remove_members(c, group, &targets, seq).await?;
                        }
                        MemberChange::RemoveAll => {
                            let current = current_members(c, group.pk).await?;
                            remove_members(c, group, &current.iter().collect::<Vec<_>>(), seq).await?;
                        }
                        MemberChange::Replace(refs) => {
                            let wanted: HashSet<&str> = refs.iter().map(|r| r.value.as_str()).collect();
                            let current = current_members(c, group.pk).await?;
                            let gone: Vec<&Resolved> = current.iter().filter(|r| !wanted.contains(r.id.as_str())).collect();
                            remove_members(c, group, &gone, seq).await?;
                            add_members(c, group, &refs, resolved, seq).await?;
                        }
                    }
                }
                Ok(())
            }

            /// Creates a resource. Client errors (unknown members, a taken userName) surface before anything
            /// is written.
            pub(super) async fn job_create(
                c: &mut Conn,
                seq: &mut Seq,
                tenant: i64,
                kind: Kind,
                doc: Value,
                members: Vec<MemberChange>,
                policy: MemberPolicy,
            ) -> StoreResult<Stored> {
                let resolved = if kind == Kind::Group && !members.is_empty() {
                    prepare_members(c, tenant, None, &members, policy).await?
                } else {
                    HashMap::new()
                };
                let id = uuid::Uuid::new_v4().to_string();
                let now = now_rfc3339();
                let pk = insert_resource(c, tenant, kind, &id, &doc, &now).await?;
                seq.push(changelog::created(kind, &id, &doc));
                seq.count(kind, 1);
                let stored = Stored { pk, id, version: 1, created: now.clone(), last_modified: now, doc, groups: None };
                if kind == Kind::Group && !members.is_empty() {
                    apply_member_changes(c, &stored, members, &resolved, seq).await?;
                }
                Ok(stored)
            }

            /// Writes `update`, computed from `old` inside this transaction. Client errors (unknown members,
            /// a taken userName) come before any write.
            pub(super) async fn apply_update(
                c: &mut Conn,
                seq: &mut Seq,
                tenant: i64,
                kind: Kind,
                old: Stored,
                update: super::super::Update,
            ) -> StoreResult<Stored> {
                let resolved = if kind == Kind::Group && !update.members.is_empty() {
                    prepare_members(c, tenant, Some(old.pk), &update.members, update.policy).await?
                } else {
                    HashMap::new()
                };
                let now = now_rfc3339();
                let doc_events = changelog::updated(kind, &old.id, &old.doc, &update.doc);
                let doc_changed = update.doc != old.doc;
                let mut stored = Stored { doc: update.doc, ..old };
                if doc_changed {
                    // The only write that can fail for the client (a taken userName): it comes first.
                    stored.version = update_resource(c, kind, stored.pk, &stored.doc, &now).await?;
                    stored.last_modified = now.clone();
                }
                for ev in doc_events {
                    seq.push(ev);
                }
                let before = seq.events.len();
                if kind == Kind::Group && !update.members.is_empty() {
                    apply_member_changes(c, &stored, update.members, &resolved, seq).await?;
                }
                if seq.events.len() > before && !doc_changed {
                    stored.version = touch_group(c, stored.pk, &now).await?;
                    stored.last_modified = now;
                }
                Ok(stored)
            }

            /// Read-modify-write of one resource, inside the write transaction.
            #[allow(dead_code)] // SQLite updates go through `lite_update_group` / `lite_update_users`.
            pub(super) async fn job_update(
                c: &mut Conn,
                seq: &mut Seq,
                tenant: i64,
                kind: Kind,
                id: &str,
                if_match: Option<i64>,
                f: &UpdateFn,
            ) -> StoreResult<Stored> {
                let Some(old) = load(c, tenant, kind, id).await? else {
                    return Err(StoreError::Scim(ScimError::not_found(format!("{} {id} not found", kind.as_str()))));
                };
                check_version(&old, if_match)?;
                let update = f(&old)?;
                apply_update(c, seq, tenant, kind, old, update).await
            }

            /// Deletes a resource and its memberships (as member and, for groups, as owner).
            pub(super) async fn job_delete(
                c: &mut Conn,
                seq: &mut Seq,
                tenant: i64,
                kind: Kind,
                id: &str,
                if_match: Option<i64>,
            ) -> StoreResult<()> {
                let Some(old) = load(c, tenant, kind, id).await? else {
                    return Err(StoreError::Scim(ScimError::not_found(format!("{} {id} not found", kind.as_str()))));
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

            pub(super) async fn insert_resource(
                c: &mut Conn,
                tenant: i64,
                kind: Kind,
                id: &str,
                doc: &Value,
                now: &str,
            ) -> StoreResult<i64> {
                let keys = Keys::of(kind, doc);
                let text = doc.to_string();
                let pk: Option<i64> = match kind {
                    Kind::User => query_scalar(
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
                    .await?,
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
                pk.ok_or_else(|| StoreError::Scim(ScimError::uniqueness(user_name_taken(&keys.user_name))))
            }

            pub(super) async fn update_resource(c: &mut Conn, kind: Kind, pk: i64, doc: &Value, now: &str) -> StoreResult<i64> {
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

            pub(super) async fn touch_group(c: &mut Conn, pk: i64, now: &str) -> StoreResult<i64> {
                Ok(query_scalar("UPDATE groups SET version = version + 1, last_modified = $2 WHERE pk = $1 RETURNING version")
                    .bind(pk)
                    .bind(now)
                    .fetch_one(&mut *c)
                    .await?)
            }

            pub(super) async fn load(c: &mut Conn, tenant: i64, kind: Kind, id: &str) -> StoreResult<Option<Stored>> {
                let row = query(sel_by_id(kind)).bind(tenant).bind(id).fetch_optional(&mut *c).await?;
                row.as_ref().map(stored_from_row).transpose()
            }
        }
    };
}

tx_helpers!(lite, sqlx::Sqlite);
tx_helpers!(pg, sqlx::Postgres);

/// Appends a members-added (or removed) event for `members`, in their order, when there are any.
fn push_member_event<'r>(seq: &mut Seq, added: bool, group: &Stored, members: impl Iterator<Item = &'r Resolved>) {
    let list: Vec<(String, Kind)> = members.map(|r| (r.id.clone(), r.kind)).collect();
    if !list.is_empty() {
        seq.push(changelog::members(added, &group.id, &list));
    }
}

fn stored_out(out: JobOut) -> StoreResult<Stored> {
    match out {
        JobOut::Stored(s) => Ok(s),
        _ => Err(StoreError::Corrupt("write job returned no resource".into())),
    }
}

fn check_version(old: &Stored, if_match: Option<i64>) -> StoreResult<()> {
    match if_match {
        Some(v) if v != old.version => Err(StoreError::Scim(ScimError::precondition_failed(format!(
            "resource version is W/\"{}\", If-Match asked for W/\"{v}\"",
            old.version
        )))),
        _ => Ok(()),
    }
}

/// Runs one write job in its own PostgreSQL transaction (the tenant row lock orders the change log).
macro_rules! pg_job {
    ($pool:expr, $tenant:expr, |$c:ident, $seq:ident| $body:expr) => {{
        let mut tx = $pool.begin().await?;
        let $c = &mut *tx;
        let mut seq_state = pg::begin_seq($c, $tenant).await?;
        let $seq = &mut seq_state;
        let out = $body.await?;
        pg::finish_seq(&mut *tx, $tenant, seq_state).await?;
        query("SELECT pg_notify('scimgw_changes', '')").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(out)
    }};
}

impl TenantStore for SqlStore {
    fn create_tenant<'a>(
        &'a self,
        name: &'a str,
        token_hash: &'a [u8],
        policy: MemberPolicy,
    ) -> BoxFut<'a, StoreResult<TenantRow>> {
        Box::pin(async move {
            dispatch!(self, _r, write, DB => {
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
                    return Err(StoreError::Scim(ScimError::uniqueness(format!("tenant \"{name}\" already exists"))));
                };
                query("INSERT INTO tenant_tokens (tenant_pk, hash, created_at) VALUES ($1, $2, $3)")
                    .bind(pk)
                    .bind(token_hash)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(TenantRow { pk, name: name.to_owned(), created_at: now })
            })
        })
    }

    fn list_tenants(&self) -> BoxFut<'_, StoreResult<Vec<TenantSummary>>> {
        Box::pin(async move {
            dispatch!(self, read, _w, DB => {
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
            })
        })
    }

    fn tenant_auth<'a>(&'a self, name: &'a str) -> BoxFut<'a, StoreResult<Option<TenantAuth>>> {
        Box::pin(async move {
            dispatch!(self, read, _w, DB => {
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
            })
        })
    }

    fn token_exists<'a>(&'a self, token_hash: &'a [u8]) -> BoxFut<'a, StoreResult<bool>> {
        Box::pin(async move {
            dispatch!(self, read, _w, DB => {
                let hit: Option<i64> =
                    query_scalar("SELECT tenant_pk FROM tenant_tokens WHERE hash = $1 AND revoked_at IS NULL LIMIT 1")
                        .bind(token_hash)
                        .fetch_optional(read)
                        .await?;
                Ok(hit.is_some())
            })
        })
    }

    fn add_token<'a>(&'a self, name: &'a str, token_hash: &'a [u8]) -> BoxFut<'a, StoreResult<bool>> {
        Box::pin(async move {
            dispatch!(self, _r, write, DB => {
                let n = query(
                    "INSERT INTO tenant_tokens (tenant_pk, hash, created_at) SELECT pk, $2, $3 FROM tenants WHERE name = $1",
                )
                .bind(name)
                .bind(token_hash)
                .bind(now_rfc3339())
                .execute(write)
                .await?
                .rows_affected();
                Ok(n == 1)
            })
        })
    }

    fn revoke_old_tokens<'a>(&'a self, name: &'a str) -> BoxFut<'a, StoreResult<Option<u64>>> {
        Box::pin(async move {
            dispatch!(self, _r, write, DB => {
                let pk: Option<i64> = query_scalar("SELECT pk FROM tenants WHERE name = $1").bind(name).fetch_optional(write).await?;
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
            })
        })
    }

    fn delete_tenant<'a>(&'a self, name: &'a str) -> BoxFut<'a, StoreResult<bool>> {
        Box::pin(async move {
            dispatch!(self, _r, write, DB => {
                let mut tx = write.begin().await?;
                let pk: Option<i64> = query_scalar("SELECT pk FROM tenants WHERE name = $1").bind(name).fetch_optional(&mut *tx).await?;
                let Some(pk) = pk else { return Ok(false) };
                // Memberships hang off groups (cascade); delete them first so member rows never dangle.
                query("DELETE FROM memberships WHERE group_pk IN (SELECT pk FROM groups WHERE tenant_pk = $1)")
                    .bind(pk)
                    .execute(&mut *tx)
                    .await?;
                query("DELETE FROM tenants WHERE pk = $1").bind(pk).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(true)
            })
        })
    }

    fn put_custom_schema<'a>(&'a self, tenant: &'a str, row: CustomSchemaRow) -> BoxFut<'a, StoreResult<bool>> {
        Box::pin(async move {
            dispatch!(self, _r, write, DB => {
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
            })
        })
    }

    fn delete_custom_schema<'a>(&'a self, tenant: &'a str, schema_id: &'a str) -> BoxFut<'a, StoreResult<bool>> {
        Box::pin(async move {
            dispatch!(self, _r, write, DB => {
                let n = query(
                    "DELETE FROM custom_schemas WHERE schema_id = $2 AND tenant_pk = (SELECT pk FROM tenants WHERE name = $1)",
                )
                .bind(tenant)
                .bind(schema_id)
                .execute(write)
                .await?
                .rows_affected();
                Ok(n > 0)
            })
        })
    }

    fn custom_schemas(&self, tenant_pk: i64) -> BoxFut<'_, StoreResult<Vec<CustomSchemaRow>>> {
        Box::pin(async move {
            dispatch!(self, read, _w, DB => {
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
            })
        })
    }
}

impl ResourceStore for SqlStore {
    fn get<'a>(&'a self, tenant: i64, kind: Kind, id: &'a str) -> BoxFut<'a, StoreResult<Option<StoredRow>>> {
        Box::pin(async move {
            let sql = row_by_id(kind);
            dispatch!(self, read, _w, DB => {
                let sql = if self.is_postgres() { sql.postgres } else { sql.sqlite };
                let row = query(sql).bind(tenant).bind(id).fetch_optional(read).await?;
                row.as_ref().map(row_from).transpose()
            })
        })
    }

    fn lookup<'a>(&'a self, tenant: i64, kind: Kind, key: &'a Lookup) -> BoxFut<'a, StoreResult<Vec<StoredRow>>> {
        Box::pin(async move {
            let Some((sql, value)) = row_lookup(kind, key) else {
                return Err(StoreError::Corrupt(format!("no index for {key:?} on {}", kind.as_str())));
            };
            dispatch!(self, read, _w, DB => {
                let sql = if self.is_postgres() { sql.postgres } else { sql.sqlite };
                let rows = query(sql).bind(tenant).bind(value).fetch_all(read).await?;
                rows.iter().map(row_from).collect()
            })
        })
    }

    fn page(&self, tenant: i64, kind: Kind, offset: i64, limit: i64) -> BoxFut<'_, StoreResult<(i64, Vec<StoredRow>)>> {
        Box::pin(async move {
            let sql = row_page(kind);
            dispatch!(self, read, _w, DB => {
                let sql = if self.is_postgres() { sql.postgres } else { sql.sqlite };
                let rows = if limit > 0 {
                    query(sql).bind(tenant).bind(limit).bind(offset).fetch_all(read).await?
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
            })
        })
    }

    fn create<'a>(
        &'a self,
        tenant: i64,
        kind: Kind,
        doc: Value,
        members: Vec<MemberChange>,
        policy: MemberPolicy,
    ) -> BoxFut<'a, StoreResult<Stored>> {
        Box::pin(async move {
            let out: StoreResult<_> = async {
                match &self.pools {
                    Pools::Postgres(pool) => {
                        pg_job!(pool, tenant, |c, seq| pg::job_create(c, seq, tenant, kind, doc, members, policy))
                    }
                    Pools::Sqlite { writer, .. } if members.is_empty() => {
                        stored_out(writer.create(NewResource { tenant, kind, doc }).await?)
                    }
                    Pools::Sqlite { writer, .. } => {
                        let out = writer
                            .submit(Box::new(move |c, seqs| {
                                Box::pin(async move {
                                    let seq = seqs.get(c, tenant).await?;
                                    lite::job_create(c, seq, tenant, kind, doc, members, policy)
                                        .await
                                        .map(JobOut::Stored)
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
        })
    }

    fn update<'a>(
        &'a self,
        tenant: i64,
        kind: Kind,
        id: &'a str,
        if_match: Option<i64>,
        f: UpdateFn,
    ) -> BoxFut<'a, StoreResult<Stored>> {
        // Read-modify-write inside the write transaction, where this tenant's writes are serialised
        // (PostgreSQL: the tenant row lock; SQLite: the single writer). An optimistic variant (read and
        // compute outside, write if unchanged) was measured and gave nothing on SQLite: the machine is
        // bound by thread hand-offs, not by the writer, and contended groups made it retry.
        Box::pin(async move {
            let out: StoreResult<_> = async {
                match &self.pools {
                    Pools::Postgres(pool) => {
                        pg_job!(pool, tenant, |c, seq| pg::job_update(c, seq, tenant, kind, id, if_match, &f))
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
        })
    }

    fn delete<'a>(
        &'a self,
        tenant: i64,
        kind: Kind,
        id: &'a str,
        if_match: Option<i64>,
    ) -> BoxFut<'a, StoreResult<()>> {
        Box::pin(async move {
            let out: StoreResult<_> = async {
                match &self.pools {
                    Pools::Postgres(pool) => {
                        pg_job!(pool, tenant, |c, seq| pg::job_delete(c, seq, tenant, kind, id, if_match))
                    }
                    Pools::Sqlite { writer, .. } => {
                        let id = id.to_owned();
                        writer
                            .submit(Box::new(move |c, seqs| {
                                Box::pin(async move {
                                    let seq = seqs.get(c, tenant).await?;
                                    lite::job_delete(c, seq, tenant, kind, &id, if_match).await.map(|()| JobOut::Done)
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
        })
    }

    fn members_of<'a>(&'a self, group_pks: &'a [i64]) -> BoxFut<'a, StoreResult<Vec<(i64, MemberView)>>> {
        Box::pin(async move {
            if group_pks.is_empty() {
                return Ok(Vec::new());
            }
            // One row per group with its members aggregated as JSON: on SQLite every row is a hand-off
            // from sqlx's connection thread, and a group has hundreds of members.
            let (head, tail) = if self.is_postgres() {
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
            dispatch!(self, read, _w, DB => {
                let mut qb = sqlx::QueryBuilder::<DB>::new(head);
                let mut sep = qb.separated(", ");
                for pk in group_pks {
                    sep.push_bind(*pk);
                }
                qb.push(tail);
                let rows = qb.build().persistent(false).fetch_all(read).await?;
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
            })
        })
    }

    fn groups_of<'a>(&'a self, user_pks: &'a [i64]) -> BoxFut<'a, StoreResult<Vec<(i64, GroupView)>>> {
        Box::pin(async move {
            if user_pks.is_empty() {
                return Ok(Vec::new());
            }
            dispatch!(self, read, _w, DB => {
                let mut qb = sqlx::QueryBuilder::<DB>::new(
                    "SELECT m.member_pk, g.id, g.display_name FROM memberships m JOIN groups g ON g.pk = m.group_pk \
                     WHERE m.member_kind = 'User' AND m.member_pk IN (",
                );
                let mut sep = qb.separated(", ");
                for pk in user_pks {
                    sep.push_bind(*pk);
                }
                qb.push(") ORDER BY m.member_pk, m.added_seq, m.added_pos");
                let rows = qb.build().persistent(false).fetch_all(read).await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    out.push((r.try_get(0usize)?, GroupView { value: r.try_get(1usize)?, display: r.try_get(2usize)? }));
                }
                Ok(out)
            })
        })
    }

    fn has_member<'a>(&'a self, tenant: i64, group_pk: i64, member_id: &'a str) -> BoxFut<'a, StoreResult<bool>> {
        Box::pin(async move {
            dispatch!(self, read, _w, DB => {
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
            })
        })
    }

    fn changes(&self, tenant: i64, after_seq: i64, limit: i64) -> BoxFut<'_, StoreResult<Vec<ChangeEvent>>> {
        Box::pin(async move {
            dispatch!(self, read, _w, DB => {
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
            })
        })
    }
}

impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        if self.is_postgres() { "postgres" } else { "sqlite" }
    }
    fn close(&self) -> BoxFut<'_, ()> {
        Box::pin(async move {
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
        })
    }
}

#[path = "delivery_sql.rs"]
#[macro_use]
mod delivery;
#[path = "report_sql.rs"]
mod report;
