//! `/v1/accounts/{id}/members`.

use super::organizations::PageQuery;
use super::views::MembershipView;
use super::{ctx, cursor, limit, no_content, object, page, Page};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use roster_domain::ops::{self, NewMembership};
use roster_domain::{AccountId, Draft, MembershipStatus, UserId};
use serde::Deserialize;
use utoipa::ToSchema;

/// Body of `POST /v1/accounts/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// A user of the account's organization.
    pub user_id: String,
    /// `active` (default), `invited` or `disabled`.
    pub status: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Add a user to an account (`users:write` over the account).
#[utoipa::path(post, path = "/v1/accounts/{id}/members", request_body = AddMember, tag = "members",
    responses((status = 201, body = MembershipView), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn add(
    State(s): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    Json(b): Json<AddMember>,
) -> Result<Response, ApiError> {
    let account_id: AccountId = path_id("id", &acc)?;
    let new = NewMembership {
        id: None,
        account_id,
        user_id: b
            .user_id
            .parse::<UserId>()
            .map_err(|_| ApiError::bad_request("user_id", "not a UUID"))?,
        status: b
            .status
            .as_deref()
            .map(|x| MembershipStatus::parse("status", x))
            .transpose()?,
        groups: b.groups,
    };
    let (m, rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::add_member(d, new.clone()))
        .await?;
    Ok(object(
        StatusCode::CREATED,
        &MembershipView::from(&*m),
        m.revision,
        Some(rev),
    ))
}

/// List the members of an account.
#[utoipa::path(get, path = "/v1/accounts/{id}/members", params(PageQuery), tag = "members",
    responses((status = 200, body = Page<MembershipView>), (status = 404, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Page<MembershipView>>, ApiError> {
    let account_id: AccountId = path_id("id", &acc)?;
    let limit = limit(q.limit)?;
    let after = cursor::<UserId>(q.cursor.as_deref())?;
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let items = ops::list_members(&Draft::new(&m, &c), account_id, after, limit + 1)?;
    Ok(axum::Json(page(
        items,
        limit,
        |x| x.user_id.to_string(),
        |x| MembershipView::from(&**x),
    )))
}

/// Remove a user from an account.
#[utoipa::path(delete, path = "/v1/accounts/{id}/members/{user_id}", tag = "members",
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path((acc, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let account_id: AccountId = path_id("id", &acc)?;
    let user_id: UserId = path_id("user_id", &user)?;
    let ((), rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::remove_member(d, account_id, user_id)
        })
        .await?;
    Ok(no_content(rev))
}
