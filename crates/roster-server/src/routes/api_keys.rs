//! `/v1/api-keys`.

use super::organizations::PageQuery;
use super::views::ApiKeyView;
use super::Native;
use crate::auth::new_secret;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::fields::parse_ts;
use crate::surface::paging::{page_by, Page};
use crate::surface::write::{ctx, no_content, object};
use crate::surface::{Caller, Json, PathId, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_domain::ops::{self, NewApiKey};
use roster_domain::{ApiKeyId, DisplayName, Draft, UserId};
use serde::Deserialize;
use std::collections::HashMap;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Body of `POST /v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// The user the key acts as (yourself, or a user you hold `api_keys:write` for).
    #[schema(value_type = uuid::Uuid)]
    pub user_id: String,
    pub name: String,
    /// RFC 3339; must be in the future.
    pub expires_at: Option<String>,
    /// Permission codes (or ids) the key may act for; it acts as its user
    /// and only for these. Each must be one you hold. Leave it out for a
    /// key with its user's full power.
    #[schema(max_items = 256)]
    pub scopes: Option<Vec<String>>,
}

/// Create an API key; the secret `key` is in this response only.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    operation_id = "create_api_key",
    tag = "api-keys",
    request_body = CreateApiKey,
    responses(
        (status = 201, body = ApiKeyView, description = "The key, with its secret `key`."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "A key id collision; retry."),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Json(b, _): Json<CreateApiKey, Native>,
) -> Result<Response, ApiError> {
    let user_id = b
        .user_id
        .parse::<UserId>()
        .map_err(|_| ApiError::bad_request("user_id", "not a UUID"))?;
    let name = DisplayName::parse_field("name", &b.name)?;
    let expires_at = b
        .expires_at
        .as_deref()
        .map(|x| parse_ts("expires_at", x))
        .transpose()?;
    let secret = new_secret();
    let token = secret.token.clone();
    let (k, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::create_api_key(
                d,
                NewApiKey {
                    user_id,
                    name: name.clone(),
                    expires_at,
                    scopes: b.scopes.clone(),
                    key_id: secret.key_id.clone(),
                    secret: secret.token.clone(),
                },
            )
        })
        .await?;
    let mut view = ApiKeyView::new(&k, &s.engine.snapshot(), None);
    view.key = Some(token);
    Ok(object(StatusCode::CREATED, &view, k.revision, Some(rev)))
}

/// List the keys the caller manages (never their secrets), by id.
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    operation_id = "list_api_keys",
    tag = "api-keys",
    params(PageQuery),
    responses(
        (status = 200, body = Page<ApiKeyView>, description = "A page of keys."),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<ApiKeyView>>, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let keys = ops::list_api_keys(&Draft::new(&m, &c));
    let page = page_by(keys, q.limit, q.cursor.as_deref(), |k| k.id, Clone::clone)?;
    let ids: Vec<ApiKeyId> = page.items.iter().map(|k| k.id).collect();
    let used: HashMap<ApiKeyId, OffsetDateTime> = s
        .store
        .api_keys_last_used(&ids)
        .await?
        .into_iter()
        .collect();
    Ok(axum::Json(page.map(|k| {
        ApiKeyView::new(&k, &m, used.get(&k.id).copied())
    })))
}

/// Revoke a key (idempotent).
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    operation_id = "revoke_api_key",
    tag = "api-keys",
    params(("id" = uuid::Uuid, Path, description = "The key's id (not its public `key_id`).")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn revoke(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<ApiKeyId, Native>,
) -> Result<Response, ApiError> {
    let (_, rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::revoke_api_key(d, id))
        .await?;
    Ok(no_content(rev))
}
