//! The export format and its two directions: `export` writes one snapshot of
//! a database as versioned JSON Lines, `import` loads such a file into an
//! empty database (docs/operations.md, "Export and import").
//!
//! A file is a header line (`{"format":"roster-export","version":1,..}`),
//! then one line per record, `{"kind":"user","data":{..}}`, kind after kind
//! in the order of [`Kind::ALL`] (each kind's records ordered by their key),
//! then a trailer, `{"kind":"end","data":{"records":N,"counts":{..}}}`,
//! whose counts tell a complete file from a truncated one. A record's data
//! is the entity's serde form, the one the change log already carries, so
//! reading it back parses every value as the API would.
//!
//! Every kind is one line of the [`kinds!`] table below: its name, its
//! entity type, the table descriptor that reads and writes its rows, and
//! the key its records are ordered by. Export reads through the
//! descriptor's `SELECT`, import writes through its multi-row `INSERT`.
//! The references import checks (a user's organization comes first) are in
//! [`Checker::check`].

use crate::backend::Backend;
use crate::error::StoreError;
use crate::table::accounts::Accounts;
use crate::table::api_keys::ApiKeys;
use crate::table::audit_events::NumberedAuditEvents;
use crate::table::events::Events;
use crate::table::grants::Grants;
use crate::table::groups::{GroupMembers, Groups};
use crate::table::identity_providers::IdentityProviders;
use crate::table::memberships::Memberships;
use crate::table::organizations::Organizations;
use crate::table::permissions::Permissions;
use crate::table::roles::Roles;
use crate::table::signing_keys::SigningKeys;
use crate::table::users::Users;
use crate::table::webhooks::Webhooks;
use crate::table::{self, Table};
use crate::value;
use futures::TryStreamExt;
use roster_domain::{
    Account, ApiKey, AuditEvent, Change, Event, Grant, GrantHolder, Group, GroupMember,
    IdentityProvider, Membership, Organization, Permission, Revision, Role, SigningKey, User,
    Webhook,
};
use serde::{Deserialize, Serialize};
use sqlx::{Executor, IntoArguments, Pool, QueryBuilder};
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use uuid::Uuid;

/// Line 1's `format`.
pub const FORMAT: &str = "roster-export";

/// The version of the format this build writes and reads. It changes
/// whenever a file written by this build could not be read by an older
/// one, or the other way round (a kind or a field added, removed or
/// changed); a reader refuses every other version.
pub const VERSION: u32 = 2;

/// What can go wrong in an export or an import.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading the input or writing the output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A line of the input is not what the format allows; nothing was written.
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        message: String,
    },
    /// The database refused the records of these lines (a duplicate key, a
    /// live email used twice); nothing was written.
    #[error("lines {first}-{last}: the database refused them: {source}")]
    Rows {
        /// First line of the refused statement.
        first: u64,
        /// Last line of the refused statement.
        last: u64,
        /// The database's refusal.
        source: StoreError,
    },
    /// The target database of an import already holds data.
    #[error("the target database is not empty ({0}); import only into an empty database")]
    NotEmpty(String),
}

impl From<sqlx::Error> for TransferError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// What an export wrote, or an import loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The revision of the snapshot.
    pub revision: Revision,
    /// The last event number of the snapshot.
    pub event_seq: i64,
    /// Records, the header and trailer not counted.
    pub records: u64,
    /// Records per kind.
    pub counts: BTreeMap<String, u64>,
}

/// Line 1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    /// The revision every record is at or before.
    revision: Revision,
    /// `meta.event_seq`: the number of the last event of the feed.
    event_seq: i64,
    /// Whether the audit trail and the event feed are included.
    with_audit: bool,
}

/// The last line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trailer {
    records: u64,
    counts: BTreeMap<String, u64>,
}

/// The `ORDER BY` of one column: an id (compared alike everywhere) or text
/// (compared by its bytes).
#[derive(Clone, Copy, Debug)]
enum Order {
    Id(&'static str),
    Text(&'static str),
}

/// The kinds of record, each one line: variant = name: entity type, table
/// descriptor, audit only (`--with-audit`), order, and which `Read` of the
/// descriptor is a record. Adding a kind (a new table) is a line here, and a
/// few in [`Checker::check`] if its records refer to others.
macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal: $ty:ty, $table:ty, audit: $audit:literal,
        order: [$($order:expr),*], read: $pat:pat => $val:expr; )*) => {
        /// A kind of record, in the order an export writes them: every
        /// record comes after those it refers to.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind { $( $(#[$doc])* $variant, )* }

        impl Kind {
            /// Every kind, in file order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// Its name, the records' `kind`.
            pub fn name(self) -> &'static str {
                match self { $(Kind::$variant => $name),* }
            }

            /// Only exported with `--with-audit` (the audit trail, the feed).
            pub fn audit(self) -> bool {
                match self { $(Kind::$variant => $audit),* }
            }

            /// The table its records live in.
            pub fn table(self) -> &'static str {
                match self { $(Kind::$variant => <$table as Table>::NAME),* }
            }

            fn order(self) -> &'static [Order] {
                match self { $(Kind::$variant => &[$($order),*]),* }
            }
        }

        /// One line after the header.
        #[derive(Debug, Serialize, Deserialize)]
        #[serde(tag = "kind", content = "data")]
        enum Record {
            $( #[serde(rename = $name)] $variant($ty), )*
            /// The trailer.
            #[serde(rename = "end")]
            End(Trailer),
        }

        impl Record {
            /// Its kind (`None`: the trailer).
            fn kind(&self) -> Option<Kind> {
                match self { $(Record::$variant(_) => Some(Kind::$variant),)* Record::End(_) => None }
            }

            /// The revision it was last changed at.
            fn revision(&self) -> Option<Revision> {
                match self { $(Record::$variant(v) => Some(v.revision),)* Record::End(_) => None }
            }
        }

        /// Writes every record of `kind` from the snapshot `conn` reads.
        async fn export_kind<B>(
            kind: Kind,
            conn: &mut B::Connection,
            out: &mut impl Write,
        ) -> Result<u64, TransferError>
        where
            B: Backend,
            for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
            for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
        {
            match kind {
                $(Kind::$variant => export_table::<B, $table>(kind, conn, out, |r| {
                    match r {
                        $pat => Some(Record::$variant($val)),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }).await,)*
            }
        }

        /// `INSERT INTO` the table of `kind` the records of a run (all of
        /// that kind).
        fn insert_run<'a, B: Backend>(
            kind: Kind,
            run: &'a [Record],
        ) -> Result<QueryBuilder<'a, B>, StoreError> {
            match kind {
                $(Kind::$variant => {
                    let rows: Vec<&$ty> = run
                        .iter()
                        .filter_map(|r| match r { Record::$variant(v) => Some(v), _ => None })
                        .collect();
                    table::insert::<B, $table>(&rows)
                })*
            }
        }
    };
}

kinds! {
    /// `organization`: [`Organization`].
    Organization = "organization": Organization, Organizations, audit: false,
        order: [Order::Id("id")], read: Change::PutOrganization(v) => v;
    /// `account`: [`Account`].
    Account = "account": Account, Accounts, audit: false,
        order: [Order::Id("id")], read: Change::PutAccount(v) => v;
    /// `user`: [`User`].
    User = "user": User, Users, audit: false,
        order: [Order::Id("id")], read: Change::PutUser(v) => v;
    /// `membership`: [`Membership`].
    Membership = "membership": Membership, Memberships, audit: false,
        order: [Order::Id("id")], read: Change::PutMembership(v) => v;
    /// `permission`: [`Permission`] (custom ones; the catalogue is not stored).
    Permission = "permission": Permission, Permissions, audit: false,
        order: [Order::Id("id")], read: Change::PutPermission(v) => v;
    /// `role`: [`Role`] (custom ones).
    Role = "role": Role, Roles, audit: false,
        order: [Order::Id("organization_id"), Order::Text("id")], read: Change::PutRole(v) => v;
    /// `group`: [`Group`].
    Group = "group": Group, Groups, audit: false,
        order: [Order::Id("id")], read: Change::PutGroup(v) => v;
    /// `group_member`: [`GroupMember`].
    GroupMember = "group_member": GroupMember, GroupMembers, audit: false,
        order: [Order::Id("group_id"), Order::Id("user_id")], read: Change::PutGroupMember(v) => v;
    /// `grant`: [`Grant`].
    Grant = "grant": Grant, Grants, audit: false,
        order: [Order::Id("id")], read: Change::PutGrant(v) => v;
    /// `api_key`: [`ApiKey`], the secret's hash only.
    ApiKey = "api_key": ApiKey, ApiKeys, audit: false,
        order: [Order::Id("id")], read: Change::PutApiKey(v) => v;
    /// `signing_key`: [`SigningKey`], with its private key.
    SigningKey = "signing_key": SigningKey, SigningKeys, audit: false,
        order: [Order::Id("id")], read: Change::PutSigningKey(v) => v;
    /// `identity_provider`: [`IdentityProvider`].
    IdentityProvider = "identity_provider": IdentityProvider, IdentityProviders, audit: false,
        order: [Order::Id("id")], read: Change::PutIdentityProvider(v) => v;
    /// `webhook`: [`Webhook`], with its secrets (its delivery state is not
    /// exported: an imported subscription starts after its creation's events).
    Webhook = "webhook": Webhook, Webhooks, audit: false,
        order: [Order::Id("id")], read: Change::PutWebhook(v) => v;
    /// `audit_event`: [`AuditEvent`], with its `seq`.
    AuditEvent = "audit_event": AuditEvent, NumberedAuditEvents, audit: true,
        order: [Order::Id("seq")], read: v => v;
    /// `event`: [`Event`] of the feed, with its `seq`.
    Event = "event": Event, Events, audit: true,
        order: [Order::Id("seq")], read: v => v;
}

// ----- export -------------------------------------------------------------------

/// Writes the whole database as one snapshot: header, records, trailer.
/// Rows are streamed (one row in memory at a time, whatever the size).
pub(crate) async fn export<B>(
    pool: &Pool<B>,
    out: &mut (dyn Write + Send),
    with_audit: bool,
) -> Result<Summary, TransferError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
    (i64, i64): for<'r> sqlx::FromRow<'r, B::Row>,
{
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let mut tx = pool.begin_with(B::BEGIN_SNAPSHOT).await?;
    // INVARIANT: the first read of the transaction, so on SQLite it fixes
    // the snapshot every table is then read from.
    let (revision, event_seq): (i64, i64) =
        sqlx::query_as("SELECT revision, event_seq FROM meta WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
    let revision = value::revision(revision, crate::table::meta::REVISION)?;
    let header = Header {
        format: FORMAT.to_owned(),
        version: VERSION,
        revision,
        event_seq,
        with_audit,
    };
    line(&mut out, &header)?;
    let mut counts = BTreeMap::new();
    let mut records = 0;
    for &kind in Kind::ALL {
        if kind.audit() && !with_audit {
            continue;
        }
        let n = export_kind::<B>(kind, &mut *tx, &mut out).await?;
        records += n;
        counts.insert(kind.name().to_owned(), n);
    }
    let trailer = Record::End(Trailer {
        records,
        counts: counts.clone(),
    });
    line(&mut out, &trailer)?;
    out.flush()?;
    tx.rollback().await?;
    Ok(Summary {
        revision,
        event_seq,
        records,
        counts,
    })
}

/// One JSON line.
fn line(out: &mut impl Write, v: &impl Serialize) -> Result<(), TransferError> {
    serde_json::to_writer(&mut *out, v).map_err(|e| {
        if e.is_io() {
            TransferError::Io(e.into())
        } else {
            StoreError::Invalid(format!("cannot serialize: {e}")).into()
        }
    })?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes every row of table `T`, in key order, as a record of `kind`.
async fn export_table<B, T>(
    kind: Kind,
    conn: &mut B::Connection,
    out: &mut impl Write,
    record: impl Fn(T::Read) -> Option<Record>,
) -> Result<u64, TransferError>
where
    B: Backend,
    T: Table,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    if let ([Order::Id(key)], true) = (kind.order(), B::JSON_CHUNKS) {
        return export_chunked::<B, T>(kind, key, conn, out, record).await;
    }
    let mut qb = table::select::<B, T>();
    qb.push(" ORDER BY ");
    for (i, o) in kind.order().iter().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        match o {
            Order::Id(c) => qb.push(c),
            Order::Text(c) => qb.push(c).push(B::BYTE_ORDER),
        };
    }
    let mut n = 0;
    let mut rows = B::build(&mut qb).fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        row_line::<T>(kind, record(table::decode::<T, B::Row>(&row)?), out)?;
        n += 1;
    }
    Ok(n)
}

/// Writes the record of one row of table `T` as a line; a row that makes
/// no record of `kind` is corrupt.
fn row_line<T: Table>(
    kind: Kind,
    record: Option<Record>,
    out: &mut impl Write,
) -> Result<(), TransferError> {
    let Some(r) = record else {
        return Err(StoreError::Corrupt(format!("{}: not a `{}`", T::NAME, kind.name())).into());
    };
    line(out, &r)
}

/// Rows per chunk of [`export_chunked`].
const EXPORT_CHUNK: i64 = 5000;

/// [`export_table`] for a table ordered by one column `key`, on a backend
/// that reads faster in JSON chunks ([`Backend::JSON_CHUNKS`]): pages of
/// [`EXPORT_CHUNK`] rows in key order (`WHERE key > last`), each one text.
async fn export_chunked<B, T>(
    kind: Kind,
    key: &str,
    conn: &mut B::Connection,
    out: &mut impl Write,
    record: impl Fn(T::Read) -> Option<Record>,
) -> Result<u64, TransferError>
where
    B: Backend,
    T: Table,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    use crate::table::Cols as _;
    let mut n = 0;
    let mut after: Option<String> = None;
    loop {
        let mut qb = QueryBuilder::<B>::new(format!(
            "SELECT CAST(max(k) AS TEXT), '[' || coalesce(group_concat(j, ','), '') || ']' \
             FROM (SELECT {key} AS k, json_array({}) AS j FROM {}",
            table::select_list(T::COLUMNS),
            T::NAME
        ));
        if let Some(last) = &after {
            // An integer key compares with the text by the column's affinity.
            qb.push(format!(" WHERE {key} > "));
            B::bind_str(&mut qb, Some(last));
        }
        qb.push(format!(" ORDER BY {key} LIMIT {EXPORT_CHUNK})"));
        let row = B::build(&mut qb).fetch_one(&mut *conn).await?;
        drop(qb);
        let corrupt = |e| StoreError::corrupt(T::NAME, e);
        let Some(last) = row.opt_str(0).map_err(corrupt)?.map(str::to_owned) else {
            return Ok(n);
        };
        let chunk = row.opt_str(1).map_err(corrupt)?.unwrap_or("[]");
        let rows = crate::sqlite::load::JsonRow::rows(chunk)
            .map_err(|e| StoreError::corrupt(T::NAME, e))?;
        for r in rows {
            row_line::<T>(kind, record(table::decode::<T, _>(&r)?), out)?;
            n += 1;
        }
        after = Some(last);
    }
}

// ----- import -------------------------------------------------------------------

/// Records of one kind from consecutive lines, inserted by one statement.
#[derive(Debug)]
struct Run {
    kind: Kind,
    first: u64,
    last: u64,
    records: Vec<Record>,
}

/// Loads an export into the empty database of `pool`, in one transaction:
/// the file is read and checked on a thread of its own while the records
/// read so far are inserted, and any refusal (of the file or of the
/// database) rolls everything back.
pub(crate) async fn import<B>(
    pool: &Pool<B>,
    input: Box<dyn BufRead + Send>,
) -> Result<Summary, TransferError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
    (i64,): for<'r> sqlx::FromRow<'r, B::Row>,
{
    let (send, mut runs) = tokio::sync::mpsc::channel::<Run>(4);
    let max = B::MAX_ROWS;
    let reader = tokio::task::spawn_blocking(move || read(input, max, &send));
    let mut tx = pool.begin_with(B::BEGIN_WRITE).await?;
    let loaded = async {
        let current: i64 = sqlx::query_scalar(B::LOCK_REVISION)
            .fetch_one(&mut *tx)
            .await?;
        ensure_empty::<B>(&mut *tx, current).await?;
        while let Some(run) = runs.recv().await {
            let mut qb = insert_run::<B>(run.kind, &run.records)?;
            B::build(&mut qb)
                .execute(&mut *tx)
                .await
                .map_err(|e| TransferError::Rows {
                    first: run.first,
                    last: run.last,
                    source: e.into(),
                })?;
        }
        let summary = reader
            .await
            .map_err(|e| StoreError::Invalid(format!("import reader: {e}")))??;
        let mut qb = QueryBuilder::<B>::new("UPDATE meta SET revision = ");
        B::bind_int(&mut qb, value::rev_to_i64(summary.revision)?);
        qb.push(", event_seq = ");
        B::bind_int(&mut qb, summary.event_seq);
        qb.push(" WHERE id = 1");
        B::build(&mut qb).execute(&mut *tx).await?;
        if let Some(sql) = B::RESYNC_AUDIT_SEQ {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        Ok::<_, TransferError>(summary)
    }
    .await;
    // Stops the reader if it is still going.
    drop(runs);
    match loaded {
        Ok(summary) => {
            tx.commit().await?;
            Ok(summary)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// Refuses a database that holds a revision or any row.
async fn ensure_empty<B>(conn: &mut B::Connection, revision: i64) -> Result<(), TransferError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
    (i64,): for<'r> sqlx::FromRow<'r, B::Row>,
{
    if revision > 0 {
        return Err(TransferError::NotEmpty(format!(
            "it is at revision {revision}"
        )));
    }
    let tables = Kind::ALL.iter().map(|k| k.table()).chain(["changes"]);
    for t in tables {
        let rows: Vec<(i64,)> = sqlx::query_as(&format!("SELECT 1 FROM {t} LIMIT 1"))
            .fetch_all(&mut *conn)
            .await?;
        if !rows.is_empty() {
            return Err(TransferError::NotEmpty(format!("table `{t}` has rows")));
        }
    }
    Ok(())
}

/// An error at line `line`.
fn at(line: u64, message: impl Into<String>) -> TransferError {
    TransferError::Line {
        line,
        message: message.into(),
    }
}

/// Reads the file: the header, then records, checked, sent in runs of at
/// most `max` records of one kind; returns what the trailer confirmed.
fn read(
    mut input: Box<dyn BufRead + Send>,
    max: usize,
    send: &tokio::sync::mpsc::Sender<Run>,
) -> Result<Summary, TransferError> {
    let mut buf = String::new();
    let mut n: u64 = 1;
    let read_line = |input: &mut Box<dyn BufRead + Send>, buf: &mut String, n: u64| {
        buf.clear();
        input.read_line(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => at(n, "not UTF-8 text"),
            _ => TransferError::Io(e),
        })
    };
    if read_line(&mut input, &mut buf, n)? == 0 {
        return Err(at(1, "the file is empty: not a Roster export"));
    }
    let header = header(&buf).map_err(|m| at(1, m))?;
    let mut checker = Checker::new(&header);
    let mut run: Option<Run> = None;
    let flush = |run: &mut Option<Run>| -> Result<(), TransferError> {
        match run.take() {
            // The importer has stopped (and says why).
            Some(r) => send
                .blocking_send(r)
                .map_err(|_| StoreError::Invalid("import stopped".into()).into()),
            None => Ok(()),
        }
    };
    loop {
        if read_line(&mut input, &mut buf, n + 1)? == 0 {
            return Err(at(
                n + 1,
                format!(
                    "the file ends after line {n} without its trailer \
                     (`{{\"kind\":\"end\",..}}`): it is truncated"
                ),
            ));
        }
        n += 1;
        let record: Record = serde_json::from_str(&buf).map_err(|e| at(n, json_error(&e)))?;
        let Some(kind) = record.kind() else {
            let Record::End(trailer) = record else {
                return Err(at(n, "not a trailer"));
            };
            let summary = checker.finish(trailer).map_err(|m| at(n, m))?;
            flush(&mut run)?;
            // Nothing may follow but blank space.
            loop {
                if read_line(&mut input, &mut buf, n + 1)? == 0 {
                    return Ok(summary);
                }
                n += 1;
                if !buf.trim().is_empty() {
                    return Err(at(n, "a line after the trailer"));
                }
            }
        };
        checker.check(kind, &record).map_err(|m| at(n, m))?;
        match &mut run {
            Some(r) if r.kind == kind && r.records.len() < max => {
                r.records.push(record);
                r.last = n;
            }
            _ => {
                flush(&mut run)?;
                let mut records = Vec::with_capacity(max.min(1024));
                records.push(record);
                run = Some(Run {
                    kind,
                    first: n,
                    last: n,
                    records,
                });
            }
        }
    }
}

/// Line 1, or why it is not a header this build reads.
fn header(line: &str) -> Result<Header, String> {
    let v: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| format!("not a Roster export (no JSON header): {}", json_error(&e)))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(format!(
            "not a Roster export (line 1 has no `\"format\":\"{FORMAT}\"`)"
        ));
    }
    match v.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(format!(
                "export format version {v} is not supported: this build reads version {VERSION}"
            ))
        }
        None => return Err("the header has no `version`".into()),
    }
    serde_json::from_value(v).map_err(|e| format!("invalid header: {e}"))
}

/// A JSON error without serde's position in the line (the line is
/// reported; the column is kept).
fn json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    format!("{msg} (column {})", e.column())
}

/// What import checks of each record as it is read: kinds in order, kinds
/// the header announced, revisions within the snapshot, references to
/// records already read, no id twice, and finally the trailer's counts.
#[derive(Debug)]
struct Checker {
    revision: Revision,
    event_seq: i64,
    with_audit: bool,
    last: Option<Kind>,
    counts: BTreeMap<Kind, u64>,
    organizations: HashSet<Uuid>,
    accounts: HashSet<Uuid>,
    users: HashSet<Uuid>,
    groups: HashSet<Uuid>,
}

impl Checker {
    fn new(h: &Header) -> Self {
        Self {
            revision: h.revision,
            event_seq: h.event_seq,
            with_audit: h.with_audit,
            last: None,
            counts: BTreeMap::new(),
            organizations: HashSet::new(),
            accounts: HashSet::new(),
            users: HashSet::new(),
            groups: HashSet::new(),
        }
    }

    fn check(&mut self, kind: Kind, r: &Record) -> Result<(), String> {
        if let Some(last) = self.last {
            if kind < last {
                return Err(format!(
                    "a `{}` record after `{}` records: the file is out of order",
                    kind.name(),
                    last.name()
                ));
            }
        }
        self.last = Some(kind);
        if kind.audit() && !self.with_audit {
            return Err(format!(
                "a `{}` record, but the header says `\"with_audit\":false`",
                kind.name()
            ));
        }
        if let Some(rev) = r.revision() {
            if rev > self.revision {
                return Err(format!(
                    "revision {rev} is after the export's revision {}",
                    self.revision
                ));
            }
        }
        *self.counts.entry(kind).or_default() += 1;
        let has = |set: &HashSet<Uuid>, id: Uuid, what: &str| {
            if set.contains(&id) {
                Ok(())
            } else {
                Err(format!("{what} `{id}` is not in the file before this line"))
            }
        };
        let new = |set: &mut HashSet<Uuid>, id: Uuid| {
            if set.insert(id) {
                Ok(())
            } else {
                Err(format!("`{}` `{id}` is in the file twice", kind.name()))
            }
        };
        match r {
            Record::Organization(o) => new(&mut self.organizations, o.id.0),
            Record::Account(a) => {
                has(&self.organizations, a.organization_id.0, "organization")?;
                new(&mut self.accounts, a.id.0)
            }
            Record::User(u) => {
                has(&self.organizations, u.organization_id.0, "organization")?;
                new(&mut self.users, u.id.0)
            }
            Record::Membership(m) => {
                has(&self.users, m.user_id.0, "user")?;
                has(&self.accounts, m.account_id.0, "account")
            }
            Record::Permission(p) => match p.organization_id {
                Some(o) => has(&self.organizations, o.0, "organization"),
                None => Ok(()),
            },
            Record::Role(r) => match r.organization_id {
                Some(o) => has(&self.organizations, o.0, "organization"),
                None => Err(format!("built-in role `{}` is not stored", r.id)),
            },
            Record::Group(g) => {
                has(&self.organizations, g.organization_id.0, "organization")?;
                new(&mut self.groups, g.id.0)
            }
            Record::GroupMember(m) => {
                has(&self.groups, m.group_id.0, "group")?;
                has(&self.users, m.user_id.0, "user")
            }
            Record::Grant(g) => match g.holder {
                GrantHolder::User(u) => has(&self.users, u.0, "user"),
                GrantHolder::Group(x) => has(&self.groups, x.0, "group"),
            },
            Record::ApiKey(k) => has(&self.users, k.user_id.0, "user"),
            Record::IdentityProvider(p) => {
                has(&self.organizations, p.organization_id.0, "organization")
            }
            Record::Webhook(w) => has(&self.organizations, w.organization_id.0, "organization"),
            Record::Event(e) if e.seq > self.event_seq => Err(format!(
                "event {} is after the export's last event {}",
                e.seq, self.event_seq
            )),
            Record::SigningKey(_) | Record::AuditEvent(_) | Record::Event(_) | Record::End(_) => {
                Ok(())
            }
        }
    }

    /// Compares the trailer with what was read.
    fn finish(&self, t: Trailer) -> Result<Summary, String> {
        let mut records = 0;
        let mut counts = BTreeMap::new();
        for &kind in Kind::ALL {
            if kind.audit() && !self.with_audit {
                continue;
            }
            let read = self.counts.get(&kind).copied().unwrap_or(0);
            let said = t.counts.get(kind.name()).copied().unwrap_or(0);
            if read != said {
                return Err(format!(
                    "the trailer counts {said} `{}` records but the file holds {read}: \
                     the file is damaged",
                    kind.name()
                ));
            }
            records += read;
            counts.insert(kind.name().to_owned(), read);
        }
        if let Some(other) = t.counts.keys().find(|k| !counts.contains_key(*k)) {
            return Err(format!("the trailer counts an unknown kind `{other}`"));
        }
        if t.records != records {
            return Err(format!(
                "the trailer counts {} records but the file holds {records}: the file is damaged",
                t.records
            ));
        }
        Ok(Summary {
            revision: self.revision,
            event_seq: self.event_seq,
            records,
            counts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_names_and_tables() {
        let names: HashSet<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
        assert!(!names.contains("end"));
        let tables: HashSet<&str> = Kind::ALL.iter().map(|k| k.table()).collect();
        assert_eq!(tables.len(), Kind::ALL.len());
        // The audit kinds come last, so a file without them is a prefix.
        let first_audit = Kind::ALL.iter().position(|k| k.audit()).unwrap();
        assert!(Kind::ALL[first_audit..].iter().all(|k| k.audit()));
    }

    #[test]
    fn headers() {
        let ok = r#"{"format":"roster-export","version":2,"revision":3,"event_seq":2,"with_audit":false}"#;
        assert_eq!(header(ok).unwrap().revision, 3);
        for other in ["1", "3"] {
            let v = ok.replace("\"version\":2", &format!("\"version\":{other}"));
            assert!(header(&v)
                .unwrap_err()
                .contains(&format!("version {other} is not supported")));
        }
        assert!(header(r#"{"a":1}"#)
            .unwrap_err()
            .contains("not a Roster export"));
        assert!(header("PK\u{3}\u{4}")
            .unwrap_err()
            .contains("not a Roster export"));
        let extra = ok.replace("}", ",\"x\":1}");
        assert!(header(&extra).unwrap_err().contains("invalid header"));
    }

    #[test]
    fn json_errors_name_the_column_not_serde_s_line() {
        let e = serde_json::from_str::<Record>(r#"{"kind":"nope","data":{}}"#).unwrap_err();
        let m = json_error(&e);
        assert!(m.contains("unknown variant `nope`"), "{m}");
        assert!(!m.contains("at line"), "{m}");
    }
}
