//! `/v1/users`.

use super::views::{new_user_status, user_status, PhoneView, SettingsView, UserView};
use super::Native;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::fields::{double_option, non_null, ReadOnly};
use crate::surface::paging::{cursor, limit, page, Page};
use crate::surface::write::{ctx, if_match, no_content, object};
use crate::surface::{parse_id, Caller, Json, PathId, Query};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_domain::ops::{self, NewUser, Precondition, UserFilter, UserPatch};
use roster_domain::{AccountId, Draft, Email, OrganizationId, PersonName, UserId, UserStatus};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Body of `POST /v1/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Home organization.
    #[schema(value_type = uuid::Uuid)]
    pub organization_id: String,
    /// Unique (case-insensitive), at most 255 characters.
    pub email: String,
    /// 1..100 characters.
    pub first_name: Option<String>,
    /// 1..100 characters.
    pub last_name: Option<String>,
    pub phone: Option<PhoneView>,
    pub settings: Option<SettingsView>,
    #[serde(default)]
    pub external_ids: BTreeMap<String, String>,
    #[schema(schema_with = new_user_status)]
    pub status: Option<String>,
}

/// Body of `PATCH /v1/users/{id}`: absent fields are left alone, `null`
/// clears a nullable field (and is refused for the others). The read-only
/// fields of a user (`id`, `organization_id`, `revision`, timestamps) are
/// accepted and ignored, so a client may send back what it read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(nullable)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(nullable)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(nullable)]
    pub phone: Option<Option<PhoneView>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(nullable)]
    pub settings: Option<Option<SettingsView>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    /// Replaces the map (`{}` clears it).
    pub external_ids: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(schema_with = user_status)]
    pub status: Option<String>,
    // Read-only fields of `UserView`, ignored.
    #[serde(default, rename = "id")]
    #[schema(ignore)]
    pub ro_id: ReadOnly,
    #[serde(default, rename = "organization_id")]
    #[schema(ignore)]
    pub ro_organization_id: ReadOnly,
    #[serde(default, rename = "created_at")]
    #[schema(ignore)]
    pub ro_created_at: ReadOnly,
    #[serde(default, rename = "created_by")]
    #[schema(ignore)]
    pub ro_created_by: ReadOnly,
    #[serde(default, rename = "updated_at")]
    #[schema(ignore)]
    pub ro_updated_at: ReadOnly,
    #[serde(default, rename = "updated_by")]
    #[schema(ignore)]
    pub ro_updated_by: ReadOnly,
    #[serde(default, rename = "deleted_at")]
    #[schema(ignore)]
    pub ro_deleted_at: ReadOnly,
    #[serde(default, rename = "revision")]
    #[schema(ignore)]
    pub ro_revision: ReadOnly,
}

/// Query of `GET /v1/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListUsers {
    /// Only users of this organization (their home).
    #[param(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<String>,
    /// Only members of this account.
    #[param(value_type = Option<uuid::Uuid>)]
    pub account_id: Option<String>,
    /// Only the user with this email (case-insensitive).
    pub email: Option<String>,
    /// 1..1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

fn opt_name(field: &str, v: Option<String>) -> Result<Option<PersonName>, ApiError> {
    Ok(v.as_deref()
        .map(|x| PersonName::parse_field(field, x))
        .transpose()?)
}

/// Create a user (`users:write` over the organization).
#[utoipa::path(
    post,
    path = "/v1/users",
    operation_id = "create_user",
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, body = UserView, description = "The user."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The email is taken."),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Json(b, _): Json<CreateUser, Native>,
) -> Result<Response, ApiError> {
    let new = NewUser {
        id: None,
        organization_id: b
            .organization_id
            .parse::<OrganizationId>()
            .map_err(|_| ApiError::bad_request("organization_id", "not a UUID"))?,
        email: Email::parse_field("email", &b.email)?,
        first_name: opt_name("first_name", b.first_name)?,
        last_name: opt_name("last_name", b.last_name)?,
        phone: b.phone.map(Into::into),
        settings: b.settings.map(Into::into),
        external_ids: b.external_ids,
        status: b
            .status
            .as_deref()
            .map(|x| UserStatus::parse("status", x))
            .transpose()?,
    };
    let (u, rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::create_user(d, new.clone()))
        .await?;
    Ok(object(
        StatusCode::CREATED,
        &UserView::from(&*u),
        u.revision,
        Some(rev),
    ))
}

/// List users the caller may read (filters: `organization_id`, `account_id`, `email`).
#[utoipa::path(
    get,
    path = "/v1/users",
    operation_id = "list_users",
    tag = "users",
    params(ListUsers),
    responses(
        (status = 200, body = Page<UserView>, description = "A page of users."),
        (status = 404, body = Problem),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Query(q, _): Query<ListUsers, Native>,
) -> Result<axum::Json<Page<UserView>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = cursor::<UserId>(q.cursor.as_deref())?;
    let filter = UserFilter {
        organization_id: q
            .organization_id
            .as_deref()
            .map(|x| parse_id::<OrganizationId>("organization_id", x))
            .transpose()?,
        account_id: q
            .account_id
            .as_deref()
            .map(|x| parse_id::<AccountId>("account_id", x))
            .transpose()?,
        email: q.email,
    };
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let items = ops::list_users(&Draft::new(&m, &c), &filter, after, limit + 1)?;
    Ok(axum::Json(page(
        items,
        limit,
        |u| u.id.to_string(),
        |u| UserView::from(&**u),
    )))
}

/// Read a user.
#[utoipa::path(
    get,
    path = "/v1/users/{id}",
    operation_id = "get_user",
    tag = "users",
    params(("id" = uuid::Uuid, Path, description = "The user's id.")),
    responses(
        (status = 200, body = UserView, description = "The user."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<UserId, Native>,
) -> Result<Response, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let u = ops::get_user(&Draft::new(&m, &c), id)?;
    Ok(object(
        StatusCode::OK,
        &UserView::from(&*u),
        u.revision,
        None,
    ))
}

/// Update a user (partial; users may edit their own profile fields).
#[utoipa::path(
    patch,
    path = "/v1/users/{id}",
    operation_id = "update_user",
    tag = "users",
    params(("id" = uuid::Uuid, Path, description = "The user's id.")),
    request_body = UpdateUser,
    responses(
        (status = 200, body = UserView, description = "The user."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The email is taken, or the change would leave an organization without an administrator (lockout guard)."),
        (status = 412, body = Problem),
    )
)]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<UserId, Native>,
    headers: HeaderMap,
    Json(b, _): Json<UpdateUser, Native>,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let patch = UserPatch {
        email: b
            .email
            .as_deref()
            .map(|x| Email::parse_field("email", x))
            .transpose()?,
        first_name: b
            .first_name
            .map(|v| opt_name("first_name", v))
            .transpose()?,
        last_name: b.last_name.map(|v| opt_name("last_name", v)).transpose()?,
        phone: b.phone.map(|v| v.map(Into::into)),
        settings: b.settings.map(|v| v.map(Into::into)),
        external_ids: b.external_ids,
        status: b
            .status
            .as_deref()
            .map(|x| UserStatus::parse("status", x))
            .transpose()?,
    };
    let (u, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::update_user(d, id, patch.clone(), pre)
        })
        .await?;
    Ok(object(
        StatusCode::OK,
        &UserView::from(&*u),
        u.revision,
        Some(rev),
    ))
}

/// Soft-delete a user.
#[utoipa::path(
    delete,
    path = "/v1/users/{id}",
    operation_id = "delete_user",
    tag = "users",
    params(("id" = uuid::Uuid, Path, description = "The user's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The deletion would leave an organization without an administrator (lockout guard)."),
        (status = 412, body = Problem),
    )
)]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<UserId, Native>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let ((), rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::delete_user(d, id, pre))
        .await?;
    Ok(no_content(rev))
}
