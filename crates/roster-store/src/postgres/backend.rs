//! How PostgreSQL differs: ids and timestamps have types of their own, rows
//! are bound as one typed array per column (`SELECT * FROM UNNEST(..)`, so
//! a statement's text does not grow with its rows and stays prepared),
//! writers queue on a row lock of the revision, and a commit is announced
//! with `pg_notify`.

use crate::backend::Backend;
use crate::error::StoreError;
use crate::table::{self, Bad, Cols, Val};
use crate::value::truncate_micros;
use sqlx::postgres::PgRow;
use sqlx::query::Query;
use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

impl Backend for Postgres {
    /// One parameter per column whatever the rows: the limit only bounds
    /// the size of one statement.
    const MAX_ROWS: usize = 5000;

    const BEGIN_WRITE: &'static str = "BEGIN";

    /// The row lock serializes writers across replicas until `COMMIT`.
    const LOCK_REVISION: &'static str = "SELECT revision FROM meta WHERE id = 1 FOR UPDATE";

    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

    const BYTE_ORDER: &'static str = " COLLATE \"C\"";

    /// The `BIGSERIAL`'s sequence continues after the largest `seq`.
    const RESYNC_AUDIT_SEQ: Option<&'static str> = Some(
        "SELECT setval(pg_get_serial_sequence('audit_events', 'seq'), \
         coalesce(max(seq), 1), max(seq) IS NOT NULL) FROM audit_events",
    );

    const JSON_CHUNKS: bool = false;

    /// The planner's row estimates (0 before the first `ANALYZE`).
    const SIZES: &'static str = "SELECT \
         (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'users'::regclass), \
         (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'accounts'::regclass)";

    fn push_rows<'a>(
        qb: &mut QueryBuilder<'a, Self>,
        width: usize,
        vals: Vec<Val<'a>>,
    ) -> Result<(), StoreError> {
        let rows = vals.len() / width.max(1);
        let mut columns: Vec<Column<'a>> = vals
            .iter()
            .take(width)
            .map(|v| Column::new(v, rows))
            .collect();
        for (i, v) in vals.into_iter().enumerate() {
            if let Some(c) = columns.get_mut(i % width) {
                c.push(v)?;
            }
        }
        qb.push("SELECT * FROM UNNEST(");
        for (i, c) in columns.into_iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            c.bind(qb);
        }
        qb.push(")");
        Ok(())
    }

    fn bind_uuid(qb: &mut QueryBuilder<'_, Self>, v: Option<Uuid>) {
        qb.push_bind(v);
    }

    fn bind_ts(qb: &mut QueryBuilder<'_, Self>, v: OffsetDateTime) -> Result<(), StoreError> {
        qb.push_bind(truncate_micros(v));
        Ok(())
    }

    fn push_in_uuids(qb: &mut QueryBuilder<'_, Self>, vs: &[Uuid]) {
        qb.push(" = ANY(");
        qb.push_bind(vs.to_vec());
        qb.push(")");
    }

    /// Delivered at `COMMIT` to every replica listening on
    /// [`super::CHANGES_CHANNEL`].
    fn announce<'a>(revision: i64) -> Option<QueryBuilder<'a, Self>> {
        let mut qb = QueryBuilder::new("SELECT pg_notify(");
        qb.push_bind(super::CHANGES_CHANNEL);
        qb.push(", ");
        qb.push_bind(revision.to_string());
        qb.push(")");
        Some(qb)
    }

    fn build<'q>(qb: &'q mut QueryBuilder<'_, Self>) -> Query<'q, Self, Self::Arguments<'q>> {
        qb.build()
    }
}

/// One column of rows for `UNNEST`.
enum Column<'a> {
    Uuid(Vec<Option<Uuid>>),
    Ts(Vec<Option<OffsetDateTime>>),
    Str(Vec<Option<&'a str>>),
    String(Vec<Option<String>>),
    Json(Vec<Option<String>>),
    Int(Vec<i64>),
}

impl<'a> Column<'a> {
    fn new(first: &Val<'_>, rows: usize) -> Self {
        match first {
            Val::Uuid(_) => Self::Uuid(Vec::with_capacity(rows)),
            Val::Ts(_) => Self::Ts(Vec::with_capacity(rows)),
            Val::Str(_) => Self::Str(Vec::with_capacity(rows)),
            Val::String(_) => Self::String(Vec::with_capacity(rows)),
            Val::Json(_) => Self::Json(Vec::with_capacity(rows)),
            Val::Int(_) => Self::Int(Vec::with_capacity(rows)),
        }
    }
    fn push(&mut self, v: Val<'a>) -> Result<(), StoreError> {
        match (self, v) {
            (Self::Uuid(c), Val::Uuid(v)) => c.push(v),
            (Self::Ts(c), Val::Ts(v)) => c.push(v.map(truncate_micros)),
            (Self::Str(c), Val::Str(v)) => c.push(v),
            (Self::String(c), Val::String(v)) | (Self::Json(c), Val::Json(v)) => c.push(v),
            (Self::Int(c), Val::Int(v)) => c.push(v),
            (_, v) => return Err(StoreError::Invalid(format!("mixed column types at {v:?}"))),
        }
        Ok(())
    }
    fn bind(self, qb: &mut QueryBuilder<'a, Postgres>) {
        match self {
            Self::Uuid(c) => qb.push_bind(c).push("::uuid[]"),
            Self::Ts(c) => qb.push_bind(c).push("::timestamptz[]"),
            Self::Str(c) => qb.push_bind(c).push("::text[]"),
            Self::String(c) => qb.push_bind(c).push("::text[]"),
            Self::Json(c) => qb.push_bind(c).push("::text[]::json[]"),
            Self::Int(c) => qb.push_bind(c).push("::int8[]"),
        };
    }
}

/// Ids and timestamps decode natively.
impl Cols for PgRow {
    fn opt_str(&self, i: usize) -> Result<Option<&str>, Bad> {
        table::get(self, i)
    }
    fn int(&self, i: usize) -> Result<i64, Bad> {
        table::get(self, i)
    }
    fn opt_uuid(&self, i: usize) -> Result<Option<Uuid>, Bad> {
        table::get(self, i)
    }
    fn opt_ts(&self, i: usize) -> Result<Option<OffsetDateTime>, Bad> {
        table::get(self, i)
    }
}
