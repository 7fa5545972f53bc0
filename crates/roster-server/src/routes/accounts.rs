//! `/v1/organizations/{id}/accounts` and `/v1/accounts/{id}`.

use super::organizations::PageQuery;
use super::views::{account_status, account_type, new_account_status, AccountView};
use super::Native;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::fields::{non_null, ReadOnly};
use crate::surface::paging::{cursor, limit, page, Page};
use crate::surface::write::{ctx, if_match, no_content, object};
use crate::surface::{Caller, Json, PathId, Query};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_domain::ops::{self, AccountPatch, NewAccount, Precondition};
use roster_domain::{AccountId, AccountStatus, AccountType, DisplayName, Draft, OrganizationId};
use serde::Deserialize;
use utoipa::ToSchema;

/// Body of `POST /v1/organizations/{id}/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// 1..200 characters.
    pub name: String,
    #[serde(rename = "type")]
    #[schema(schema_with = account_type)]
    pub kind: String,
    #[schema(schema_with = new_account_status)]
    pub status: Option<String>,
}

/// Body of `PATCH /v1/accounts/{id}`: absent fields are left alone; the
/// read-only fields (`id`, `organization_id`, `revision`, timestamps) are
/// accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "non_null")]
    #[schema(schema_with = account_type)]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(schema_with = account_status)]
    pub status: Option<String>,
    // Read-only fields of `AccountView`, ignored.
    #[serde(default, rename = "id")]
    #[schema(ignore)]
    pub ro_id: ReadOnly,
    #[serde(default, rename = "organization_id")]
    #[schema(ignore)]
    pub ro_organization_id: ReadOnly,
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

/// Create an account (`accounts:write` over the organization's accounts).
#[utoipa::path(
    post,
    path = "/v1/organizations/{id}/accounts",
    operation_id = "create_account",
    tag = "accounts",
    params(("id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = CreateAccount,
    responses(
        (status = 201, body = AccountView, description = "The account."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(org, _): PathId<OrganizationId, Native>,
    Json(b, _): Json<CreateAccount, Native>,
) -> Result<Response, ApiError> {
    let new = NewAccount {
        id: None,
        organization_id: org,
        name: DisplayName::parse_field("name", &b.name)?,
        kind: AccountType::parse("type", &b.kind)?,
        status: b
            .status
            .as_deref()
            .map(|x| AccountStatus::parse("status", x))
            .transpose()?,
    };
    let (a, rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::create_account(d, new.clone()))
        .await?;
    Ok(object(
        StatusCode::CREATED,
        &AccountView::from(&*a),
        a.revision,
        Some(rev),
    ))
}

/// List the accounts of an organization the caller may read.
#[utoipa::path(
    get,
    path = "/v1/organizations/{id}/accounts",
    operation_id = "list_accounts",
    tag = "accounts",
    params(("id" = uuid::Uuid, Path, description = "The organization's id."), PageQuery),
    responses(
        (status = 200, body = Page<AccountView>, description = "A page of accounts."),
        (status = 404, body = Problem),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(org, _): PathId<OrganizationId, Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<AccountView>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = cursor::<AccountId>(q.cursor.as_deref())?;
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let items = ops::list_accounts(&Draft::new(&m, &c), org, after, limit + 1)?;
    Ok(axum::Json(page(
        items,
        limit,
        |a| a.id.to_string(),
        |a| AccountView::from(&**a),
    )))
}

/// Read an account.
#[utoipa::path(
    get,
    path = "/v1/accounts/{id}",
    operation_id = "get_account",
    tag = "accounts",
    params(("id" = uuid::Uuid, Path, description = "The account's id.")),
    responses(
        (status = 200, body = AccountView, description = "The account."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<AccountId, Native>,
) -> Result<Response, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let a = ops::get_account(&Draft::new(&m, &c), id)?;
    Ok(object(
        StatusCode::OK,
        &AccountView::from(&*a),
        a.revision,
        None,
    ))
}

/// Update an account (partial; `If-Match` honoured).
#[utoipa::path(
    patch,
    path = "/v1/accounts/{id}",
    operation_id = "update_account",
    tag = "accounts",
    params(("id" = uuid::Uuid, Path, description = "The account's id.")),
    request_body = UpdateAccount,
    responses(
        (status = 200, body = AccountView, description = "The account."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 412, body = Problem),
    )
)]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<AccountId, Native>,
    headers: HeaderMap,
    Json(b, _): Json<UpdateAccount, Native>,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let patch = AccountPatch {
        name: b
            .name
            .as_deref()
            .map(|x| DisplayName::parse_field("name", x))
            .transpose()?,
        kind: b
            .kind
            .as_deref()
            .map(|x| AccountType::parse("type", x))
            .transpose()?,
        status: b
            .status
            .as_deref()
            .map(|x| AccountStatus::parse("status", x))
            .transpose()?,
    };
    let (a, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::update_account(d, id, patch.clone(), pre)
        })
        .await?;
    Ok(object(
        StatusCode::OK,
        &AccountView::from(&*a),
        a.revision,
        Some(rev),
    ))
}

/// Delete an account, its memberships and the grants scoped to it.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{id}",
    operation_id = "delete_account",
    tag = "accounts",
    params(("id" = uuid::Uuid, Path, description = "The account's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 412, body = Problem),
    )
)]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<AccountId, Native>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let ((), rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::delete_account(d, id, pre))
        .await?;
    Ok(no_content(rev))
}
