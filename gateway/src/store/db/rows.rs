//! The shape of a resource row in SQL: the statements reading one (by id, by an indexed key, a page) in
//! each dialect, and their decoders. A user comes back with their groups aggregated as one JSON text (so
//! serving a user never needs a second query); that aggregate is the one place the two dialects differ.
//! The statements are assembled once, on first use.

use crate::store::{Kind, Lookup, Row as StoredRow, StoreResult, Stored};
use std::sync::LazyLock;

/// A user's groups, in order of addition, as `[[id, displayName], …]` (SQLite).
const SQLITE_USER_GROUPS: &str = "(SELECT json_group_array(json_array(x.id, x.display_name)) FROM \
     (SELECT g.id, g.display_name FROM memberships m JOIN groups g ON g.pk = m.group_pk \
     WHERE m.member_kind = 'User' AND m.member_pk = users.pk ORDER BY m.added_seq, m.added_pos) x)";

/// The same aggregate in PostgreSQL.
const POSTGRES_USER_GROUPS: &str = "(SELECT COALESCE(json_agg(json_build_array(g.id, g.display_name) \
     ORDER BY m.added_seq, m.added_pos), '[]'::json)::text FROM memberships m JOIN groups g ON g.pk = m.group_pk \
     WHERE m.member_kind = 'User' AND m.member_pk = users.pk)";

/// Reads user rows: the seven columns of a [`StoredRow`] (the groups by `groups`), then the `extra`
/// columns, then `tail` (the `WHERE` …).
fn select_users(groups: &str, extra: &str, tail: &str) -> String {
    format!("SELECT pk, id, version, created, last_modified, doc, {groups}{extra} FROM users {tail}")
}

/// Reads group rows, with the same seven columns (no groups: NULL).
fn select_groups(extra: &str, tail: &str) -> String {
    format!("SELECT pk, id, version, created, last_modified, doc, CAST(NULL AS TEXT){extra} FROM groups {tail}")
}

/// A statement reading rows, in each dialect.
pub(crate) struct RowSql {
    sqlite: String,
    postgres: String,
}

impl RowSql {
    fn users(extra: &str, tail: &str) -> RowSql {
        RowSql {
            sqlite: select_users(SQLITE_USER_GROUPS, extra, tail),
            postgres: select_users(POSTGRES_USER_GROUPS, extra, tail),
        }
    }

    fn groups(extra: &str, tail: &str) -> RowSql {
        let sql = select_groups(extra, tail);
        RowSql { sqlite: sql.clone(), postgres: sql }
    }

    /// The statement in PostgreSQL's dialect or, if `postgres` is false, SQLite's.
    pub(crate) fn get(&'static self, postgres: bool) -> &'static str {
        if postgres { &self.postgres } else { &self.sqlite }
    }
}

static USER_BY_ID: LazyLock<RowSql> = LazyLock::new(|| RowSql::users("", "WHERE tenant_pk = $1 AND id = $2"));
static GROUP_BY_ID: LazyLock<RowSql> = LazyLock::new(|| RowSql::groups("", "WHERE tenant_pk = $1 AND id = $2"));
static USER_BY_NAME: LazyLock<RowSql> =
    LazyLock::new(|| RowSql::users("", "WHERE tenant_pk = $1 AND user_name_lc = $2"));
static USER_BY_EXTERNAL_ID: LazyLock<RowSql> =
    LazyLock::new(|| RowSql::users("", "WHERE tenant_pk = $1 AND external_id = $2 ORDER BY pk"));
static GROUP_BY_EXTERNAL_ID: LazyLock<RowSql> =
    LazyLock::new(|| RowSql::groups("", "WHERE tenant_pk = $1 AND external_id = $2 ORDER BY pk"));
static GROUP_BY_DISPLAY_NAME: LazyLock<RowSql> =
    LazyLock::new(|| RowSql::groups("", "WHERE tenant_pk = $1 AND display_name_lc = $2 ORDER BY pk"));
static USER_PAGE: LazyLock<RowSql> = LazyLock::new(|| {
    RowSql::users(
        ", (SELECT user_count FROM tenants WHERE pk = $1)",
        "WHERE pk IN (SELECT pk FROM users WHERE tenant_pk = $1 AND pk > $4 ORDER BY pk LIMIT $2 OFFSET $3) ORDER BY pk",
    )
});
static GROUP_PAGE: LazyLock<RowSql> = LazyLock::new(|| {
    RowSql::groups(
        ", (SELECT group_count FROM tenants WHERE pk = $1)",
        "WHERE pk IN (SELECT pk FROM groups WHERE tenant_pk = $1 AND pk > $4 ORDER BY pk LIMIT $2 OFFSET $3) ORDER BY pk",
    )
});

/// SQLite user rows of a tenant, up to the tenant: the caller binds it and adds an id list.
pub(crate) static SQLITE_USERS_OF_TENANT: LazyLock<String> =
    LazyLock::new(|| select_users(SQLITE_USER_GROUPS, "", "WHERE tenant_pk = "));

/// Group rows of a tenant, up to the tenant: the caller binds it and adds an id list.
pub(crate) static GROUPS_OF_TENANT: LazyLock<String> = LazyLock::new(|| select_groups("", "WHERE tenant_pk = "));

pub(crate) fn row_by_id(kind: Kind) -> &'static RowSql {
    match kind {
        Kind::User => &USER_BY_ID,
        Kind::Group => &GROUP_BY_ID,
    }
}

pub(crate) fn row_lookup(kind: Kind, key: &Lookup) -> Option<(&'static RowSql, String)> {
    Some(match (kind, key) {
        (_, Lookup::Id(v)) => (row_by_id(kind), v.clone()),
        (Kind::User, Lookup::UserName(v)) => (&*USER_BY_NAME, v.clone()),
        (Kind::User, Lookup::ExternalId(v)) => (&*USER_BY_EXTERNAL_ID, v.clone()),
        (Kind::Group, Lookup::ExternalId(v)) => (&*GROUP_BY_EXTERNAL_ID, v.clone()),
        (Kind::Group, Lookup::DisplayName(v)) => (&*GROUP_BY_DISPLAY_NAME, v.clone()),
        _ => return None,
    })
}

/// Pages walk the (tenant_pk, pk) index for the offset (after a pk: keyset paging, $4) and read documents
/// for the page only; every row also carries the tenant's count (an eighth column), so a page is one
/// statement.
pub(crate) fn row_page(kind: Kind) -> &'static RowSql {
    match kind {
        Kind::User => &USER_PAGE,
        Kind::Group => &GROUP_PAGE,
    }
}

pub(crate) fn row_from<R: sqlx::Row>(row: &R) -> StoreResult<StoredRow>
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

pub(crate) fn sel_count(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "SELECT user_count FROM tenants WHERE pk = $1",
        Kind::Group => "SELECT group_count FROM tenants WHERE pk = $1",
    }
}

/// A resource for a write: the document parsed, no groups.
pub(crate) fn sel_by_id(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "SELECT pk, id, version, created, last_modified, doc FROM users WHERE tenant_pk = $1 AND id = $2",
        Kind::Group => {
            "SELECT pk, id, version, created, last_modified, doc FROM groups WHERE tenant_pk = $1 AND id = $2"
        }
    }
}

pub(crate) fn stored_from_row<R: sqlx::Row>(row: &R) -> StoreResult<Stored>
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
