//! The PostgreSQL backend, for several replicas on one database.
//!
//! Every commit starts by locking the revision counter row
//! (`SELECT .. FOR UPDATE`), which serializes writers across replicas, and
//! announces its revision with `pg_notify('roster_changes', ..)` so other
//! replicas follow the change log at once ([`Store::wait_for_change`]).

mod backend;
mod lead;
mod load;

use crate::table::{api_keys, audit_events, changes, events, meta, webhooks};
use crate::{
    commit, export, AuditFilter, Commit, EventFilter, Leadership, Singleton, Store, StoreError,
    TransferError, TransferSummary,
};
use async_trait::async_trait;
use roster_domain::{ApiKeyId, AuditEvent, Change, Event, Model, Revision};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Mutex;

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

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx takes an advisory lock, so replicas starting together are fine.
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn load_model(&self) -> Result<Model, StoreError> {
        load::load_model(self.pool.clone()).await
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        meta::revision(&self.pool).await
    }

    async fn changes_since(
        &self,
        after: Revision,
        limit: u32,
    ) -> Result<Vec<(Revision, Vec<Change>)>, StoreError> {
        changes::since(&self.pool, after, limit).await
    }

    async fn commit(
        &self,
        base: Revision,
        commits: &[Commit],
    ) -> Result<Vec<AuditEvent>, StoreError> {
        commit::commit(&self.pool, base, commits).await
    }

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        audit_events::matching(&self.pool, filter).await
    }

    async fn events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
        events::matching(&self.pool, filter).await
    }

    async fn last_event_seq(&self) -> Result<i64, StoreError> {
        events::last_seq(&self.pool).await
    }

    async fn trim_events(&self, before: OffsetDateTime) -> Result<(), StoreError> {
        events::trim(&self.pool, before).await
    }

    async fn append_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        audit_events::append(&self.pool, events).await
    }

    async fn api_keys_last_used(
        &self,
        ids: &[ApiKeyId],
    ) -> Result<Vec<(ApiKeyId, OffsetDateTime)>, StoreError> {
        api_keys::last_used(&self.pool, ids).await
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), StoreError> {
        api_keys::touch(&self.pool, id, at).await
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

    async fn start_webhook_cursor(
        &self,
        id: roster_domain::WebhookId,
        created_revision: Revision,
        created_at: OffsetDateTime,
    ) -> Result<crate::WebhookCursor, StoreError> {
        webhooks::start(&self.pool, id, created_revision, created_at).await
    }

    async fn request_webhook_replay(
        &self,
        id: roster_domain::WebhookId,
        after: i64,
    ) -> Result<(), StoreError> {
        webhooks::request_replay(&self.pool, id, after).await
    }

    async fn webhook_replays(&self) -> Result<Vec<crate::WebhookCursor>, StoreError> {
        webhooks::replays(&self.pool).await
    }

    async fn record_webhook_progress(
        &self,
        progress: &[crate::WebhookProgress],
        deliveries: &[crate::WebhookDelivery],
    ) -> Result<(), StoreError> {
        webhooks::record(&self.pool, progress, deliveries).await
    }

    async fn webhook_deliveries(
        &self,
        id: roster_domain::WebhookId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<crate::WebhookDelivery>, StoreError> {
        webhooks::deliveries(&self.pool, id, before, limit).await
    }

    async fn trim_webhook_deliveries(&self, before: OffsetDateTime) -> Result<(), StoreError> {
        webhooks::trim(&self.pool, before).await
    }

    async fn try_lead(&self, task: Singleton) -> Result<Option<Box<dyn Leadership>>, StoreError> {
        lead::try_lead(&self.pool.connect_options(), task).await
    }

    async fn export(
        &self,
        out: &mut (dyn std::io::Write + Send),
        with_audit: bool,
    ) -> Result<TransferSummary, TransferError> {
        export::export(&self.pool, out, with_audit).await
    }

    async fn import(
        &self,
        input: Box<dyn std::io::BufRead + Send>,
    ) -> Result<TransferSummary, TransferError> {
        export::import(&self.pool, input).await
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
