//! `/v1/accounts/{id}/members`.

use super::organizations::PageQuery;
use super::views::{new_user_status, MembershipView};
use super::Native;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::paging::{cursor, limit, page, Page};
use crate::surface::write::{ctx, no_content, object};
use crate::surface::{Caller, Json, PathId, Query};
use axum::extract::State;
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
    #[schema(value_type = uuid::Uuid)]
    pub user_id: String,
    #[schema(schema_with = new_user_status)]
    pub status: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Add a user to an account (`users:write` over the account).
#[utoipa::path(
    post,
    path = "/v1/accounts/{id}/members",
    operation_id = "add_member",
    tag = "members",
    params(("id" = uuid::Uuid, Path, description = "The account's id.")),
    request_body = AddMember,
    responses(
        (status = 201, body = MembershipView, description = "The membership."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The user is a member already."),
    )
)]
pub async fn add(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(account_id, _): PathId<AccountId, Native>,
    Json(b, _): Json<AddMember, Native>,
) -> Result<Response, ApiError> {
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
#[utoipa::path(
    get,
    path = "/v1/accounts/{id}/members",
    operation_id = "list_members",
    tag = "members",
    params(("id" = uuid::Uuid, Path, description = "The account's id."), PageQuery),
    responses(
        (status = 200, body = Page<MembershipView>, description = "A page of memberships."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(account_id, _): PathId<AccountId, Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<MembershipView>>, ApiError> {
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
#[utoipa::path(
    delete,
    path = "/v1/accounts/{id}/members/{user_id}",
    operation_id = "remove_member",
    tag = "members",
    params(("id" = uuid::Uuid, Path, description = "The account's id."), ("user_id" = uuid::Uuid, Path, description = "The member's user id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn remove(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId((account_id, user_id), _): PathId<(AccountId, UserId), Native>,
) -> Result<Response, ApiError> {
    let ((), rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::remove_member(d, account_id, user_id)
        })
        .await?;
    Ok(no_content(rev))
}
