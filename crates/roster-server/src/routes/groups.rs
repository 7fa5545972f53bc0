//! `/v1/organizations/{id}/groups`, `/v1/groups/{id}` with its members and
//! grants, and `/v1/users/{id}/groups` (SPEC §1, §3.2). A member holds the
//! group's grants, so adding or removing one passes the same guards as
//! granting or revoking each of them; the domain decides
//! (`roster_domain::ops::group`). Group grants share the user grants'
//! handlers ([`super::grants`]).

use super::grants::{self, CreateGrant, UpdateGrant};
use super::organizations::PageQuery;
use super::views::{GrantView, GroupMemberView, GroupView, UserGroupView};
use super::Native;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::fields::parse_ts;
use crate::surface::fields::{double_option, non_null, ReadOnly};
use crate::surface::paging::{cursor, limit, page, page_by, Page};
use crate::surface::write::{ctx, if_match, no_content, object};
use crate::surface::{Caller, Json, PathId, Query};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_domain::ops::{self, GroupPatch, NewGroup, Precondition};
use roster_domain::{
    Description, DisplayName, DomainError, Draft, GrantId, GroupId, OrganizationId, UserId,
};
use serde::Deserialize;
use utoipa::ToSchema;

/// Body of `POST /v1/organizations/{id}/groups`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// 1..200 characters, unique in the organization (case-insensitively).
    pub name: String,
    /// 0..1000 characters; default empty.
    #[serde(default)]
    pub description: String,
}

/// Body of `PATCH /v1/groups/{id}`: absent fields are left alone; the
/// read-only fields of the group's view are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// `""` clears it.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    // Read-only fields of `GroupView`, ignored.
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
    #[serde(default, rename = "revision")]
    #[schema(ignore)]
    pub ro_revision: ReadOnly,
}

/// Body of `POST /v1/groups/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddGroupMember {
    /// A live user of the group's organization.
    #[schema(value_type = uuid::Uuid)]
    pub user_id: String,
    /// When the membership stops counting (RFC 3339, in the future);
    /// absent: never.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub expires_at: Option<String>,
}

/// Body of `PATCH /v1/groups/{id}/members/{user_id}`: the read-only fields
/// of the membership's view are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupMember {
    /// A new expiry (RFC 3339, in the future), or `null` for none; absent:
    /// unchanged.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(nullable)]
    pub expires_at: Option<Option<String>>,
    // Read-only fields of `GroupMemberView`, ignored.
    #[serde(default, rename = "group_id")]
    #[schema(ignore)]
    pub ro_group_id: ReadOnly,
    #[serde(default, rename = "user_id")]
    #[schema(ignore)]
    pub ro_user_id: ReadOnly,
    #[serde(default, rename = "created_at")]
    #[schema(ignore)]
    pub ro_created_at: ReadOnly,
    #[serde(default, rename = "created_by")]
    #[schema(ignore)]
    pub ro_created_by: ReadOnly,
    #[serde(default, rename = "revision")]
    #[schema(ignore)]
    pub ro_revision: ReadOnly,
}

fn name(raw: &str) -> Result<DisplayName, ApiError> {
    Ok(DisplayName::parse_field("name", raw)?)
}

fn description(raw: &str) -> Result<Description, ApiError> {
    Ok(Description::parse_field("description", raw)?)
}

/// Create a group in an organization (`users:write` over it).
#[utoipa::path(
    post,
    path = "/v1/organizations/{id}/groups",
    operation_id = "create_group",
    tag = "groups",
    params(("id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = CreateGroup,
    responses(
        (status = 201, body = GroupView, description = "The group."),
        (status = 400, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The name is taken in the organization."),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(org, _): PathId<OrganizationId, Native>,
    Json(b, _): Json<CreateGroup, Native>,
) -> Result<Response, ApiError> {
    let new = NewGroup {
        id: None,
        organization_id: org,
        name: name(&b.name)?,
        description: Some(description(&b.description)?),
    };
    let (g, rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::create_group(d, new.clone()))
        .await?;
    Ok(object(
        StatusCode::CREATED,
        &GroupView::from(&*g),
        g.revision,
        Some(rev),
    ))
}

/// List an organization's groups, by id (`users:read` over it).
#[utoipa::path(
    get,
    path = "/v1/organizations/{id}/groups",
    operation_id = "list_groups",
    tag = "groups",
    params(("id" = uuid::Uuid, Path, description = "The organization's id."), PageQuery),
    responses(
        (status = 200, body = Page<GroupView>, description = "A page of groups."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(org, _): PathId<OrganizationId, Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<GroupView>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = cursor::<GroupId>(q.cursor.as_deref())?;
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let items = ops::list_groups(&Draft::new(&m, &c), org, after, limit + 1)?;
    Ok(axum::Json(page(
        items,
        limit,
        |g| g.id.to_string(),
        |g| GroupView::from(&**g),
    )))
}

/// Read a group (`users:read` over its organization).
#[utoipa::path(
    get,
    path = "/v1/groups/{id}",
    operation_id = "get_group",
    tag = "groups",
    params(("id" = uuid::Uuid, Path, description = "The group's id.")),
    responses(
        (status = 200, body = GroupView, description = "The group."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<GroupId, Native>,
) -> Result<Response, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let g = ops::get_group(&Draft::new(&m, &c), id)?;
    Ok(object(
        StatusCode::OK,
        &GroupView::from(&*g),
        g.revision,
        None,
    ))
}

/// Rename or re-describe a group (partial; `If-Match` honoured).
#[utoipa::path(
    patch,
    path = "/v1/groups/{id}",
    operation_id = "update_group",
    tag = "groups",
    params(
        ("id" = uuid::Uuid, Path, description = "The group's id."),
        ("If-Match" = Option<String>, Header, description = "The group's revision, as its ETag."),
    ),
    request_body = UpdateGroup,
    responses(
        (status = 200, body = GroupView, description = "The group."),
        (status = 400, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The name is taken in the organization."),
        (status = 412, body = Problem),
    )
)]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<GroupId, Native>,
    headers: HeaderMap,
    Json(b, _): Json<UpdateGroup, Native>,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let patch = GroupPatch {
        name: b.name.as_deref().map(name).transpose()?,
        description: b.description.as_deref().map(description).transpose()?,
    };
    let (g, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::update_group(d, id, patch.clone(), pre)
        })
        .await?;
    Ok(object(
        StatusCode::OK,
        &GroupView::from(&*g),
        g.revision,
        Some(rev),
    ))
}

/// Delete a group: its grants, then its memberships, then the group, in
/// one write (each grant and membership under the guards its removal
/// needs).
#[utoipa::path(
    delete,
    path = "/v1/groups/{id}",
    operation_id = "delete_group",
    tag = "groups",
    params(
        ("id" = uuid::Uuid, Path, description = "The group's id."),
        ("If-Match" = Option<String>, Header, description = "The group's revision, as its ETag."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, body = Problem, description = "A missing permission, or the escalation or self guard over one of its grants or members."),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The deletion would leave an organization without a permanent administrator (lockout guard)."),
        (status = 412, body = Problem),
    )
)]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<GroupId, Native>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let ((), rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::delete_group(d, id, pre))
        .await?;
    Ok(no_content(rev))
}

/// List a group's members, by user id (`users:read`).
#[utoipa::path(
    get,
    path = "/v1/groups/{id}/members",
    operation_id = "list_group_members",
    tag = "groups",
    params(("id" = uuid::Uuid, Path, description = "The group's id."), PageQuery),
    responses(
        (status = 200, body = Page<GroupMemberView>, description = "A page of memberships."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn list_members(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(group, _): PathId<GroupId, Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<GroupMemberView>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = cursor::<UserId>(q.cursor.as_deref())?;
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let items = ops::list_group_members(&Draft::new(&m, &c), group, after, limit + 1)?;
    Ok(axum::Json(page(
        items,
        limit,
        |x| x.user_id.to_string(),
        |x| GroupMemberView::from(x),
    )))
}

/// Add a user to a group, optionally until `expires_at`: `201`, or `200`
/// with the membership as it is when the user is a member already. The
/// member holds the group's grants, so the escalation guard applies to each
/// of them, and nobody adds themselves (self guard).
#[utoipa::path(
    post,
    path = "/v1/groups/{id}/members",
    operation_id = "add_group_member",
    tag = "groups",
    params(("id" = uuid::Uuid, Path, description = "The group's id.")),
    request_body = AddGroupMember,
    responses(
        (status = 201, body = GroupMemberView, description = "The membership."),
        (status = 200, body = GroupMemberView, description = "The user is a member already; its membership, unchanged."),
        (status = 400, body = Problem, description = "A bad field, e.g. a user of another organization."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn add_member(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(group, _): PathId<GroupId, Native>,
    Json(b, _): Json<AddGroupMember, Native>,
) -> Result<Response, ApiError> {
    let user = b
        .user_id
        .parse::<UserId>()
        .map_err(|_| ApiError::bad_request("user_id", "not a UUID"))?;
    let expires_at = b
        .expires_at
        .as_deref()
        .map(|t| parse_ts("expires_at", t))
        .transpose()?;
    let ((gm, created), rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::add_group_member(d, group, user, expires_at)
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(object(
        status,
        &GroupMemberView::from(&gm),
        gm.revision,
        Some(rev),
    ))
}

/// Set or clear a membership's expiry (`If-Match` honoured; the escalation,
/// self and lockout guards apply).
#[utoipa::path(
    patch,
    path = "/v1/groups/{id}/members/{user_id}",
    operation_id = "update_group_member",
    tag = "groups",
    params(
        ("id" = uuid::Uuid, Path, description = "The group's id."),
        ("user_id" = uuid::Uuid, Path, description = "The member's user id."),
        ("If-Match" = Option<String>, Header, description = "The membership's revision, as its ETag."),
    ),
    request_body = UpdateGroupMember,
    responses(
        (status = 200, body = GroupMemberView, description = "The membership."),
        (status = 400, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "An expiry would leave an organization without a permanent administrator (lockout guard)."),
        (status = 412, body = Problem),
    )
)]
pub async fn update_member(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId((group, user), _): PathId<(GroupId, UserId), Native>,
    headers: HeaderMap,
    Json(b, _): Json<UpdateGroupMember, Native>,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let expires_at = match b.expires_at {
        None => {
            // Nothing to change: the membership as it is.
            let m = s.engine.snapshot();
            let c = ctx(&caller);
            let d = Draft::new(&m, &c);
            ops::get_group(&d, group)?;
            let gm = m
                .group_member(group, user)
                .ok_or_else(|| DomainError::not_found("group_member", user))?;
            pre.check(gm.revision)?;
            return Ok(object(
                StatusCode::OK,
                &GroupMemberView::from(&gm),
                gm.revision,
                None,
            ));
        }
        Some(None) => None,
        Some(Some(t)) => Some(parse_ts("expires_at", &t)?),
    };
    let (gm, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::update_group_member(d, group, user, expires_at, pre)
        })
        .await?;
    Ok(object(
        StatusCode::OK,
        &GroupMemberView::from(&gm),
        gm.revision,
        Some(rev),
    ))
}

/// Remove a user from a group (the escalation, self and lockout guards
/// apply).
#[utoipa::path(
    delete,
    path = "/v1/groups/{id}/members/{user_id}",
    operation_id = "remove_group_member",
    tag = "groups",
    params(
        ("id" = uuid::Uuid, Path, description = "The group's id."),
        ("user_id" = uuid::Uuid, Path, description = "The member's user id."),
    ),
    responses(
        (status = 204, description = "Removed."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The removal would leave an organization without a permanent administrator (lockout guard)."),
    )
)]
pub async fn remove_member(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId((group, user), _): PathId<(GroupId, UserId), Native>,
) -> Result<Response, ApiError> {
    let ((), rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::remove_group_member(d, group, user)
        })
        .await?;
    Ok(no_content(rev))
}

/// List a group's grants visible to the caller, by id.
#[utoipa::path(
    get,
    path = "/v1/groups/{id}/grants",
    operation_id = "list_group_grants",
    tag = "groups",
    params(("id" = uuid::Uuid, Path, description = "The group's id."), PageQuery),
    responses(
        (status = 200, body = Page<GrantView>, description = "A page of grants."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn list_grants(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(group, _): PathId<GroupId, Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<GrantView>>, ApiError> {
    grants::list_of(&s, &caller, group.into(), &q)
}

/// Give a group a role or a permission at a scope, optionally until
/// `expires_at`; every member holds it. The escalation guard applies as
/// for a user, and nobody changes the grants of a group they are in.
#[utoipa::path(
    post,
    path = "/v1/groups/{id}/grants",
    operation_id = "create_group_grant",
    tag = "groups",
    params(("id" = uuid::Uuid, Path, description = "The group's id.")),
    request_body = CreateGrant,
    responses(
        (status = 201, body = GrantView, description = "The grant."),
        (status = 200, body = GrantView, description = "An identical grant exists."),
        (status = 400, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn create_grant(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(group, _): PathId<GroupId, Native>,
    Json(b, _): Json<CreateGrant, Native>,
) -> Result<Response, ApiError> {
    grants::create_for(&s, &caller, group.into(), b).await
}

/// Set or clear the expiry of a group's grant (escalation, self and lockout
/// guards apply).
#[utoipa::path(
    patch,
    path = "/v1/groups/{id}/grants/{grant_id}",
    operation_id = "update_group_grant",
    tag = "groups",
    params(
        ("id" = uuid::Uuid, Path, description = "The group's id."),
        ("grant_id" = uuid::Uuid, Path, description = "The grant's id."),
        ("If-Match" = Option<String>, Header, description = "The grant's revision, as its ETag."),
    ),
    request_body = UpdateGrant,
    responses(
        (status = 200, body = GrantView, description = "The grant."),
        (status = 400, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "An expiry would leave an organization without a permanent administrator (lockout guard)."),
        (status = 412, body = Problem),
    )
)]
pub async fn update_grant(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId((group, grant), _): PathId<(GroupId, GrantId), Native>,
    headers: HeaderMap,
    Json(b, _): Json<UpdateGrant, Native>,
) -> Result<Response, ApiError> {
    grants::update_for(&s, &caller, group.into(), grant, &headers, b).await
}

/// Remove a group's grant from it, and so from every member (escalation,
/// self and lockout guards apply).
#[utoipa::path(
    delete,
    path = "/v1/groups/{id}/grants/{grant_id}",
    operation_id = "delete_group_grant",
    tag = "groups",
    params(
        ("id" = uuid::Uuid, Path, description = "The group's id."),
        ("grant_id" = uuid::Uuid, Path, description = "The grant's id."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The deletion would leave an organization without a permanent administrator (lockout guard)."),
    )
)]
pub async fn delete_grant(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId((group, grant), _): PathId<(GroupId, GrantId), Native>,
) -> Result<Response, ApiError> {
    grants::delete_for(&s, &caller, group.into(), grant).await
}

/// List the groups a user is a member of, by group id, each with that
/// membership's expiry (`users:read` over the user's organization, or the
/// user itself).
#[utoipa::path(
    get,
    path = "/v1/users/{id}/groups",
    operation_id = "list_user_groups",
    tag = "groups",
    params(("id" = uuid::Uuid, Path, description = "The user's id."), PageQuery),
    responses(
        (status = 200, body = Page<UserGroupView>, description = "A page of the user's groups."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn user_groups(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(user, _): PathId<UserId, Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<UserGroupView>>, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let items = ops::groups_of_user(&Draft::new(&m, &c), user)?;
    Ok(axum::Json(page_by(
        items,
        q.limit,
        q.cursor.as_deref(),
        |(g, _)| g.id,
        |(g, gm)| UserGroupView::new(g, gm),
    )?))
}
