//! `/v1/organizations/{id}/webhooks` and `/v1/webhooks/{id}`: an
//! organization's webhook subscriptions, their delivery log, replays and
//! secret rotation. Every route needs `webhooks:write` over the
//! organization. A URL is checked by the outbound guard
//! ([`crate::outbound`]) when registered, and again at every delivery
//! ([`crate::webhooks`]).

use super::organizations::PageQuery;
use super::views::{WebhookDeliveryView, WebhookView, WebhookWithSecretView};
use super::Native;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::fields::{non_null, ReadOnly};
use crate::surface::paging::{cursor, limit, page, Page};
use crate::surface::write::{ctx, if_match, no_content, object};
use crate::surface::{Caller, Json, PathId, Query};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use roster_domain::ops::{self, NewWebhook, Precondition, WebhookPatch};
use roster_domain::{Draft, EventTypes, OrganizationId, WebhookId, WebhookSecretKey, WebhookUrl};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_webhook_secret() -> WebhookSecretKey {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    WebhookSecretKey::from_random(&bytes)
}

/// Body of `POST /v1/organizations/{id}/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// An `http` or `https` URL (at most 2048 characters, no credentials)
    /// whose host resolves to public addresses only.
    pub url: String,
    /// `["*"]` (default) for every event of the organization, or event
    /// types (`user.created`, `access.changed`, …).
    pub event_types: Option<Vec<String>>,
    /// At most 1000 characters (default empty).
    pub description: Option<String>,
    /// Default `true`.
    pub enabled: Option<bool>,
}

/// Body of `PATCH /v1/webhooks/{id}`: absent fields are left alone; the
/// read-only fields of the view are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub event_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    /// `true` enables it again (also one Roster disabled as `failing`).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    #[serde(default, rename = "id")]
    #[schema(ignore)]
    pub ro_id: ReadOnly,
    #[serde(default, rename = "organization_id")]
    #[schema(ignore)]
    pub ro_organization_id: ReadOnly,
    #[serde(default, rename = "disabled_reason")]
    #[schema(ignore)]
    pub ro_disabled_reason: ReadOnly,
    #[serde(default, rename = "secrets_expire_at")]
    #[schema(ignore)]
    pub ro_secrets_expire_at: ReadOnly,
    #[serde(default, rename = "created_at")]
    #[schema(ignore)]
    pub ro_created_at: ReadOnly,
    #[serde(default, rename = "updated_at")]
    #[schema(ignore)]
    pub ro_updated_at: ReadOnly,
    #[serde(default, rename = "revision")]
    #[schema(ignore)]
    pub ro_revision: ReadOnly,
}

/// Body of `POST /v1/webhooks/{id}/replay`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Deliver again every event with a `seq` above this one (0: every
    /// event the feed still holds).
    pub after: i64,
}

/// Answer of `POST /v1/webhooks/{id}/replay`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayAccepted {
    /// The subscription.
    pub webhook_id: uuid::Uuid,
    /// Delivery starts again after this `seq`.
    pub after: i64,
}

/// Query of `GET /v1/webhooks/{id}/deliveries`.
pub type DeliveriesQuery = PageQuery;

/// `url`, parsed and checked by the outbound guard.
async fn checked_url(s: &AppState, raw: &str) -> Result<WebhookUrl, ApiError> {
    let url = WebhookUrl::parse_field("url", raw)?;
    let parsed =
        url::Url::parse(url.as_str()).map_err(|_| ApiError::bad_request("url", "not a URL"))?;
    s.outbound
        .check_webhook(&parsed)
        .await
        .map_err(|e| ApiError::bad_request("url", e.to_string()))?;
    Ok(url)
}

fn event_types(raw: Option<&[String]>) -> Result<Option<EventTypes>, ApiError> {
    Ok(raw
        .map(|t| EventTypes::parse_field("event_types", t))
        .transpose()?)
}

fn description(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(raw
        .map(|d| ops::webhook_description("description", d))
        .transpose()?)
}

/// Create a webhook subscription (`webhooks:write` over the organization).
/// The answer holds its signing secret, shown this once.
#[utoipa::path(
    post,
    path = "/v1/organizations/{id}/webhooks",
    operation_id = "create_webhook",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = CreateWebhook,
    responses(
        (status = 201, body = WebhookWithSecretView, description = "The subscription and its secret."),
        (status = 400, body = Problem, description = "A bad field, e.g. an unknown event type or a `url` Roster may not reach (loopback, private, link-local)."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The organization has the most webhooks it may have."),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(org, _): PathId<OrganizationId, Native>,
    Json(b, _): Json<CreateWebhook, Native>,
) -> Result<Response, ApiError> {
    let types = event_types(b.event_types.as_deref())?.unwrap_or(EventTypes::All);
    let description = description(b.description.as_deref())?.unwrap_or_default();
    // Resolving a tenant's URL is work done on the caller's behalf: only
    // for a caller who may register it.
    {
        let m = s.engine.snapshot();
        ops::may_manage_webhooks(&Draft::new(&m, &ctx(&caller)), org)?;
    }
    let url = checked_url(&s, &b.url).await?;
    let new = NewWebhook {
        organization_id: org,
        url,
        event_types: types,
        description,
        enabled: b.enabled.unwrap_or(true),
        secret: new_webhook_secret(),
    };
    let secret = new.secret.expose().to_owned();
    let (w, rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::create_webhook(d, new.clone()))
        .await?;
    Ok(object(
        StatusCode::CREATED,
        &WebhookWithSecretView {
            webhook: WebhookView::from(&*w),
            secret,
        },
        w.revision,
        Some(rev),
    ))
}

/// List an organization's webhook subscriptions (`webhooks:write` over it).
#[utoipa::path(
    get,
    path = "/v1/organizations/{id}/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The organization's id."), PageQuery),
    responses(
        (status = 200, body = Page<WebhookView>, description = "A page of subscriptions."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(org, _): PathId<OrganizationId, Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<WebhookView>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = cursor::<WebhookId>(q.cursor.as_deref())?;
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let items = ops::list_webhooks(&Draft::new(&m, &c), org, after, limit + 1)?;
    Ok(axum::Json(page(
        items,
        limit,
        |w| w.id.to_string(),
        |w| WebhookView::from(&**w),
    )))
}

/// Read a webhook subscription.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    operation_id = "get_webhook",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id.")),
    responses(
        (status = 200, body = WebhookView, description = "The subscription."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<WebhookId, Native>,
) -> Result<Response, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let w = ops::get_webhook(&Draft::new(&m, &c), id)?;
    Ok(object(
        StatusCode::OK,
        &WebhookView::from(&*w),
        w.revision,
        None,
    ))
}

/// Update a webhook subscription (partial; `If-Match` honoured).
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    operation_id = "update_webhook",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id.")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, body = WebhookView, description = "The subscription."),
        (status = 400, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 412, body = Problem),
    )
)]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<WebhookId, Native>,
    headers: HeaderMap,
    Json(b, _): Json<UpdateWebhook, Native>,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let event_types = event_types(b.event_types.as_deref())?;
    let description = description(b.description.as_deref())?;
    let url = match b.url.as_deref() {
        Some(u) => {
            // As on creation: outbound work only for a caller who may change it.
            let m = s.engine.snapshot();
            ops::managed_webhook(&Draft::new(&m, &ctx(&caller)), id)?;
            Some(checked_url(&s, u).await?)
        }
        None => None,
    };
    let patch = WebhookPatch {
        url,
        event_types,
        description,
        enabled: b.enabled,
    };
    let (w, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::update_webhook(d, id, patch.clone(), pre)
        })
        .await?;
    Ok(object(
        StatusCode::OK,
        &WebhookView::from(&*w),
        w.revision,
        Some(rev),
    ))
}

/// Remove a webhook subscription and its delivery log.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    operation_id = "delete_webhook",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 412, body = Problem),
    )
)]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<WebhookId, Native>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let ((), rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::delete_webhook(d, id, pre))
        .await?;
    Ok(no_content(rev))
}

/// Give the subscription a new signing secret, shown this once; the one
/// it replaces keeps signing beside it for 24 hours.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate-secret",
    operation_id = "rotate_webhook_secret",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id.")),
    responses(
        (status = 200, body = WebhookWithSecretView, description = "The subscription and its new secret."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 412, body = Problem),
    )
)]
pub async fn rotate_secret(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<WebhookId, Native>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let secret = new_webhook_secret();
    let shown = secret.expose().to_owned();
    let (w, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::rotate_webhook_secret(d, id, secret.clone(), pre)
        })
        .await?;
    Ok(object(
        StatusCode::OK,
        &WebhookWithSecretView {
            webhook: WebhookView::from(&*w),
            secret: shown,
        },
        w.revision,
        Some(rev),
    ))
}

/// The subscription's delivery attempts, newest first.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    operation_id = "list_webhook_deliveries",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id."), PageQuery),
    responses(
        (status = 200, body = Page<WebhookDeliveryView>, description = "A page of attempts, newest first."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn deliveries(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<WebhookId, Native>,
    Query(q, _): Query<DeliveriesQuery, Native>,
) -> Result<axum::Json<Page<WebhookDeliveryView>>, ApiError> {
    let limit = limit(q.limit)?;
    let before = cursor::<i64>(q.cursor.as_deref())?;
    {
        let m = s.engine.snapshot();
        ops::managed_webhook(&Draft::new(&m, &ctx(&caller)), id)?;
    }
    let fetch = u32::try_from(limit + 1).unwrap_or(u32::MAX);
    let items = s.store.webhook_deliveries(id, before, fetch).await?;
    Ok(axum::Json(page(
        items,
        limit,
        |d| d.id.to_string(),
        |d| WebhookDeliveryView::from(d),
    )))
}

/// Deliver the organization's events again from a point of the feed: the
/// subscription's next event is the first after `after` (events the feed
/// no longer holds are not sent). Taken up within about a second.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/replay",
    operation_id = "replay_webhook",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id.")),
    request_body = Replay,
    responses(
        (status = 202, body = ReplayAccepted, description = "The replay is under way."),
        (status = 400, body = Problem, description = "`after` is negative or beyond the feed's last event."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn replay(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<WebhookId, Native>,
    Json(b, _): Json<Replay, Native>,
) -> Result<Response, ApiError> {
    {
        let m = s.engine.snapshot();
        ops::managed_webhook(&Draft::new(&m, &ctx(&caller)), id)?;
    }
    if b.after < 0 {
        return Err(ApiError::bad_request("after", "must be at least 0"));
    }
    // A sandbox (what-if) changes nothing outside its model.
    if s.sandbox().is_none() {
        let last = s.store.last_event_seq().await?;
        if b.after > last {
            return Err(ApiError::bad_request(
                "after",
                format!("the feed's last event is {last}"),
            ));
        }
        s.store.request_webhook_replay(id, b.after).await?;
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(ReplayAccepted {
            webhook_id: id.0,
            after: b.after,
        }),
    )
        .into_response())
}
