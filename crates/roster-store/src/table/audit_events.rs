//! `audit_events`: the audit trail, appended by every commit and numbered
//! by the database (`seq`).

use super::{col, generated, json, Cols, Column, Decoder, Encoder, Table};
use crate::backend::Backend;
use crate::error::StoreError;
use crate::AuditFilter;
use roster_domain::{AccountId, AuditEvent, OrganizationId, UserId};
use sqlx::{Executor, IntoArguments, Pool, QueryBuilder};
use uuid::Uuid;

/// The `audit_events` table.
#[derive(Debug)]
pub(crate) struct AuditEvents;

impl Table for AuditEvents {
    const NAME: &'static str = "audit_events";
    const COLUMNS: &'static [Column] = &[
        generated("seq"),
        col("occurred_at"),
        col("actor_id"),
        col("action"),
        col("target_type"),
        col("target_id"),
        col("organization_id"),
        col("account_id"),
        json("state_before"),
        json("state_after"),
        col("request_id"),
        col("revision"),
        col("reason"),
        col("subject_id"),
    ];
    const KEY: &'static [&'static str] = &[];
    type Written = AuditEvent;
    type Read = AuditEvent;

    fn encode<'a>(e: &'a AuditEvent, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.ts(e.at)
            .opt_uuid(e.actor_id.map(|i| i.0))
            .str(&e.action)
            .str(&e.target_type)
            .str(&e.target_id)
            .opt_uuid(e.organization_id.map(|o| o.0))
            .opt_uuid(e.account_id.map(|a| a.0))
            .opt_json(e.before.as_ref())?
            .opt_json(e.after.as_ref())?
            .opt_str(e.request_id.as_deref())
            .rev(e.revision)?
            .opt_str(e.reason.as_deref())
            .opt_str(e.subject_id.as_deref());
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            seq: row.int()?,
            at: row.ts()?,
            actor_id: row.opt_uuid()?.map(UserId),
            action: row.string()?,
            target_type: row.string()?,
            target_id: row.string()?,
            organization_id: row.opt_uuid()?.map(OrganizationId),
            account_id: row.opt_uuid()?.map(AccountId),
            before: row.opt_json()?,
            after: row.opt_json()?,
            request_id: row.opt_str()?.map(str::to_owned),
            revision: row.rev()?,
            reason: row.opt_str()?.map(str::to_owned),
            subject_id: row.opt_str()?.map(str::to_owned),
        })
    }
}

/// The `audit_events` table with its `seq` written as given, for an
/// import that keeps the numbers of the trail it loads.
#[derive(Debug)]
pub(crate) struct NumberedAuditEvents;

impl Table for NumberedAuditEvents {
    const NAME: &'static str = AuditEvents::NAME;
    const COLUMNS: &'static [Column] = &[
        col("seq"),
        col("occurred_at"),
        col("actor_id"),
        col("action"),
        col("target_type"),
        col("target_id"),
        col("organization_id"),
        col("account_id"),
        json("state_before"),
        json("state_after"),
        col("request_id"),
        col("revision"),
        col("reason"),
        col("subject_id"),
    ];
    const KEY: &'static [&'static str] = &[];
    type Written = AuditEvent;
    type Read = AuditEvent;

    fn encode<'a>(e: &'a AuditEvent, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.int(e.seq);
        AuditEvents::encode(e, row)
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<AuditEvent, StoreError> {
        AuditEvents::decode(row)
    }
}

/// `INSERT INTO audit_events .. RETURNING seq` of at most
/// [`Backend::MAX_ROWS`] events.
pub(crate) fn insert<'a, B: Backend>(
    events: &[&'a AuditEvent],
) -> Result<QueryBuilder<'a, B>, StoreError> {
    let mut qb = super::insert::<B, AuditEvents>(events)?;
    qb.push(" RETURNING seq");
    Ok(qb)
}

/// Appends audit events that record no change (failed authentications),
/// outside any commit; each chunk is one statement.
pub(crate) async fn append<B>(pool: &Pool<B>, events: &[AuditEvent]) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let refs: Vec<&AuditEvent> = events.iter().collect();
    for chunk in refs.chunks(B::MAX_ROWS) {
        let mut qb = super::insert::<B, AuditEvents>(chunk)?;
        B::build(&mut qb).execute(pool).await?;
    }
    Ok(())
}

/// The `seq` of a row `RETURNING seq`.
pub(crate) fn seq<R: Cols>(row: &R) -> Result<i64, StoreError> {
    row.int(0)
        .map_err(|e| StoreError::corrupt("audit_events.seq", e))
}

/// `SELECT .. FROM audit_events WHERE ..` for a filter (`None` when the
/// filter cannot match anything).
fn select<B: Backend>(f: &AuditFilter) -> Result<Option<QueryBuilder<'_, B>>, StoreError> {
    if f.limit == 0 || f.organization_ids.as_ref().is_some_and(|o| o.is_empty()) {
        return Ok(None);
    }
    let mut qb = super::select::<B, AuditEvents>();
    qb.push(" WHERE 1 = 1");
    if let Some(a) = f.actor_id {
        qb.push(" AND actor_id = ");
        B::bind_uuid(&mut qb, Some(a.0));
    }
    if let Some(t) = &f.target_id {
        qb.push(" AND target_id = ");
        B::bind_str(&mut qb, Some(t));
    }
    if let Some(s) = &f.subject_id {
        qb.push(" AND subject_id = ");
        B::bind_str(&mut qb, Some(s));
    }
    if let Some(a) = &f.action {
        qb.push(" AND action = ");
        B::bind_str(&mut qb, Some(a));
    }
    if let Some(from) = f.from {
        qb.push(" AND occurred_at >= ");
        B::bind_ts(&mut qb, from)?;
    }
    if let Some(to) = f.to {
        qb.push(" AND occurred_at < ");
        B::bind_ts(&mut qb, to)?;
    }
    if let Some(orgs) = &f.organization_ids {
        let ids: Vec<Uuid> = orgs.iter().map(|o| o.0).collect();
        qb.push(" AND organization_id");
        B::push_in_uuids(&mut qb, &ids);
    }
    if let Some(after) = f.after {
        qb.push(" AND seq > ");
        B::bind_int(&mut qb, after);
    }
    qb.push(" ORDER BY seq LIMIT ");
    B::bind_int(&mut qb, i64::from(f.limit));
    Ok(Some(qb))
}

/// The events matching a filter, by ascending `seq`.
pub(crate) async fn matching<B>(
    pool: &Pool<B>,
    filter: &AuditFilter,
) -> Result<Vec<AuditEvent>, StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let Some(mut qb) = select::<B>(filter)? else {
        return Ok(Vec::new());
    };
    let rows = B::build(&mut qb).fetch_all(pool).await?;
    rows.iter().map(super::decode::<AuditEvents, _>).collect()
}
