//! `GET /v1/audit-events`: the audit trail, read from the database.

use super::views::AuditEventView;
use super::Native;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::fields::parse_ts;
use crate::surface::paging::{limit, Page};
use crate::surface::write::ctx;
use crate::surface::{parse_id, Caller, Query};
use axum::extract::State;
use roster_domain::ops;
use roster_domain::{Draft, OrganizationId, UserId};
use roster_store::AuditFilter;
use serde::Deserialize;

/// Query of `GET /v1/audit-events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only events of this actor.
    #[param(value_type = Option<uuid::Uuid>)]
    pub actor_id: Option<String>,
    /// Only events about this object.
    pub target_id: Option<String>,
    /// Only events changing the access of this user or group: its grants,
    /// memberships and group memberships, and the user itself.
    #[param(value_type = Option<uuid::Uuid>)]
    pub subject_id: Option<String>,
    /// Only events of this action, e.g. `grant.create`.
    pub action: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    /// Only events before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    /// Only events of this organization.
    #[param(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<String>,
    /// Only events with a greater `seq`.
    pub after: Option<i64>,
    /// 1..1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor` (same as `after`).
    pub cursor: Option<String>,
}

/// Audit events the caller may read (`audit:read` over their organization), by `seq`.
#[utoipa::path(
    get,
    path = "/v1/audit-events",
    operation_id = "list_audit_events",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, body = Page<AuditEventView>, description = "A page of events."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Query(q, _): Query<AuditQuery, Native>,
) -> Result<axum::Json<Page<AuditEventView>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = match q.cursor.as_deref() {
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("cursor", "not a cursor this list returned"))?,
        ),
        None => q.after,
    };
    // Target ids are UUIDs, role ids, or `group:user` pairs: far below this.
    const MAX_TARGET_ID: usize = 200;
    if q.target_id
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_TARGET_ID)
    {
        return Err(ApiError::bad_request(
            "target_id",
            format!("at most {MAX_TARGET_ID} characters"),
        ));
    }
    const MAX_ACTION: usize = 100;
    if q.action.as_ref().is_some_and(|a| {
        a.is_empty()
            || a.len() > MAX_ACTION
            || !a
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.')
    }) {
        return Err(ApiError::bad_request(
            "action",
            format!("an action such as `grant.create`: lower-case letters, `_` and `.`, at most {MAX_ACTION}"),
        ));
    }
    let subject_id = q
        .subject_id
        .as_deref()
        .map(|v| parse_id::<uuid::Uuid>("subject_id", v).map(|u| u.to_string()))
        .transpose()?;
    let from = q.from.as_deref().map(|t| parse_ts("from", t)).transpose()?;
    let to = q.to.as_deref().map(|t| parse_ts("to", t)).transpose()?;
    let m = s.engine.snapshot();
    let organization = q
        .organization_id
        .as_deref()
        .map(|o| parse_id::<OrganizationId>("organization_id", o))
        .transpose()?;
    let organization_ids = ops::audit_organizations(&Draft::new(&m, &ctx(&caller)), organization)?;
    let filter = AuditFilter {
        actor_id: q
            .actor_id
            .as_deref()
            .map(|a| parse_id::<UserId>("actor_id", a))
            .transpose()?,
        target_id: q.target_id,
        subject_id,
        action: q.action,
        from,
        to,
        organization_ids,
        after,
        limit: (limit + 1) as u32,
    };
    let mut events = s.store.audit_events(&filter).await?;
    let more = events.len() > limit;
    events.truncate(limit);
    Ok(axum::Json(Page {
        next_cursor: if more {
            events.last().map(|e| e.seq.to_string())
        } else {
            None
        },
        items: events.iter().map(AuditEventView::from).collect(),
    }))
}
