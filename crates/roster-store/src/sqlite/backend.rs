//! How SQLite differs: ids and timestamps are text, rows are bound as
//! `VALUES (..), (..)`, the write lock is taken by `BEGIN IMMEDIATE`.

use crate::backend::{Backend, BindAlike};
use crate::error::StoreError;
use crate::table::{self, meta, Bad, Cols, Val};
use crate::value::format_ts;
use sqlx::query::Query;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};
use time::OffsetDateTime;
use uuid::Uuid;

impl Backend for Sqlite {
    /// 1000 rows of at most 16 columns stay below SQLite's 32766 parameters.
    const MAX_ROWS: usize = 1000;

    /// Takes SQLite's write lock at once, so writers (of this process and of
    /// any other process opening the same file) queue on it.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    /// The write lock is already held.
    const LOCK_REVISION: &'static str = meta::SELECT_REVISION;

    /// A deferred transaction: its first read fixes the WAL snapshot that
    /// every later read of it sees.
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";

    /// `BINARY`, the default.
    const BYTE_ORDER: &'static str = "";

    /// `AUTOINCREMENT` already counts from the largest `seq` inserted.
    const RESYNC_AUDIT_SEQ: Option<&'static str> = None;

    const JSON_CHUNKS: bool = true;

    /// The largest rowid, read from the end of each table's B-tree (a
    /// `count(*)` would read the whole table, tens of seconds at ten million
    /// grants).
    const SIZES: &'static str = "SELECT coalesce((SELECT max(rowid) FROM users), 0), \
         coalesce((SELECT max(rowid) FROM accounts), 0)";

    fn push_rows<'a>(
        qb: &mut QueryBuilder<'a, Self>,
        width: usize,
        vals: Vec<Val<'a>>,
    ) -> Result<(), StoreError> {
        qb.push("VALUES ");
        for (i, v) in vals.into_iter().enumerate() {
            if i % width == 0 {
                qb.push(if i == 0 { "(" } else { "), (" });
            } else {
                qb.push(", ");
            }
            match v {
                Val::Uuid(u) => Self::bind_uuid(qb, u),
                Val::Ts(t) => {
                    qb.push_bind(t.map(format_ts).transpose()?);
                }
                Val::Str(s) => Self::bind_str(qb, s),
                Val::String(s) | Val::Json(s) => {
                    qb.push_bind(s);
                }
                Val::Int(n) => Self::bind_int(qb, n),
            }
        }
        qb.push(")");
        Ok(())
    }

    fn bind_uuid(qb: &mut QueryBuilder<'_, Self>, v: Option<Uuid>) {
        qb.push_bind(v.map(|u| u.hyphenated().to_string()));
    }

    fn bind_ts(qb: &mut QueryBuilder<'_, Self>, v: OffsetDateTime) -> Result<(), StoreError> {
        qb.push_bind(format_ts(v)?);
        Ok(())
    }

    fn push_in_uuids(qb: &mut QueryBuilder<'_, Self>, vs: &[Uuid]) {
        if vs.len() <= Self::MAX_ROWS {
            qb.push(" IN (");
            for (i, v) in vs.iter().enumerate() {
                if i > 0 {
                    qb.push(", ");
                }
                Self::bind_uuid(qb, Some(*v));
            }
            qb.push(")");
        } else {
            // One parameter whatever the length.
            let list: Vec<String> = vs.iter().map(|u| u.hyphenated().to_string()).collect();
            qb.push(" IN (SELECT value FROM json_each(");
            qb.push_bind(serde_json::Value::from(list).to_string());
            qb.push("))");
        }
    }

    fn build<'q>(qb: &'q mut QueryBuilder<'_, Self>) -> Query<'q, Self, Self::Arguments<'q>> {
        qb.build()
    }
}

/// Ids and timestamps are text: the defaults of [`Cols`].
impl Cols for SqliteRow {
    fn opt_str(&self, i: usize) -> Result<Option<&str>, Bad> {
        table::get(self, i)
    }
    fn int(&self, i: usize) -> Result<i64, Bad> {
        table::get(self, i)
    }
}
