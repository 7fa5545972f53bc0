//! Roster's storage. One [`Store`] trait, one implementation per backend
//! (SQLite, the embedded default, and PostgreSQL), chosen once from the
//! database URL by [`open`].
//!
//! The store is deliberately narrow: the domain plans every change against
//! the in-memory model, and the store makes batches of those changes durable
//! in one transaction together with their audit events and the change log,
//! refusing a batch planned on a stale revision (so several replicas on one
//! PostgreSQL never interleave writes).
//!
//! It is arranged by table: one descriptor per table (`table/`) says how
//! its rows map to domain values, for writing and reading alike; the one
//! commit transaction (`commit.rs`) and the model loader (`load.rs`) are
//! written once over a backend's hooks (`backend.rs`); `sqlite/` and
//! `postgres/` keep only what differs.

mod backend;
mod commit;
mod error;
pub mod export;
mod lead;
mod load;
mod postgres;
mod sqlite;
mod table;
#[cfg(feature = "testing")]
pub mod testing;
mod value;

pub use error::StoreError;
pub use export::{Summary as TransferSummary, TransferError};
pub use lead::{Leadership, Singleton};
pub use postgres::{PgStore, CHANGES_CHANNEL};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use roster_domain::{
    ApiKeyId, AuditEvent, Change, Event, Model, OrganizationId, Revision, UserId, WebhookId,
};
use std::sync::Arc;
use time::OffsetDateTime;

/// One request's committed unit: its revision, changes and audit events.
#[derive(Clone, Debug)]
pub struct Commit {
    /// The revision these changes produce (base + n for the n-th commit of a batch).
    pub revision: Revision,
    /// The changes, applied in order.
    pub changes: Vec<Change>,
    /// Audit events (their `seq` is assigned by the store).
    pub audit: Vec<AuditEvent>,
    /// Events of the feed (their `seq` is assigned by the store, in order).
    pub events: Vec<Event>,
}

/// Filters of [`Store::audit_events`].
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only events by this actor.
    pub actor_id: Option<UserId>,
    /// Only events about this target id.
    pub target_id: Option<String>,
    /// Only events changing this user's or group's access.
    pub subject_id: Option<String>,
    /// Only events of this action (`grant.create`).
    pub action: Option<String>,
    /// Only events at or after this time.
    pub from: Option<OffsetDateTime>,
    /// Only events before this time.
    pub to: Option<OffsetDateTime>,
    /// Only events in these organizations (`None` = all).
    pub organization_ids: Option<Vec<OrganizationId>>,
    /// Only events with `seq > after`.
    pub after: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// Filters of [`Store::events`].
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only events with `seq > after`.
    pub after: i64,
    /// Only events of these organizations (`None` = all, Roster-wide ones
    /// included).
    pub organization_ids: Option<Vec<OrganizationId>>,
    /// Only events of these types (`None` = all).
    pub types: Option<Vec<String>>,
    /// At most this many.
    pub limit: u32,
}

/// A replay asked for (`POST /v1/webhooks/{id}/replay`) and not yet taken
/// up by the delivering process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookReplay {
    /// Start again after this event.
    pub after: i64,
    /// Which request (a later one replaces it).
    pub id: uuid::Uuid,
}

/// Where a webhook subscription's delivery stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookCursor {
    /// The subscription.
    pub webhook_id: WebhookId,
    /// The last event done: delivered (`2xx`), or given up.
    pub last_seq: i64,
    /// Failed attempts at the next event.
    pub attempts: u32,
    /// When the next event is tried again (after a failure).
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When the next event first failed.
    pub first_failure_at: Option<OffsetDateTime>,
    /// A replay waiting to be taken up.
    pub replay: Option<WebhookReplay>,
}

/// What the delivering process records of a subscription's progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookProgress {
    /// The subscription.
    pub webhook_id: WebhookId,
    /// See [`WebhookCursor::last_seq`].
    pub last_seq: i64,
    /// See [`WebhookCursor::attempts`].
    pub attempts: u32,
    /// See [`WebhookCursor::next_attempt_at`].
    pub next_attempt_at: Option<OffsetDateTime>,
    /// See [`WebhookCursor::first_failure_at`].
    pub first_failure_at: Option<OffsetDateTime>,
    /// The replay this progress took up (cleared unless a newer one came).
    pub took_replay: Option<uuid::Uuid>,
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Its number (given by the store; newer attempts have larger ones).
    pub id: i64,
    /// The subscription.
    pub webhook_id: WebhookId,
    /// When it was sent.
    pub attempted_at: OffsetDateTime,
    /// The event's `seq`.
    pub event_seq: i64,
    /// The event's id (the `webhook-id` header).
    pub event_id: uuid::Uuid,
    /// The event's type.
    pub event_type: String,
    /// 1 for the first attempt at this event, then 2, …
    pub attempt: u32,
    /// The answer's status, if one came.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
    /// When the event is tried again (`None`: delivered, or given up).
    pub next_retry_at: Option<OffsetDateTime>,
}

/// The persistence contract both backends implement identically.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Applies the embedded migrations of this backend.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Loads the whole model at the latest committed revision, in one
    /// consistent read (a snapshot).
    async fn load_model(&self) -> Result<Model, StoreError>;

    /// The latest committed revision.
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// The committed changes with `revision > after`, in order, at most `limit` revisions.
    async fn changes_since(
        &self,
        after: Revision,
        limit: u32,
    ) -> Result<Vec<(Revision, Vec<Change>)>, StoreError>;

    /// Makes `commits` durable in ONE transaction: entity rows, audit events,
    /// change log and the revision counter. Writers are serialized (SQLite
    /// `BEGIN IMMEDIATE`, PostgreSQL a row lock on the revision counter), and
    /// the batch is refused with [`StoreError::Stale`] unless the committed
    /// revision is still `base`. Returns the audit events with their `seq`.
    async fn commit(
        &self,
        base: Revision,
        commits: &[Commit],
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// Audit events matching the filter, by ascending `seq`.
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;

    /// Events of the feed matching the filter, by ascending `seq`.
    async fn events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError>;

    /// The `seq` of the last event committed (0 before the first).
    async fn last_event_seq(&self) -> Result<i64, StoreError>;

    /// Removes the events of the feed that occurred before `before` (the
    /// audit trail keeps everything).
    async fn trim_events(&self, before: OffsetDateTime) -> Result<(), StoreError>;

    /// Audit events about one target id, by ascending `seq`.
    async fn audit_for_target(&self, target_id: &str) -> Result<Vec<AuditEvent>, StoreError> {
        self.audit_events(&AuditFilter {
            target_id: Some(target_id.to_owned()),
            limit: 10_000,
            ..Default::default()
        })
        .await
    }

    /// Appends audit events that record no change (failed
    /// authentications); their `seq` follows every event before them.
    async fn append_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError>;

    /// When each of `ids` was last used, as recorded by
    /// [`Store::touch_api_key`] (keys never used are left out).
    async fn api_keys_last_used(
        &self,
        ids: &[ApiKeyId],
    ) -> Result<Vec<(ApiKeyId, OffsetDateTime)>, StoreError>;

    /// Records that an API key was used (best effort, not audited).
    async fn touch_api_key(&self, id: ApiKeyId, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Waits until another process may have committed (PostgreSQL
    /// LISTEN/NOTIFY), or returns at once where the backend cannot tell.
    async fn wait_for_change(&self, timeout: std::time::Duration) -> Result<(), StoreError> {
        tokio::time::sleep(timeout).await;
        Ok(())
    }

    /// Where webhook subscription `id` stands; a subscription without
    /// state yet starts after the events of the revision that created it
    /// (`created_revision`, committed at `created_at`).
    async fn start_webhook_cursor(
        &self,
        id: WebhookId,
        created_revision: Revision,
        created_at: OffsetDateTime,
    ) -> Result<WebhookCursor, StoreError>;

    /// Asks the delivering process to start subscription `id` again after
    /// event `after`.
    async fn request_webhook_replay(&self, id: WebhookId, after: i64) -> Result<(), StoreError>;

    /// The subscriptions with a replay waiting.
    async fn webhook_replays(&self) -> Result<Vec<WebhookCursor>, StoreError>;

    /// Records subscriptions' progress and delivery attempts, in one
    /// transaction.
    async fn record_webhook_progress(
        &self,
        progress: &[WebhookProgress],
        deliveries: &[WebhookDelivery],
    ) -> Result<(), StoreError>;

    /// Subscription `id`'s attempts, newest first, those with an id below
    /// `before` when given, at most `limit`.
    async fn webhook_deliveries(
        &self,
        id: WebhookId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// Removes the delivery attempts made before `before`.
    async fn trim_webhook_deliveries(&self, before: OffsetDateTime) -> Result<(), StoreError>;

    /// Tries to become the one process that runs `task` (SPEC §4): `Some`
    /// while this process leads, `None` when another one does. PostgreSQL:
    /// a session advisory lock on a connection of its own, released when
    /// the leadership is dropped or its process or connection dies. SQLite:
    /// always the leader (one server per database file).
    async fn try_lead(&self, task: Singleton) -> Result<Option<Box<dyn Leadership>>, StoreError>;
    /// Writes the whole database, read in one snapshot, to `out` in the
    /// export format ([`export`]); the audit trail and the event feed only
    /// `with_audit`. Rows are streamed: memory does not grow with the data.
    async fn export(
        &self,
        out: &mut (dyn std::io::Write + Send),
        with_audit: bool,
    ) -> Result<TransferSummary, TransferError>;

    /// Loads a file of the export format into this database, which must be
    /// empty (no revision, no row), in one transaction: ids, revisions and
    /// event numbers as in the file, the revision and the last event number
    /// those of the file. A file that is not a complete, valid export is
    /// refused with the line at fault, and nothing is written.
    async fn import(
        &self,
        input: Box<dyn std::io::BufRead + Send>,
    ) -> Result<TransferSummary, TransferError>;

    /// Short backend name: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Checks the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// [`open`] of a database that must exist already: a SQLite file is not
/// created (an export of a mistyped path fails instead of exporting an
/// empty new database).
pub async fn open_existing(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Ok(Arc::new(SqliteStore::open_existing(url).await?))
    }
}

/// Opens the store a URL names: `sqlite://PATH` (file created if missing),
/// `sqlite::memory:` is refused (not durable), a bare path is SQLite, and
/// `postgres://…` / `postgresql://…` is PostgreSQL.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Ok(Arc::new(SqliteStore::open(url).await?))
    }
}
