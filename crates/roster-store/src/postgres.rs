//! The PostgreSQL backend, for several replicas on one database.
//!
//! Every commit starts by locking the revision counter row
//! (`SELECT .. FOR UPDATE`), which serializes writers across replicas, and
//! announces its revision with `pg_notify('roster_changes', ..)` so other
//! replicas follow the change log at once ([`Store::wait_for_change`]).

use crate::batch;
use crate::codec::{self, col_err, Cols, Loaded};
use crate::{AuditFilter, Commit, Store, StoreError};
use async_trait::async_trait;
use futures::TryStreamExt;
use roster_domain::{ApiKeyId, AuditEvent, Change, Model, Revision};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The notification channel commits announce their revision on.
pub const CHANGES_CHANNEL: &str = "roster_changes";

/// The PostgreSQL store.
pub struct PgStore {
    pool: PgPool,
    /// Lazily created by the first [`Store::wait_for_change`].
    listener: Mutex<Option<PgListener>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database `url` names (`postgres://..` or
    /// `postgresql://..`). Does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl(format!("`{url}`: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        Ok(Self {
            pool,
            listener: Mutex::new(None),
        })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Stops listening and closes the pool, waiting for its connections.
    pub async fn close(&self) {
        self.listener.lock().await.take();
        self.pool.close().await;
    }
}

impl Cols for PgRow {
    fn str(&self, i: usize, what: &str) -> Result<&str, StoreError> {
        self.try_get::<&str, _>(i).map_err(|e| col_err(what, e))
    }
    fn opt_str(&self, i: usize, what: &str) -> Result<Option<&str>, StoreError> {
        self.try_get::<Option<&str>, _>(i)
            .map_err(|e| col_err(what, e))
    }
    fn uuid(&self, i: usize, what: &str) -> Result<Uuid, StoreError> {
        self.try_get::<Uuid, _>(i).map_err(|e| col_err(what, e))
    }
    fn opt_uuid(&self, i: usize, what: &str) -> Result<Option<Uuid>, StoreError> {
        self.try_get::<Option<Uuid>, _>(i)
            .map_err(|e| col_err(what, e))
    }
    fn ts(&self, i: usize, what: &str) -> Result<OffsetDateTime, StoreError> {
        self.try_get::<OffsetDateTime, _>(i)
            .map_err(|e| col_err(what, e))
    }
    fn opt_ts(&self, i: usize, what: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        self.try_get::<Option<OffsetDateTime>, _>(i)
            .map_err(|e| col_err(what, e))
    }
    fn int(&self, i: usize, what: &str) -> Result<i64, StoreError> {
        self.try_get::<i64, _>(i).map_err(|e| col_err(what, e))
    }
}

const SELECT_REVISION: &str = "SELECT revision FROM meta WHERE id = 1";

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx takes an advisory lock, so replicas starting together are fine.
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn load_model(&self) -> Result<Model, StoreError> {
        // One task reads and decodes rows while this one applies them.
        let (send, batches) = tokio::sync::mpsc::channel(4);
        let reader = tokio::spawn(read_changes(self.pool.clone(), send));
        codec::assemble(batches, reader, |m, changes: Vec<Change>| {
            for c in &changes {
                m.apply(c);
            }
            Ok(())
        })
        .await
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        let rev: i64 = sqlx::query_scalar(SELECT_REVISION)
            .fetch_one(&self.pool)
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
            "SELECT revision, CAST(body AS TEXT) FROM changes WHERE revision > $1 \
             ORDER BY revision LIMIT $2",
        )
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
        // Build every statement before taking the lock.
        let mut entity_statements = batch::runs(
            commits.iter().flat_map(|c| &c.changes),
            <Postgres as batch::Backend>::MAX_ROWS,
        )
        .iter()
        .map(|run| batch::statement::<Postgres>(run))
        .collect::<Result<Vec<_>, _>>()?;
        let events: Vec<&AuditEvent> = commits.iter().flat_map(|c| &c.audit).collect();
        let mut audit_statements = events
            .chunks(<Postgres as batch::Backend>::MAX_ROWS)
            .map(|chunk| Ok((chunk.len(), batch::insert_audit::<Postgres>(chunk)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let commit_refs: Vec<&Commit> = commits.iter().collect();
        let mut change_statements = commit_refs
            .chunks(64)
            .map(batch::insert_changes::<Postgres>)
            .collect::<Result<Vec<_>, _>>()?;

        let mut tx = self.pool.begin().await?;
        let applied = async {
            // The row lock serializes writers across replicas until COMMIT.
            let current: i64 =
                sqlx::query_scalar("SELECT revision FROM meta WHERE id = 1 FOR UPDATE")
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
            sqlx::query("UPDATE meta SET revision = $1 WHERE id = 1")
                .bind(last_rev)
                .execute(&mut *tx)
                .await?;
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGES_CHANNEL)
                .bind(last_rev.to_string())
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
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let Some(mut qb) = batch::select_audit::<Postgres>(filter) else {
            return Ok(Vec::new());
        };
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(codec::audit_event).collect()
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(codec::truncate_micros(at))
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn wait_for_change(&self, timeout: Duration) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let Ok(mut guard) = tokio::time::timeout_at(deadline, self.listener.lock()).await else {
            return Ok(());
        };
        if guard.is_none() {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(CHANGES_CHANNEL).await?;
            *guard = Some(listener);
            // A commit announced before we listened was not heard: report a
            // possible change so the caller looks at the revision now, with
            // the listener already in place for everything after.
            return Ok(());
        }
        let Some(listener) = guard.as_mut() else {
            return Ok(());
        };
        match tokio::time::timeout_at(deadline, listener.try_recv()).await {
            // Timed out: nothing was announced.
            Err(_) => Ok(()),
            Ok(Ok(Some(_))) => {
                // One wake-up for everything announced so far.
                while listener.next_buffered().is_some() {}
                Ok(())
            }
            // The connection was lost (announcements may have been missed,
            // so report a possible change); it reconnects on the next wait.
            Ok(Ok(None)) => Ok(()),
            Ok(Err(e)) => {
                *guard = None;
                Err(e.into())
            }
        }
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Rows decoded per message of [`read_changes`].
const LOAD_BATCH: usize = 4096;

/// Reads and decodes every table in one snapshot, and returns the revision
/// that snapshot reflects. Stops early (without error) when the loader has
/// gone.
async fn read_changes(
    pool: PgPool,
    send: tokio::sync::mpsc::Sender<Loaded<Vec<Change>>>,
) -> Result<i64, StoreError> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let rev: i64 = sqlx::query_scalar(SELECT_REVISION)
        .fetch_one(&mut *tx)
        .await?;
    let sizes = sqlx::query_as(codec::PG_SIZES).fetch_one(&mut *tx).await?;
    if send.send(Loaded::Sizes(sizes)).await.is_err() {
        return Ok(rev);
    }
    for (read, decode) in codec::tables::<PgRow>() {
        let sql = read.select();
        let mut rows = sqlx::query(&sql).fetch(&mut *tx);
        let mut batch = Vec::with_capacity(LOAD_BATCH);
        while let Some(row) = rows.try_next().await? {
            batch.push(decode(&row)?);
            if batch.len() == LOAD_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH));
                if send.send(Loaded::Rows(full)).await.is_err() {
                    return Ok(rev);
                }
            }
        }
        if !batch.is_empty() && send.send(Loaded::Rows(batch)).await.is_err() {
            return Ok(rev);
        }
    }
    tx.rollback().await?;
    Ok(rev)
}
