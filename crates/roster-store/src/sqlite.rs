//! The embedded SQLite backend: one file, WAL journal, `synchronous=FULL`.
//!
//! Writes go through a dedicated single-connection pool and run inside
//! `BEGIN IMMEDIATE`, so writers (of this process and of any other process
//! opening the same file) are serialized by SQLite's write lock; reads use a
//! separate pool and never wait for writers (WAL snapshots).

mod backend;
pub(crate) mod load;

use crate::lead::Sole;
use crate::table::{api_keys, audit_events, changes, events, meta, webhooks};
use crate::{
    commit, export, AuditFilter, Commit, EventFilter, Leadership, Singleton, Store, StoreError,
    TransferError, TransferSummary,
};
use async_trait::async_trait;
use roster_domain::{ApiKeyId, AuditEvent, Change, Event, Model, Revision};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

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
        Self::open_with(url, true).await
    }

    /// [`SqliteStore::open`] of a database file that must exist already.
    pub async fn open_existing(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, false).await
    }

    async fn open_with(url: &str, create: bool) -> Result<Self, StoreError> {
        let opts = options(url)?
            .create_if_missing(create)
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

    /// Writes a copy of the database as of one moment into the new file
    /// `to` (`VACUUM INTO`), while servers go on reading and writing it:
    /// the copy is read in one read transaction, which writers do not wait
    /// for. Refuses a `to` that exists.
    pub async fn backup(&self, to: &Path) -> Result<(), StoreError> {
        if to.exists() {
            return Err(StoreError::Invalid(format!(
                "`{}` exists; a backup is only written to a new file",
                to.display()
            )));
        }
        let target = to.to_str().ok_or_else(|| {
            StoreError::Invalid(format!("`{}` is not a UTF-8 path", to.display()))
        })?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&self.read)
            .await?;
        Ok(())
    }

    /// Closes both pools, waiting for their connections to finish.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.write).await?;
        Ok(())
    }

    async fn load_model(&self) -> Result<Model, StoreError> {
        load::load_model(self.read.clone()).await
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        meta::revision(&self.read).await
    }

    async fn changes_since(
        &self,
        after: Revision,
        limit: u32,
    ) -> Result<Vec<(Revision, Vec<Change>)>, StoreError> {
        changes::since(&self.read, after, limit).await
    }

    async fn commit(
        &self,
        base: Revision,
        commits: &[Commit],
    ) -> Result<Vec<AuditEvent>, StoreError> {
        commit::commit(&self.write, base, commits).await
    }

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        audit_events::matching(&self.read, filter).await
    }

    async fn events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
        events::matching(&self.read, filter).await
    }

    async fn last_event_seq(&self) -> Result<i64, StoreError> {
        events::last_seq(&self.read).await
    }

    async fn trim_events(&self, before: OffsetDateTime) -> Result<(), StoreError> {
        events::trim(&self.write, before).await
    }

    async fn append_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        audit_events::append(&self.write, events).await
    }

    async fn api_keys_last_used(
        &self,
        ids: &[ApiKeyId],
    ) -> Result<Vec<(ApiKeyId, OffsetDateTime)>, StoreError> {
        api_keys::last_used(&self.read, ids).await
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), StoreError> {
        api_keys::touch(&self.write, id, at).await
    }

    async fn start_webhook_cursor(
        &self,
        id: roster_domain::WebhookId,
        created_revision: Revision,
        created_at: OffsetDateTime,
    ) -> Result<crate::WebhookCursor, StoreError> {
        webhooks::start(&self.write, id, created_revision, created_at).await
    }

    async fn request_webhook_replay(
        &self,
        id: roster_domain::WebhookId,
        after: i64,
    ) -> Result<(), StoreError> {
        webhooks::request_replay(&self.write, id, after).await
    }

    async fn webhook_replays(&self) -> Result<Vec<crate::WebhookCursor>, StoreError> {
        webhooks::replays(&self.read).await
    }

    async fn record_webhook_progress(
        &self,
        progress: &[crate::WebhookProgress],
        deliveries: &[crate::WebhookDelivery],
    ) -> Result<(), StoreError> {
        webhooks::record(&self.write, progress, deliveries).await
    }

    async fn webhook_deliveries(
        &self,
        id: roster_domain::WebhookId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<crate::WebhookDelivery>, StoreError> {
        webhooks::deliveries(&self.read, id, before, limit).await
    }

    async fn trim_webhook_deliveries(&self, before: OffsetDateTime) -> Result<(), StoreError> {
        webhooks::trim(&self.write, before).await
    }

    async fn try_lead(&self, _task: Singleton) -> Result<Option<Box<dyn Leadership>>, StoreError> {
        Ok(Some(Box::new(Sole)))
    }

    async fn export(
        &self,
        out: &mut (dyn std::io::Write + Send),
        with_audit: bool,
    ) -> Result<TransferSummary, TransferError> {
        export::export(&self.read, out, with_audit).await
    }

    async fn import(
        &self,
        input: Box<dyn std::io::BufRead + Send>,
    ) -> Result<TransferSummary, TransferError> {
        export::import(&self.write, input).await
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
