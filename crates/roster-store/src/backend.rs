//! What differs between the SQL backends, as the hooks the shared code
//! calls: how a write transaction begins and locks out other writers, how
//! rows, ids and timestamps are bound, and what a commit announces.
//! Everything else (the commit transaction, every table's statements) is
//! written once over these.

use crate::error::StoreError;
use crate::table::Val;
use sqlx::query::Query;
use sqlx::{Database, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

/// A SQL backend (implemented by sqlx's `Sqlite` and `Postgres`). Not a
/// "dialect": in this project that word means a vendor's API.
pub(crate) trait Backend: Database<Row: crate::table::Cols> + BindAlike {
    /// Rows per statement.
    const MAX_ROWS: usize;

    /// The statement that opens a write transaction.
    const BEGIN_WRITE: &'static str;

    /// Reads the committed revision first thing in a write transaction,
    /// holding what keeps other writers out until it ends.
    const LOCK_REVISION: &'static str;

    /// The statement that opens a read-only transaction whose reads all
    /// see one snapshot (an export).
    const BEGIN_SNAPSHOT: &'static str;

    /// What follows a text column in `ORDER BY` to order it by its bytes,
    /// as the other backend does (PostgreSQL's default collation does not).
    const BYTE_ORDER: &'static str;

    /// Run at the end of an import that wrote `audit_events.seq` itself, so
    /// that the next event appended is numbered after the imported ones.
    const RESYNC_AUDIT_SEQ: Option<&'static str>;

    /// Whether a read of many rows goes faster as chunks of one JSON text
    /// each (`json_array` per row, `group_concat` per chunk; SQLite, whose
    /// rows sqlx hands over one by one from a worker thread) than row by row.
    const JSON_CHUNKS: bool;

    /// About how many users and accounts there are, `(users, accounts)`, read
    /// first by the model loader to size the model (`Model::reserve`).
    const SIZES: &'static str;

    /// The query `qb` built, its arguments living as long as the borrow.
    /// Written out per backend because only a concrete backend shows sqlx's
    /// arguments to be covariant; a generic caller could not run `qb.build()`
    /// on a builder that holds borrowed values.
    fn build<'q>(qb: &'q mut QueryBuilder<'_, Self>) -> Query<'q, Self, Self::Arguments<'q>>;

    /// Pushes the rows (`width` values each, row after row) as the source
    /// of an `INSERT INTO t (cols) ..`.
    fn push_rows<'a>(
        qb: &mut QueryBuilder<'a, Self>,
        width: usize,
        vals: Vec<Val<'a>>,
    ) -> Result<(), StoreError>;

    /// Binds an id.
    fn bind_uuid(qb: &mut QueryBuilder<'_, Self>, v: Option<Uuid>);

    /// Binds a timestamp.
    fn bind_ts(qb: &mut QueryBuilder<'_, Self>, v: OffsetDateTime) -> Result<(), StoreError>;

    /// `IN (..)` / `= ANY(..)`: membership of the preceding expression in `vs`.
    fn push_in_uuids(qb: &mut QueryBuilder<'_, Self>, vs: &[Uuid]);

    /// A statement run last in a commit's transaction to announce its
    /// revision to other processes (none by default).
    fn announce<'a>(_revision: i64) -> Option<QueryBuilder<'a, Self>> {
        None
    }
}

/// Binding what every backend encodes alike (text and integers). The one
/// blanket impl below states sqlx's bounds, so that statements generic over
/// a [`Backend`] need not.
pub(crate) trait BindAlike: Database {
    /// Binds text.
    fn bind_str<'a>(qb: &mut QueryBuilder<'a, Self>, v: Option<&'a str>);
    /// Binds an integer.
    fn bind_int(qb: &mut QueryBuilder<'_, Self>, v: i64);
}

impl<DB: Database> BindAlike for DB
where
    for<'a> Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    fn bind_str<'a>(qb: &mut QueryBuilder<'a, Self>, v: Option<&'a str>) {
        qb.push_bind(v);
    }
    fn bind_int(qb: &mut QueryBuilder<'_, Self>, v: i64) {
        qb.push_bind(v);
    }
}
