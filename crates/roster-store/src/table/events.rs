//! `events`: the event feed, appended by every commit beside the audit
//! trail. Numbers (`seq`) are given by the commit itself under the write
//! lock, from `meta.event_seq`, so they follow commit order without gaps.

use super::{col, json, Cols, Column, Decoder, Encoder, Table};
use crate::backend::Backend;
use crate::error::StoreError;
use crate::EventFilter;
use roster_domain::{AccountId, Event, OrganizationId, UserId};
use sqlx::{Executor, IntoArguments, Pool, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

/// The `events` table.
#[derive(Debug)]
pub(crate) struct Events;

impl Table for Events {
    const NAME: &'static str = "events";
    const COLUMNS: &'static [Column] = &[
        col("seq"),
        col("id"),
        col("type"),
        col("occurred_at"),
        col("revision"),
        col("organization_id"),
        col("account_id"),
        col("actor_id"),
        col("request_id"),
        json("data"),
    ];
    const KEY: &'static [&'static str] = &[];
    type Written = Event;
    type Read = Event;

    fn encode<'a>(e: &'a Event, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.int(e.seq)
            .uuid(e.id)
            .str(&e.kind)
            .ts(e.occurred_at)
            .rev(e.revision)?
            .opt_uuid(e.organization_id.map(|o| o.0))
            .opt_uuid(e.account_id.map(|a| a.0))
            .opt_uuid(e.actor_id.map(|a| a.0))
            .opt_str(e.request_id.as_deref())
            .json(&e.data)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Event, StoreError> {
        Ok(Event {
            seq: row.int()?,
            id: row.uuid()?,
            kind: row.string()?,
            occurred_at: row.ts()?,
            revision: row.rev()?,
            organization_id: row.opt_uuid()?.map(OrganizationId),
            account_id: row.opt_uuid()?.map(AccountId),
            actor_id: row.opt_uuid()?.map(UserId),
            request_id: row.opt_str()?.map(str::to_owned),
            data: row.json()?,
        })
    }
}

/// What errors call the last event number.
pub(crate) const EVENT_SEQ: &str = "meta.event_seq";

/// `UPDATE meta SET event_seq = event_seq + n .. RETURNING event_seq`:
/// reserves `n` numbers under the write lock; the last one comes back.
pub(crate) fn reserve<'a, B: Backend>(n: usize) -> Result<QueryBuilder<'a, B>, StoreError> {
    let n = i64::try_from(n).map_err(|_| StoreError::Invalid("too many events".into()))?;
    let mut qb = QueryBuilder::new("UPDATE meta SET event_seq = event_seq + ");
    B::bind_int(&mut qb, n);
    qb.push(" WHERE id = 1 RETURNING event_seq");
    Ok(qb)
}

/// The last number [`reserve`] reserved, from its row.
pub(crate) fn reserved<R: Cols>(row: &R) -> Result<i64, StoreError> {
    row.int(0).map_err(|e| StoreError::corrupt(EVENT_SEQ, e))
}

/// `SELECT .. FROM events WHERE ..` for a filter (`None` when the filter
/// cannot match anything).
fn select<B: Backend>(f: &EventFilter) -> Option<QueryBuilder<'_, B>> {
    if f.limit == 0
        || f.organization_ids.as_ref().is_some_and(|o| o.is_empty())
        || f.types.as_ref().is_some_and(|t| t.is_empty())
    {
        return None;
    }
    let mut qb = super::select::<B, Events>();
    qb.push(" WHERE seq > ");
    B::bind_int(&mut qb, f.after);
    if let Some(orgs) = &f.organization_ids {
        let ids: Vec<Uuid> = orgs.iter().map(|o| o.0).collect();
        qb.push(" AND organization_id");
        B::push_in_uuids(&mut qb, &ids);
    }
    if let Some(types) = &f.types {
        qb.push(" AND (");
        for (i, t) in types.iter().enumerate() {
            if i > 0 {
                qb.push(" OR ");
            }
            qb.push("type = ");
            B::bind_str(&mut qb, Some(t));
        }
        qb.push(")");
    }
    qb.push(" ORDER BY seq LIMIT ");
    B::bind_int(&mut qb, i64::from(f.limit));
    Some(qb)
}

/// The events matching a filter, by ascending `seq`.
pub(crate) async fn matching<B>(
    pool: &Pool<B>,
    filter: &EventFilter,
) -> Result<Vec<Event>, StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let Some(mut qb) = select::<B>(filter) else {
        return Ok(Vec::new());
    };
    let rows = B::build(&mut qb).fetch_all(pool).await?;
    rows.iter().map(super::decode::<Events, _>).collect()
}

/// Removes the events that occurred before `before`.
pub(crate) async fn trim<B>(pool: &Pool<B>, before: OffsetDateTime) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let mut qb = QueryBuilder::new("DELETE FROM events WHERE occurred_at < ");
    B::bind_ts(&mut qb, before)?;
    B::build(&mut qb).execute(pool).await?;
    Ok(())
}

/// The number of the last event committed (0 before the first).
pub(crate) async fn last_seq<B>(pool: &Pool<B>) -> Result<i64, StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
    (i64,): for<'r> sqlx::FromRow<'r, B::Row>,
{
    Ok(
        sqlx::query_scalar("SELECT event_seq FROM meta WHERE id = 1")
            .fetch_one(pool)
            .await?,
    )
}
