//! One descriptor per table: its name, columns and key, how a domain value
//! becomes a row and how a row becomes a domain value. The commit (which
//! writes rows) and the loaders (which read them) both go through these, so
//! a table's columns are declared once, in its file under `table/`.
//!
//! This module holds what every table shares: the [`Table`] trait, the row
//! [`Encoder`] and [`Decoder`], and the statements built from a descriptor
//! (`INSERT`, upsert, `DELETE` by id, `SELECT`), rendered by a [`Backend`].

pub(crate) mod accounts;
pub(crate) mod api_keys;
pub(crate) mod audit_events;
pub(crate) mod changes;
pub(crate) mod events;
pub(crate) mod grants;
pub(crate) mod groups;
pub(crate) mod identity_providers;
pub(crate) mod memberships;
pub(crate) mod meta;
pub(crate) mod organizations;
pub(crate) mod permissions;
pub(crate) mod roles;
pub(crate) mod signing_keys;
pub(crate) mod users;
pub(crate) mod webhooks;

use crate::backend::Backend;
use crate::error::StoreError;
use crate::value::{self, rev_to_i64, to_json};
use roster_domain::{DomainError, Revision};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::QueryBuilder;
use std::borrow::Cow;
use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

// ----- the descriptor ---------------------------------------------------------

/// One column of a table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Column {
    name: &'static str,
    /// Inserts write it (not: the database assigns it, `audit_events.seq`).
    written: bool,
    /// Selects read it (not: kept for the database's own constraints,
    /// `users.email_key`).
    read: bool,
    /// JSON, read through `CAST(.. AS TEXT)`, which both backends accept, so
    /// decoders see text everywhere.
    json: bool,
}

/// A column written and read as it is.
pub(crate) const fn col(name: &'static str) -> Column {
    Column {
        name,
        written: true,
        read: true,
        json: false,
    }
}

/// A JSON column.
pub(crate) const fn json(name: &'static str) -> Column {
    Column {
        json: true,
        ..col(name)
    }
}

/// A column only written (derived from the entity for a constraint).
pub(crate) const fn write_only(name: &'static str) -> Column {
    Column {
        read: false,
        ..col(name)
    }
}

/// A column the database fills in, only read.
pub(crate) const fn generated(name: &'static str) -> Column {
    Column {
        written: false,
        ..col(name)
    }
}

/// A table: where its rows live and how they map to domain values.
pub(crate) trait Table {
    /// The table's name.
    const NAME: &'static str;
    /// Its columns, in the order [`Table::encode`] writes and
    /// [`Table::decode`] reads them.
    const COLUMNS: &'static [Column];
    /// The conflict target of an upsert (empty where rows are only appended).
    const KEY: &'static [&'static str];
    /// What one row is written from.
    type Written: ?Sized;
    /// What one row reads back as.
    type Read;
    /// Pushes the values of the written columns, in order.
    fn encode<'a>(v: &'a Self::Written, row: &mut Encoder<'a>) -> Result<(), StoreError>;
    /// Reads the read columns, in order.
    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Self::Read, StoreError>;
}

/// The columns a `SELECT` of `columns` lists, in order:
/// `id, name, CAST(phone AS TEXT), ..`.
pub(crate) fn select_list(columns: &[Column]) -> String {
    let mut out = String::new();
    for c in columns.iter().filter(|c| c.read) {
        if !out.is_empty() {
            out.push_str(", ");
        }
        if c.json {
            out.push_str("CAST(");
            out.push_str(c.name);
            out.push_str(" AS TEXT)");
        } else {
            out.push_str(c.name);
        }
    }
    out
}

// ----- writing rows -----------------------------------------------------------

/// One column value of a row to write.
#[derive(Debug)]
pub(crate) enum Val<'a> {
    Uuid(Option<Uuid>),
    Ts(Option<OffsetDateTime>),
    Str(Option<&'a str>),
    String(Option<String>),
    Json(Option<String>),
    Int(i64),
}

/// Collects the values of rows, row after row, for [`Backend::push_rows`].
#[derive(Debug)]
pub(crate) struct Encoder<'a> {
    vals: Vec<Val<'a>>,
}

impl<'a> Encoder<'a> {
    pub(crate) fn uuid(&mut self, v: Uuid) -> &mut Self {
        self.opt_uuid(Some(v))
    }
    pub(crate) fn opt_uuid(&mut self, v: Option<Uuid>) -> &mut Self {
        self.vals.push(Val::Uuid(v));
        self
    }
    pub(crate) fn ts(&mut self, v: OffsetDateTime) -> &mut Self {
        self.opt_ts(Some(v))
    }
    pub(crate) fn opt_ts(&mut self, v: Option<OffsetDateTime>) -> &mut Self {
        self.vals.push(Val::Ts(v));
        self
    }
    pub(crate) fn str(&mut self, v: &'a str) -> &mut Self {
        self.opt_str(Some(v))
    }
    pub(crate) fn opt_str(&mut self, v: Option<&'a str>) -> &mut Self {
        self.vals.push(Val::Str(v));
        self
    }
    pub(crate) fn string(&mut self, v: String) -> &mut Self {
        self.vals.push(Val::String(Some(v)));
        self
    }
    pub(crate) fn json<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<&mut Self, StoreError> {
        self.vals.push(Val::Json(Some(to_json(v)?)));
        Ok(self)
    }
    pub(crate) fn opt_json<T: Serialize>(
        &mut self,
        v: Option<&T>,
    ) -> Result<&mut Self, StoreError> {
        self.vals.push(Val::Json(v.map(to_json).transpose()?));
        Ok(self)
    }
    pub(crate) fn int(&mut self, v: i64) -> &mut Self {
        self.vals.push(Val::Int(v));
        self
    }
    pub(crate) fn rev(&mut self, v: Revision) -> Result<&mut Self, StoreError> {
        Ok(self.int(rev_to_i64(v)?))
    }
}

/// `INSERT INTO t (..) <rows>` of at most [`Backend::MAX_ROWS`] rows.
pub(crate) fn insert<'a, B: Backend, T: Table>(
    rows: &[&'a T::Written],
) -> Result<QueryBuilder<'a, B>, StoreError> {
    let written = || T::COLUMNS.iter().filter(|c| c.written);
    let width = written().count();
    let mut row = Encoder {
        vals: Vec::with_capacity(width * rows.len()),
    };
    for r in rows {
        T::encode(r, &mut row)?;
    }
    if row.vals.len() != width * rows.len() {
        return Err(StoreError::Invalid(format!(
            "{}: wrong number of values",
            T::NAME
        )));
    }
    let mut qb = QueryBuilder::default();
    qb.push("INSERT INTO ");
    qb.push(T::NAME);
    qb.push(" (");
    for (i, c) in written().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        qb.push(c.name);
    }
    qb.push(") ");
    B::push_rows(&mut qb, width, row.vals)?;
    Ok(qb)
}

/// [`insert`] that replaces existing rows (by the table's key) in place.
pub(crate) fn upsert<'a, B: Backend, T: Table>(
    rows: &[&'a T::Written],
) -> Result<QueryBuilder<'a, B>, StoreError> {
    let mut qb = insert::<B, T>(rows)?;
    qb.push(" ON CONFLICT (");
    qb.push(T::KEY.join(", "));
    qb.push(") DO UPDATE SET ");
    let set = T::COLUMNS
        .iter()
        .filter(|c| c.written && !T::KEY.contains(&c.name));
    for (i, c) in set.enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        qb.push(format_args!("{0} = excluded.{0}", c.name));
    }
    Ok(qb)
}

/// `DELETE FROM t WHERE id IN (..)`, for a table keyed by its `id`.
pub(crate) fn delete_by_id<'a, B: Backend, T: Table>(
    ids: &[Uuid],
) -> Result<QueryBuilder<'a, B>, StoreError> {
    let mut qb = QueryBuilder::default();
    qb.push("DELETE FROM ");
    qb.push(T::NAME);
    qb.push(" WHERE id");
    B::push_in_uuids(&mut qb, ids);
    Ok(qb)
}

/// `SELECT <read columns> FROM t`, to which a caller may add a `WHERE`.
pub(crate) fn select<'a, B: Backend, T: Table>() -> QueryBuilder<'a, B> {
    let mut qb = QueryBuilder::default();
    qb.push("SELECT ");
    qb.push(select_list(T::COLUMNS));
    qb.push(" FROM ");
    qb.push(T::NAME);
    qb
}

// ----- reading rows -----------------------------------------------------------

/// Why a column did not read as asked. Cheap to pass around: the
/// [`Decoder`] names the column (`users.email: ..`) only when one fails.
#[derive(Debug)]
pub(crate) struct Bad(Cow<'static, str>);

impl Bad {
    /// A failure described by `e`.
    #[cold]
    pub(crate) fn new(e: impl fmt::Display) -> Self {
        Self(Cow::Owned(e.to_string()))
    }
    /// A failure described by a fixed text.
    #[cold]
    pub(crate) const fn said(what: &'static str) -> Self {
        Self(Cow::Borrowed(what))
    }
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Positional typed access to a row of a backend. Ids and timestamps are
/// text unless a backend has types of its own for them (PostgreSQL's `uuid`
/// and `timestamptz`).
pub(crate) trait Cols {
    fn opt_str(&self, i: usize) -> Result<Option<&str>, Bad>;
    fn int(&self, i: usize) -> Result<i64, Bad>;
    #[inline]
    fn opt_uuid(&self, i: usize) -> Result<Option<Uuid>, Bad> {
        match self.opt_str(i)? {
            Some(s) => Uuid::parse_str(s).map(Some).map_err(Bad::new),
            None => Ok(None),
        }
    }
    #[inline]
    fn opt_ts(&self, i: usize) -> Result<Option<OffsetDateTime>, Bad> {
        match self.opt_str(i)? {
            Some(s) => value::parse_ts(s).map(Some).map_err(Bad::new),
            None => Ok(None),
        }
    }
}

/// Column `i` of an sqlx row.
#[inline]
pub(crate) fn get<'r, R, T>(row: &'r R, i: usize) -> Result<T, Bad>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    row.try_get(i).map_err(Bad::new)
}

/// Reads one row's columns in their declared order.
#[derive(Debug)]
pub(crate) struct Decoder<'r, R> {
    row: &'r R,
    table: &'static str,
    columns: &'static [Column],
    at: usize,
}

/// Decodes one row of table `T`.
#[inline]
pub(crate) fn decode<T: Table, R: Cols>(row: &R) -> Result<T::Read, StoreError> {
    T::decode(&mut Decoder {
        row,
        table: T::NAME,
        columns: T::COLUMNS,
        at: 0,
    })
}

impl<'r, R: Cols> Decoder<'r, R> {
    /// The position of the next column read.
    #[inline]
    fn next(&mut self) -> usize {
        let at = self.at;
        self.at += 1;
        at
    }

    /// Column `at` failed: `table.column: why`.
    #[cold]
    fn bad(&self, at: usize, why: impl fmt::Display) -> StoreError {
        let column = self
            .columns
            .iter()
            .filter(|c| c.read)
            .nth(at)
            .map_or("?", |c| c.name);
        StoreError::Corrupt(format!("{}.{column}: {why}", self.table))
    }

    /// Column `at`, read by `r`, that must not be null.
    #[inline]
    fn required<T>(&self, at: usize, r: Result<Option<T>, Bad>) -> Result<T, StoreError> {
        match r {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(self.bad(at, "null")),
            Err(e) => Err(self.bad(at, e)),
        }
    }

    #[inline]
    pub(crate) fn opt_str(&mut self) -> Result<Option<&'r str>, StoreError> {
        let at = self.next();
        self.row.opt_str(at).map_err(|e| self.bad(at, e))
    }
    #[inline]
    pub(crate) fn str(&mut self) -> Result<&'r str, StoreError> {
        let at = self.next();
        self.required(at, self.row.opt_str(at))
    }
    #[inline]
    pub(crate) fn string(&mut self) -> Result<String, StoreError> {
        self.str().map(str::to_owned)
    }
    #[inline]
    pub(crate) fn opt_uuid(&mut self) -> Result<Option<Uuid>, StoreError> {
        let at = self.next();
        self.row.opt_uuid(at).map_err(|e| self.bad(at, e))
    }
    #[inline]
    pub(crate) fn uuid(&mut self) -> Result<Uuid, StoreError> {
        let at = self.next();
        self.required(at, self.row.opt_uuid(at))
    }
    #[inline]
    pub(crate) fn opt_ts(&mut self) -> Result<Option<OffsetDateTime>, StoreError> {
        let at = self.next();
        self.row.opt_ts(at).map_err(|e| self.bad(at, e))
    }
    #[inline]
    pub(crate) fn ts(&mut self) -> Result<OffsetDateTime, StoreError> {
        let at = self.next();
        self.required(at, self.row.opt_ts(at))
    }
    #[inline]
    pub(crate) fn int(&mut self) -> Result<i64, StoreError> {
        let at = self.next();
        self.row.int(at).map_err(|e| self.bad(at, e))
    }
    #[inline]
    pub(crate) fn rev(&mut self) -> Result<Revision, StoreError> {
        let at = self.next();
        let v = self.row.int(at).map_err(|e| self.bad(at, e))?;
        Revision::try_from(v).map_err(|e| self.bad(at, e))
    }
    /// Text that a domain type parses (a refusal means the row is corrupt).
    #[inline]
    pub(crate) fn parse<T>(
        &mut self,
        parse: impl FnOnce(&str) -> Result<T, DomainError>,
    ) -> Result<T, StoreError> {
        let at = self.next();
        let s = self.required(at, self.row.opt_str(at))?;
        parse(s).map_err(|e| self.bad(at, e))
    }
    /// Nullable text that a domain type parses.
    #[inline]
    pub(crate) fn opt_parse<T>(
        &mut self,
        parse: impl FnOnce(&str) -> Result<T, DomainError>,
    ) -> Result<Option<T>, StoreError> {
        let at = self.next();
        match self.row.opt_str(at) {
            Ok(Some(s)) => parse(s).map(Some).map_err(|e| self.bad(at, e)),
            Ok(None) => Ok(None),
            Err(e) => Err(self.bad(at, e)),
        }
    }
    #[inline]
    pub(crate) fn json<T: DeserializeOwned>(&mut self) -> Result<T, StoreError> {
        let at = self.next();
        let s = self.required(at, self.row.opt_str(at))?;
        serde_json::from_str(s).map_err(|e| self.bad(at, e))
    }
    #[inline]
    pub(crate) fn opt_json<T: DeserializeOwned>(&mut self) -> Result<Option<T>, StoreError> {
        let at = self.next();
        match self.row.opt_str(at) {
            Ok(Some(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|e| self.bad(at, e)),
            Ok(None) => Ok(None),
            Err(e) => Err(self.bad(at, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::audit_events::AuditEvents;
    use crate::table::users::Users;

    /// A row of text cells.
    struct Texts(Vec<Option<&'static str>>);

    impl Cols for Texts {
        fn opt_str(&self, i: usize) -> Result<Option<&str>, Bad> {
            self.0.get(i).copied().ok_or(Bad::said("missing"))
        }
        fn int(&self, _: usize) -> Result<i64, Bad> {
            Err(Bad::said("not an integer"))
        }
    }

    #[test]
    fn selects_list_the_read_columns_json_as_text() {
        assert_eq!(
            select_list(Users::COLUMNS),
            "id, organization_id, email, first_name, last_name, CAST(phone AS TEXT), \
             CAST(settings AS TEXT), CAST(external_ids AS TEXT), status, created_at, \
             created_by, updated_at, updated_by, deleted_at, revision"
        );
        assert!(select_list(AuditEvents::COLUMNS).starts_with("seq, occurred_at, "));
    }

    #[test]
    fn a_failing_column_is_named_by_its_place_among_the_read_ones() {
        let id = "0190c5a8-7b7e-7000-8000-000000000001";
        // `users.email_key` is written but never read: the fourth column
        // read is `first_name`.
        let row = Texts(vec![Some(id), Some(id), Some("zoe@example.com"), Some("")]);
        let err = decode::<Users, _>(&row).unwrap_err().to_string();
        assert!(err.starts_with("corrupt data: users.first_name: "), "{err}");
        let row = Texts(vec![Some(id), None]);
        let err = decode::<Users, _>(&row).unwrap_err().to_string();
        assert_eq!(err, "corrupt data: users.organization_id: null");
    }
}
