//! The sqlx building blocks both SQL write paths share: the SQL store (`sql/`) and the SQLite writer's
//! batches (`sqlite/`) run the same statements through [`Sql`], whose associated functions are written
//! once, generic over the sqlx database, and called through the aliases [`Lite`] and [`Pg`]. Also here:
//! a write transaction's change-log sequence ([`Seq`]) and the statements reading resource rows (`rows`).
//!
//! Generic functions rather than a copy per backend: the statements are the same text on both (`$N`
//! placeholders), and a copy would duplicate some 1,500 lines that must never drift apart. The price is
//! one where-clause (the backend, its executor, and the value types the statements bind and read),
//! repeated on every `impl Sql<DB>` block, as Rust does not carry such clauses from a trait to its users.

pub(crate) mod rows;
mod write;
pub(crate) use write::IDS_PER_STATEMENT;

use super::changelog::{self, NewEvent};
use super::{Kind, StoreError, StoreResult, Stored};
use std::marker::PhantomData;

/// A sqlx database the SQL store runs on. Generic code branches on [`Backend::POSTGRES`] for the few
/// statements written in each dialect.
pub(crate) trait Backend: sqlx::Database<QueryResult: RowsAffected> + sqlx::database::HasStatementCache {
    /// PostgreSQL's dialect (else SQLite's).
    const POSTGRES: bool;
}

/// How many rows a statement changed: each sqlx driver has this on its result type, but no trait does.
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::sqlite::SqliteQueryResult::rows_affected(self)
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        sqlx::postgres::PgQueryResult::rows_affected(self)
    }
}

impl Backend for sqlx::Sqlite {
    const POSTGRES: bool = false;
}

impl Backend for sqlx::Postgres {
    const POSTGRES: bool = true;
}

/// The store's statements on database `DB`: a namespace for associated functions, never built. Each
/// `impl` block states the same bounds:
///
/// ```text
/// DB: Backend,
/// for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
/// DB::Arguments: IntoArguments<DB>,
/// usize: ColumnIndex<DB::Row>,
/// for<'q> i64 / bool / String / Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
/// for<'q> &'q str / &'q [u8]: Encode<'q, DB> + Type<DB>,
/// for<'q> Option<String>: Encode<'q, DB>,
/// ```
pub(crate) struct Sql<DB>(PhantomData<DB>);

/// The statements on SQLite.
pub(crate) type Lite = Sql<sqlx::Sqlite>;
/// The statements on PostgreSQL.
pub(crate) type Pg = Sql<sqlx::Postgres>;

pub(crate) fn map_unique(e: sqlx::Error, detail: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(detail()),
        _ => StoreError::Db(e),
    }
}

pub(crate) fn user_name_taken(name: &str) -> String {
    let _ = name; // the value is personal data; the message names the attribute only
    "userName is already in use by another user of this tenant".to_owned()
}

/// A member id resolved to its row.
#[derive(Clone)]
pub(crate) struct Resolved {
    pub(crate) id: String,
    pub(crate) kind: Kind,
    pub(crate) pk: i64,
}

/// The state of one write transaction's change-log sequence.
pub(crate) struct Seq {
    pub(crate) next: i64,
    pub(crate) events: Vec<(i64, NewEvent)>,
    /// Users and groups created minus deleted in this transaction.
    pub(crate) users: i64,
    pub(crate) groups: i64,
}

impl Seq {
    pub(crate) fn count(&mut self, kind: Kind, delta: i64) {
        match kind {
            Kind::User => self.users += delta,
            Kind::Group => self.groups += delta,
        }
    }

    pub(crate) fn push(&mut self, ev: NewEvent) -> i64 {
        self.next += 1;
        self.events.push((self.next, ev));
        self.next
    }
}

/// Appends a members-added (or removed) event for `members`, in their order, when there are any.
pub(crate) fn push_member_event<'r>(
    seq: &mut Seq,
    added: bool,
    group: &Stored,
    members: impl Iterator<Item = &'r Resolved>,
) {
    let list: Vec<(String, Kind)> = members.map(|r| (r.id.clone(), r.kind)).collect();
    if !list.is_empty() {
        seq.push(changelog::members(added, &group.id, &list));
    }
}

pub(crate) fn check_version(old: &Stored, if_match: Option<i64>) -> StoreResult<()> {
    match if_match {
        Some(v) if v != old.version => Err(StoreError::VersionMismatch(format!(
            "resource version is W/\"{}\", If-Match asked for W/\"{v}\"",
            old.version
        ))),
        _ => Ok(()),
    }
}
