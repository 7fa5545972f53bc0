//! `webhooks`: organizations' webhook subscriptions (entities of the
//! model), and beside them the delivery state the delivering process owns:
//! `webhook_cursors` (where each subscription stands) and
//! `webhook_deliveries` (every attempt). Both go with their subscription
//! (`ON DELETE CASCADE`).

use super::{col, generated, json, Cols, Column, Decoder, Encoder, Table};
use crate::backend::Backend;
use crate::error::StoreError;
use crate::{WebhookCursor, WebhookDelivery, WebhookProgress, WebhookReplay};
use roster_domain::{Change, OrganizationId, UserId, Webhook, WebhookId, WebhookUrl};
use sqlx::{Executor, IntoArguments, Pool, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

/// The `webhooks` table.
#[derive(Debug)]
pub(crate) struct Webhooks;

impl Table for Webhooks {
    const NAME: &'static str = "webhooks";
    const COLUMNS: &'static [Column] = &[
        col("id"),
        col("organization_id"),
        col("url"),
        json("event_types"),
        col("description"),
        col("enabled"),
        json("secrets"),
        col("disabled_reason"),
        col("created_at"),
        col("created_by"),
        col("created_revision"),
        col("updated_at"),
        col("revision"),
    ];
    const KEY: &'static [&'static str] = &["id"];
    type Written = Webhook;
    type Read = Change;

    fn encode<'a>(w: &'a Webhook, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(w.id.0)
            .uuid(w.organization_id.0)
            .str(w.url.as_str())
            .json(&w.event_types)?
            .str(&w.description)
            .int(i64::from(w.enabled))
            .json(&w.secrets)?
            .opt_str(w.disabled_reason.as_deref())
            .ts(w.created_at)
            .opt_uuid(w.created_by.map(|i| i.0))
            .rev(w.created_revision)?
            .ts(w.updated_at)
            .rev(w.revision)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        Ok(Change::PutWebhook(Webhook {
            id: WebhookId(row.uuid()?),
            organization_id: OrganizationId(row.uuid()?),
            url: row.parse(WebhookUrl::parse)?,
            event_types: row.json()?,
            description: row.string()?,
            enabled: row.int()? != 0,
            secrets: row.json()?,
            disabled_reason: row.opt_str()?.map(str::to_owned),
            created_at: row.ts()?,
            created_by: row.opt_uuid()?.map(UserId),
            created_revision: row.rev()?,
            updated_at: row.ts()?,
            revision: row.rev()?,
        }))
    }
}

/// The `webhook_cursors` table.
#[derive(Debug)]
pub(crate) struct Cursors;

impl Table for Cursors {
    const NAME: &'static str = "webhook_cursors";
    const COLUMNS: &'static [Column] = &[
        col("webhook_id"),
        col("last_seq"),
        col("attempts"),
        col("next_attempt_at"),
        col("first_failure_at"),
        col("replay_after"),
        col("replay_id"),
    ];
    const KEY: &'static [&'static str] = &["webhook_id"];
    type Written = WebhookCursor;
    type Read = WebhookCursor;

    fn encode<'a>(c: &'a WebhookCursor, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(c.webhook_id.0)
            .int(c.last_seq)
            .int(i64::from(c.attempts))
            .opt_ts(c.next_attempt_at)
            .opt_ts(c.first_failure_at)
            .int(c.replay.map_or(0, |r| r.after))
            .opt_uuid(c.replay.map(|r| r.id));
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<WebhookCursor, StoreError> {
        let webhook_id = WebhookId(row.uuid()?);
        let last_seq = row.int()?;
        let attempts = u32::try_from(row.int()?).unwrap_or(u32::MAX);
        let next_attempt_at = row.opt_ts()?;
        let first_failure_at = row.opt_ts()?;
        let after = row.int()?;
        let replay = row.opt_uuid()?.map(|id| WebhookReplay { after, id });
        Ok(WebhookCursor {
            webhook_id,
            last_seq,
            attempts,
            next_attempt_at,
            first_failure_at,
            replay,
        })
    }
}

/// The `webhook_deliveries` table.
#[derive(Debug)]
pub(crate) struct Deliveries;

impl Table for Deliveries {
    const NAME: &'static str = "webhook_deliveries";
    const COLUMNS: &'static [Column] = &[
        generated("id"),
        col("webhook_id"),
        col("attempted_at"),
        col("event_seq"),
        col("event_id"),
        col("event_type"),
        col("attempt"),
        col("status"),
        col("error"),
        col("duration_ms"),
        col("next_retry_at"),
    ];
    const KEY: &'static [&'static str] = &[];
    type Written = WebhookDelivery;
    type Read = WebhookDelivery;

    fn encode<'a>(d: &'a WebhookDelivery, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(d.webhook_id.0)
            .ts(d.attempted_at)
            .int(d.event_seq)
            .uuid(d.event_id)
            .str(&d.event_type)
            .int(i64::from(d.attempt))
            .int(i64::from(d.status.unwrap_or(0)))
            .opt_str(d.error.as_deref())
            .int(i64::try_from(d.duration_ms).unwrap_or(i64::MAX))
            .opt_ts(d.next_retry_at);
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<WebhookDelivery, StoreError> {
        Ok(WebhookDelivery {
            id: row.int()?,
            webhook_id: WebhookId(row.uuid()?),
            attempted_at: row.ts()?,
            event_seq: row.int()?,
            event_id: row.uuid()?,
            event_type: row.string()?,
            attempt: u32::try_from(row.int()?).unwrap_or(u32::MAX),
            status: u16::try_from(row.int()?).ok().filter(|s| *s != 0),
            error: row.opt_str()?.map(str::to_owned),
            duration_ms: u64::try_from(row.int()?).unwrap_or(0),
            next_retry_at: row.opt_ts()?,
        })
    }
}

/// Binds a nullable timestamp.
fn bind_opt_ts<B: Backend>(
    qb: &mut QueryBuilder<'_, B>,
    v: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    match v {
        Some(t) => B::bind_ts(qb, t),
        None => {
            qb.push("NULL");
            Ok(())
        }
    }
}

/// How far before a subscription's creation its first events are looked
/// for: clocks of replicas may disagree by this much.
const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// Where subscription `id` stands, starting it if it has no state yet:
/// after the last event of the revision that created it (`created_revision`,
/// at `created_at`), in one statement, so that no event committed
/// meanwhile is skipped.
pub(crate) async fn start<B>(
    write: &Pool<B>,
    id: WebhookId,
    created_revision: roster_domain::Revision,
    created_at: OffsetDateTime,
) -> Result<WebhookCursor, StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let rev = crate::value::rev_to_i64(created_revision)?;
    let mut qb = QueryBuilder::<B>::new(
        "INSERT INTO webhook_cursors (webhook_id, last_seq, attempts, replay_after) SELECT ",
    );
    B::bind_uuid(&mut qb, Some(id.0));
    qb.push(", COALESCE((SELECT MIN(seq) FROM events WHERE occurred_at >= ");
    B::bind_ts(&mut qb, created_at - CLOCK_SKEW)?;
    qb.push(" AND revision > ");
    B::bind_int(&mut qb, rev);
    qb.push(") - 1, (SELECT event_seq FROM meta WHERE id = 1)), 0, 0 WHERE 1 = 1 ON CONFLICT (webhook_id) DO NOTHING");
    B::build(&mut qb).execute(write).await?;
    // Read back on the connection that wrote (SQLite's one writer).
    cursor::<B>(write, id)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("webhook `{id}` has no delivery state")))
}

/// Where subscription `id` stands, if it has state.
pub(crate) async fn cursor<B>(
    pool: &Pool<B>,
    id: WebhookId,
) -> Result<Option<WebhookCursor>, StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let mut qb = super::select::<B, Cursors>();
    qb.push(" WHERE webhook_id = ");
    B::bind_uuid(&mut qb, Some(id.0));
    let row = B::build(&mut qb).fetch_optional(pool).await?;
    row.as_ref().map(super::decode::<Cursors, _>).transpose()
}

/// The replays asked for and not yet taken up.
pub(crate) async fn replays<B>(pool: &Pool<B>) -> Result<Vec<WebhookCursor>, StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let mut qb = super::select::<B, Cursors>();
    qb.push(" WHERE replay_id IS NOT NULL");
    let rows = B::build(&mut qb).fetch_all(pool).await?;
    rows.iter().map(super::decode::<Cursors, _>).collect()
}

/// Asks that subscription `id` start again after event `after`.
pub(crate) async fn request_replay<B>(
    pool: &Pool<B>,
    id: WebhookId,
    after: i64,
) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let mut qb = QueryBuilder::<B>::new(
        "INSERT INTO webhook_cursors (webhook_id, last_seq, attempts, replay_after, replay_id) VALUES (",
    );
    B::bind_uuid(&mut qb, Some(id.0));
    qb.push(", ");
    B::bind_int(&mut qb, after);
    qb.push(", 0, ");
    B::bind_int(&mut qb, after);
    qb.push(", ");
    B::bind_uuid(&mut qb, Some(Uuid::now_v7()));
    qb.push(
        ") ON CONFLICT (webhook_id) DO UPDATE SET replay_after = excluded.replay_after, \
         replay_id = excluded.replay_id",
    );
    B::build(&mut qb).execute(pool).await?;
    Ok(())
}

/// Records progress and attempts in one transaction. Progress of a
/// subscription that is gone changes nothing; an attempt of one is
/// refused by the database (the caller drops such rows first).
pub(crate) async fn record<B>(
    pool: &Pool<B>,
    progress: &[WebhookProgress],
    deliveries: &[WebhookDelivery],
) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let mut statements = Vec::new();
    for p in progress {
        let mut qb = QueryBuilder::<B>::new("UPDATE webhook_cursors SET last_seq = ");
        B::bind_int(&mut qb, p.last_seq);
        qb.push(", attempts = ");
        B::bind_int(&mut qb, i64::from(p.attempts));
        qb.push(", next_attempt_at = ");
        bind_opt_ts(&mut qb, p.next_attempt_at)?;
        qb.push(", first_failure_at = ");
        bind_opt_ts(&mut qb, p.first_failure_at)?;
        if let Some(taken) = p.took_replay {
            qb.push(", replay_id = CASE WHEN replay_id = ");
            B::bind_uuid(&mut qb, Some(taken));
            qb.push(" THEN NULL ELSE replay_id END");
        }
        qb.push(" WHERE webhook_id = ");
        B::bind_uuid(&mut qb, Some(p.webhook_id.0));
        statements.push(qb);
    }
    let refs: Vec<&WebhookDelivery> = deliveries.iter().collect();
    for chunk in refs.chunks(B::MAX_ROWS.min(500)) {
        statements.push(super::insert::<B, Deliveries>(chunk)?);
    }
    if statements.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin_with(B::BEGIN_WRITE).await?;
    let applied = async {
        for qb in &mut statements {
            B::build(qb).execute(&mut *tx).await?;
        }
        Ok::<_, StoreError>(())
    }
    .await;
    match applied {
        Ok(()) => {
            tx.commit().await?;
            Ok(())
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// The attempts of subscription `id`, newest first, with `id < before`.
pub(crate) async fn deliveries<B>(
    pool: &Pool<B>,
    id: WebhookId,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<WebhookDelivery>, StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let mut qb = super::select::<B, Deliveries>();
    qb.push(" WHERE webhook_id = ");
    B::bind_uuid(&mut qb, Some(id.0));
    if let Some(b) = before {
        qb.push(" AND id < ");
        B::bind_int(&mut qb, b);
    }
    qb.push(" ORDER BY id DESC LIMIT ");
    B::bind_int(&mut qb, i64::from(limit));
    let rows = B::build(&mut qb).fetch_all(pool).await?;
    rows.iter().map(super::decode::<Deliveries, _>).collect()
}

/// Removes the attempts made before `before`.
pub(crate) async fn trim<B>(pool: &Pool<B>, before: OffsetDateTime) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let mut qb = QueryBuilder::<B>::new("DELETE FROM webhook_deliveries WHERE attempted_at < ");
    B::bind_ts(&mut qb, before)?;
    B::build(&mut qb).execute(pool).await?;
    Ok(())
}
