//! The embedded SQLite backend: one file, WAL journal, `synchronous=FULL`.
//!
//! Writes go through a dedicated single-connection pool and run inside
//! `BEGIN IMMEDIATE`, so writers (of this process and of any other process
//! opening the same file) are serialized by SQLite's write lock; reads use a
//! separate pool and never wait for writers (WAL snapshots).

use crate::batch;
use crate::codec::{self, col_err, Cols, Loaded};
use crate::{AuditFilter, Commit, Store, StoreError};
use async_trait::async_trait;
use roster_domain::{ApiKeyId, AuditEvent, Change, Model, Revision};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store. Cheap to clone (the pools are shared).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    path: PathBuf,
}

/// Parses `sqlite://PATH`, `sqlite:PATH` (optionally with SQLite URI
/// parameters) or a bare path; refuses in-memory databases.
fn options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    let invalid = |m: &str| StoreError::InvalidUrl(format!("`{url}`: {m}"));
    let not_durable = "an in-memory SQLite database is not durable; name a file";
    match url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Some(rest) => {
            let (path, params) = match rest.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(invalid("no file path"));
            }
            if path == ":memory:"
                || params.is_some_and(|q| q.split('&').any(|kv| kv == "mode=memory"))
            {
                return Err(invalid(not_durable));
            }
            SqliteConnectOptions::from_str(&format!("sqlite://{rest}"))
                .map_err(|e| invalid(&e.to_string()))
        }
        None => {
            if url.is_empty() {
                return Err(invalid("no file path"));
            }
            if url == ":memory:" {
                return Err(invalid(not_durable));
            }
            if url.contains("://") {
                return Err(invalid("not a SQLite URL or path"));
            }
            Ok(SqliteConnectOptions::new().filename(url))
        }
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database file `url` names:
    /// `sqlite://PATH`, `sqlite:PATH` or a bare path. `:memory:` is refused
    /// with [`StoreError::InvalidUrl`]. Does not migrate: call
    /// [`Store::migrate`].
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = options(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let path = opts.get_filename().to_path_buf();
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // Writers queue here behind each other: waiting is the point.
            .acquire_timeout(Duration::from_secs(120))
            .connect_with(opts.clone())
            .await?;
        let readers = std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .clamp(2, 8);
        let read = SqlitePoolOptions::new()
            .max_connections(u32::try_from(readers).unwrap_or(4))
            .connect_with(opts)
            .await?;
        Ok(Self { write, read, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, waiting for their connections to finish.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

impl Cols for SqliteRow {
    fn str(&self, i: usize, what: &str) -> Result<&str, StoreError> {
        self.try_get::<&str, _>(i).map_err(|e| col_err(what, e))
    }
    fn opt_str(&self, i: usize, what: &str) -> Result<Option<&str>, StoreError> {
        self.try_get::<Option<&str>, _>(i)
            .map_err(|e| col_err(what, e))
    }
    fn uuid(&self, i: usize, what: &str) -> Result<Uuid, StoreError> {
        Uuid::parse_str(self.str(i, what)?).map_err(|e| StoreError::corrupt(what, e))
    }
    fn opt_uuid(&self, i: usize, what: &str) -> Result<Option<Uuid>, StoreError> {
        self.opt_str(i, what)?
            .map(|s| Uuid::parse_str(s).map_err(|e| StoreError::corrupt(what, e)))
            .transpose()
    }
    fn ts(&self, i: usize, what: &str) -> Result<OffsetDateTime, StoreError> {
        codec::parse_ts(self.str(i, what)?, what)
    }
    fn opt_ts(&self, i: usize, what: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        self.opt_str(i, what)?
            .map(|s| codec::parse_ts(s, what))
            .transpose()
    }
    fn int(&self, i: usize, what: &str) -> Result<i64, StoreError> {
        self.try_get::<i64, _>(i).map_err(|e| col_err(what, e))
    }
}

const SELECT_REVISION: &str = "SELECT revision FROM meta WHERE id = 1";

/// Rows per chunk of [`Store::load_model`].
const LOAD_CHUNK: i64 = 5000;

/// One column value of a loaded chunk, borrowed from the chunk's text
/// where no JSON escape forces a copy.
#[derive(Debug)]
enum Cell<'a> {
    Null,
    Int(i64),
    Str(Cow<'a, str>),
    Other,
}

impl<'de> serde::Deserialize<'de> for Cell<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a column value")
            }
            fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
            fn visit_i64<E>(self, v: i64) -> Result<Cell<'de>, E> {
                Ok(Cell::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Cell<'de>, E> {
                Ok(i64::try_from(v).map_or(Cell::Other, Cell::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Cell<'de>, E> {
                Ok(Cell::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Cell<'de>, E> {
                Ok(Cell::Other)
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell<'de>, E> {
                Ok(Cell::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Cell<'de>, E> {
                Ok(Cell::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Cell<'de>, E> {
                Ok(Cell::Str(Cow::Owned(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Applies one chunk of rows of table number `table` of [`codec::tables`].
/// Reads every table in chunks of one JSON text each (sent with the table's
/// index into `codec::tables`), in one snapshot, and
/// returns the revision that snapshot reflects. Stops early (without error)
/// when the loader has gone.
async fn read_chunks(
    pool: SqlitePool,
    send: tokio::sync::mpsc::Sender<Loaded<(usize, String)>>,
) -> Result<i64, StoreError> {
    // A deferred transaction: its first read fixes the WAL snapshot that
    // every following read of it sees.
    let mut tx = pool.begin().await?;
    let rev: i64 = sqlx::query_scalar(SELECT_REVISION)
        .fetch_one(&mut *tx)
        .await?;
    let sizes = sqlx::query_as(codec::SQLITE_SIZES)
        .fetch_one(&mut *tx)
        .await?;
    if send.send(Loaded::Sizes(sizes)).await.is_err() {
        return Ok(rev);
    }
    for (table, (read, _)) in codec::tables::<JsonRow<'static>>().into_iter().enumerate() {
        // Rows travel in chunks of one JSON text each: sqlx hands rows from
        // its SQLite worker thread one by one, which costs far more than
        // SQLite's own JSON encoding and serde's decoding.
        let sql = format!(
            "SELECT max(r), '[' || coalesce(group_concat(j, ','), '') || ']' FROM \
             (SELECT rowid AS r, json_array({}) AS j FROM {} WHERE rowid > ?1 \
             ORDER BY rowid LIMIT ?2)",
            read.columns, read.table
        );
        let mut after: i64 = i64::MIN;
        loop {
            let (last, chunk): (Option<i64>, String) = sqlx::query_as(&sql)
                .bind(after)
                .bind(LOAD_CHUNK)
                .fetch_one(&mut *tx)
                .await?;
            let Some(last) = last else { break };
            if send.send(Loaded::Rows((table, chunk))).await.is_err() {
                return Ok(rev);
            }
            after = last;
        }
    }
    tx.rollback().await?;
    Ok(rev)
}

fn apply_chunk(model: &mut Model, table: usize, chunk: &str) -> Result<(), StoreError> {
    let tables = codec::tables::<JsonRow<'_>>();
    let Some((read, decode)) = tables.get(table) else {
        return Err(StoreError::Corrupt(format!("no table {table}")));
    };
    let rows: Vec<Vec<Cell<'_>>> =
        serde_json::from_str(chunk).map_err(|e| StoreError::corrupt(read.table, e))?;
    for row in rows {
        model.apply(&decode(&JsonRow(row))?);
    }
    Ok(())
}

/// One row of a chunk: its column values.
struct JsonRow<'a>(Vec<Cell<'a>>);

impl JsonRow<'_> {
    fn get(&self, i: usize, what: &str) -> Result<&Cell<'_>, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("{what}: missing")))
    }
}

impl Cols for JsonRow<'_> {
    fn str(&self, i: usize, what: &str) -> Result<&str, StoreError> {
        self.opt_str(i, what)?
            .ok_or_else(|| StoreError::Corrupt(format!("{what}: null")))
    }
    fn opt_str(&self, i: usize, what: &str) -> Result<Option<&str>, StoreError> {
        match self.get(i, what)? {
            Cell::Null => Ok(None),
            Cell::Str(s) => Ok(Some(s)),
            _ => Err(StoreError::Corrupt(format!("{what}: not text"))),
        }
    }
    fn uuid(&self, i: usize, what: &str) -> Result<Uuid, StoreError> {
        Uuid::parse_str(self.str(i, what)?).map_err(|e| StoreError::corrupt(what, e))
    }
    fn opt_uuid(&self, i: usize, what: &str) -> Result<Option<Uuid>, StoreError> {
        self.opt_str(i, what)?
            .map(|s| Uuid::parse_str(s).map_err(|e| StoreError::corrupt(what, e)))
            .transpose()
    }
    fn ts(&self, i: usize, what: &str) -> Result<OffsetDateTime, StoreError> {
        codec::parse_ts(self.str(i, what)?, what)
    }
    fn opt_ts(&self, i: usize, what: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        self.opt_str(i, what)?
            .map(|s| codec::parse_ts(s, what))
            .transpose()
    }
    fn int(&self, i: usize, what: &str) -> Result<i64, StoreError> {
        match self.get(i, what)? {
            Cell::Int(n) => Ok(*n),
            _ => Err(StoreError::Corrupt(format!("{what}: not an integer"))),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    async fn load_model(&self) -> Result<Model, StoreError> {
        // SQLite reads and encodes the next chunk on its worker thread while
        // this task decodes and applies the previous one.
        let (send, chunks) = tokio::sync::mpsc::channel(4);
        let reader = tokio::spawn(read_chunks(self.read.clone(), send));
        codec::assemble(chunks, reader, |m, (table, text): (usize, String)| {
            apply_chunk(m, table, &text)
        })
        .await
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        let rev: i64 = sqlx::query_scalar(SELECT_REVISION)
            .fetch_one(&self.read)
            .await?;
        codec::revision(rev, "meta.revision")
    }

    async fn changes_since(
        &self,
        after: Revision,
        limit: u32,
    ) -> Result<Vec<(Revision, Vec<Change>)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT revision, body FROM changes WHERE revision > ?1 ORDER BY revision LIMIT ?2",
        )
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(codec::change_row).collect()
    }

    async fn commit(
        &self,
        base: Revision,
        commits: &[Commit],
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let Some(last) = commits.last() else {
            return Ok(Vec::new());
        };
        batch::check_revisions(base, commits)?;
        let last_rev = codec::rev_to_i64(last.revision)?;
        // Build every statement before taking the write lock.
        let mut entity_statements = batch::runs(
            commits.iter().flat_map(|c| &c.changes),
            <Sqlite as batch::Backend>::MAX_ROWS,
        )
        .iter()
        .map(|run| batch::statement::<Sqlite>(run))
        .collect::<Result<Vec<_>, _>>()?;
        let events: Vec<&AuditEvent> = commits.iter().flat_map(|c| &c.audit).collect();
        let mut audit_statements = events
            .chunks(<Sqlite as batch::Backend>::MAX_ROWS)
            .map(|chunk| Ok((chunk.len(), batch::insert_audit::<Sqlite>(chunk)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let commit_refs: Vec<&Commit> = commits.iter().collect();
        let mut change_statements = commit_refs
            .chunks(64)
            .map(batch::insert_changes::<Sqlite>)
            .collect::<Result<Vec<_>, _>>()?;

        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let applied = async {
            let current: i64 = sqlx::query_scalar(SELECT_REVISION)
                .fetch_one(&mut *tx)
                .await?;
            let current = codec::revision(current, "meta.revision")?;
            if current != base {
                return Err(StoreError::Stale { current });
            }
            for qb in &mut entity_statements {
                qb.build().execute(&mut *tx).await?;
            }
            let mut seqs = Vec::with_capacity(events.len());
            for (n, qb) in &mut audit_statements {
                seqs.extend(batch::sorted_seqs(
                    *n,
                    qb.build_query_scalar().fetch_all(&mut *tx).await?,
                )?);
            }
            for qb in &mut change_statements {
                qb.build().execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE meta SET revision = ?1 WHERE id = 1")
                .bind(last_rev)
                .execute(&mut *tx)
                .await?;
            Ok(seqs)
        }
        .await;
        match applied {
            Ok(seqs) => {
                tx.commit().await?;
                Ok(batch::numbered(&events, seqs))
            }
            Err(e) => {
                // Nothing of the batch stays; a failed rollback still drops the
                // transaction when the connection is next used.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let Some(mut qb) = batch::select_audit::<Sqlite>(filter) else {
            return Ok(Vec::new());
        };
        let rows = qb.build().fetch_all(&self.read).await?;
        rows.iter().map(codec::audit_event).collect()
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2")
            .bind(codec::format_ts(at)?)
            .bind(id.0.hyphenated().to_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::options;

    #[test]
    fn urls() {
        for ok in [
            "sqlite://roster.db",
            "sqlite:roster.db",
            "roster.db",
            "sqlite:///tmp/r.db",
        ] {
            assert!(options(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            options("sqlite:///tmp/r.db")
                .unwrap()
                .get_filename()
                .to_str(),
            Some("/tmp/r.db")
        );
        assert_eq!(
            options("sqlite://r.db").unwrap().get_filename().to_str(),
            Some("r.db")
        );
        for bad in [
            "sqlite::memory:",
            "sqlite://:memory:",
            ":memory:",
            "sqlite://x.db?mode=memory",
            "sqlite://",
            "",
            "mysql://x",
        ] {
            assert!(
                matches!(options(bad), Err(crate::StoreError::InvalidUrl(_))),
                "{bad}"
            );
        }
    }
}
