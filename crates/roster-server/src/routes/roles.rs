//! The permission catalogue and roles.

use super::organizations::PageQuery;
use super::views::{PermissionView, RoleView};
use super::Native;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::fields::{non_null, ReadOnly};
use crate::surface::paging::{page_by, Page};
use crate::surface::write::{ctx, if_match, no_content, object};
use crate::surface::{Caller, Json, PathId, Query};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_domain::ops::{self, NewPermission, NewRole, Precondition, RolePatch};
use roster_domain::{Description, DisplayName, Draft, OrganizationId, PermissionCode, RoleId};
use serde::Deserialize;
use utoipa::ToSchema;

/// Body of `POST /v1/organizations/{id}/permissions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePermission {
    /// e.g. `invoices:approve`.
    pub code: String,
    #[serde(default)]
    pub description: String,
}

/// Body of `POST /v1/organizations/{id}/roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// Slug, unique in the organization and not a built-in id.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Permission codes or ids (built-in or of this organization); at most 1000.
    pub permissions: Vec<String>,
}

/// Body of `PATCH /v1/organizations/{id}/roles/{role_id}`: absent fields are
/// left alone; the read-only fields (`id`, `organization_id`, `builtin`,
/// `revision`) are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    /// Replaces the permission set.
    pub permissions: Option<Vec<String>>,
    // Read-only fields of `RoleView`, ignored.
    #[serde(default, rename = "id")]
    #[schema(ignore)]
    pub ro_id: ReadOnly,
    #[serde(default, rename = "organization_id")]
    #[schema(ignore)]
    pub ro_organization_id: ReadOnly,
    #[serde(default, rename = "builtin")]
    #[schema(ignore)]
    pub ro_builtin: ReadOnly,
    #[serde(default, rename = "revision")]
    #[schema(ignore)]
    pub ro_revision: ReadOnly,
}

fn check_len(field: &str, v: &[String]) -> Result<(), ApiError> {
    if v.len() > 1000 {
        return Err(ApiError::bad_request(
            field,
            "must have at most 1000 entries",
        ));
    }
    Ok(())
}

/// List the permission catalogue (built-ins and the custom permissions of reachable organizations), by id.
#[utoipa::path(
    get,
    path = "/v1/permissions",
    operation_id = "list_permissions",
    tag = "roles",
    params(PageQuery),
    responses(
        (status = 200, body = Page<PermissionView>, description = "A page of permissions."),
    )
)]
pub async fn list_permissions(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<PermissionView>>, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let items = ops::list_permissions(&Draft::new(&m, &c));
    Ok(axum::Json(page_by(
        items,
        q.limit,
        q.cursor.as_deref(),
        |p| p.id,
        |p| PermissionView::from(&**p),
    )?))
}

/// Order of a role list, and its cursor: built-ins (`b:<id>`) before
/// custom roles (`c:<id>`), each by id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RoleCursor(bool, String);

impl std::str::FromStr for RoleCursor {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (kind, id) = s.split_once(':').ok_or(())?;
        let id = RoleId::parse(id).map_err(|_| ())?.as_str().to_owned();
        match kind {
            "b" => Ok(Self(false, id)),
            "c" => Ok(Self(true, id)),
            _ => Err(()),
        }
    }
}

impl std::fmt::Display for RoleCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", if self.0 { "c" } else { "b" }, self.1)
    }
}

/// Add a custom permission to an organization (`roles:write`).
#[utoipa::path(
    post,
    path = "/v1/organizations/{id}/permissions",
    operation_id = "create_permission",
    tag = "roles",
    params(("id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = CreatePermission,
    responses(
        (status = 201, body = PermissionView, description = "The permission."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The code is taken."),
    )
)]
pub async fn create_permission(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(org, _): PathId<OrganizationId, Native>,
    Json(b, _): Json<CreatePermission, Native>,
) -> Result<Response, ApiError> {
    let new = NewPermission {
        id: None,
        organization_id: org,
        code: PermissionCode::parse_field("code", &b.code)?,
        description: Description::parse_field("description", &b.description)?,
    };
    let (p, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::create_permission(d, new.clone())
        })
        .await?;
    Ok(object(
        StatusCode::CREATED,
        &PermissionView::from(&*p),
        p.revision,
        Some(rev),
    ))
}

/// List the roles usable in an organization (built-ins, read-only, then custom; each by id).
#[utoipa::path(
    get,
    path = "/v1/organizations/{id}/roles",
    operation_id = "list_roles",
    tag = "roles",
    params(("id" = uuid::Uuid, Path, description = "The organization's id."), PageQuery),
    responses(
        (status = 200, body = Page<RoleView>, description = "A page of roles."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(org, _): PathId<OrganizationId, Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<RoleView>>, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let roles = ops::list_roles(&Draft::new(&m, &c), org)?;
    let key = |r: &std::sync::Arc<roster_domain::Role>| {
        RoleCursor(!r.is_builtin(), r.id.as_str().to_owned())
    };
    Ok(axum::Json(page_by(
        roles,
        q.limit,
        q.cursor.as_deref(),
        key,
        |r| RoleView::new(r, &m),
    )?))
}

/// Create a custom role (`roles:write`; you must hold each of its permissions).
#[utoipa::path(
    post,
    path = "/v1/organizations/{id}/roles",
    operation_id = "create_role",
    tag = "roles",
    params(("id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = CreateRole,
    responses(
        (status = 201, body = RoleView, description = "The role."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The id is taken."),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(org, _): PathId<OrganizationId, Native>,
    Json(b, _): Json<CreateRole, Native>,
) -> Result<Response, ApiError> {
    check_len("permissions", &b.permissions)?;
    let id = RoleId::parse_field("id", &b.id)?;
    let name = DisplayName::parse_field("name", &b.name)?;
    let description = Description::parse_field("description", &b.description)?;
    let refs = b.permissions;
    let (r, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            let permissions = ops::resolve_permissions(d, Some(org), "permissions", &refs)?;
            ops::create_role(
                d,
                NewRole {
                    organization_id: org,
                    id: id.clone(),
                    name: name.clone(),
                    description: description.clone(),
                    permissions,
                },
            )
        })
        .await?;
    let m = s.engine.snapshot();
    Ok(object(
        StatusCode::CREATED,
        &RoleView::new(&r, &m),
        r.revision,
        Some(rev),
    ))
}

/// Read a role.
#[utoipa::path(
    get,
    path = "/v1/organizations/{id}/roles/{role_id}",
    operation_id = "get_role",
    tag = "roles",
    params(("id" = uuid::Uuid, Path, description = "The organization's id."), ("role_id" = String, Path, description = "The role's id, a slug (a built-in such as `admin`, or a custom role's).")),
    responses(
        (status = 200, body = RoleView, description = "The role."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId((org, role), _): PathId<(OrganizationId, String), Native>,
) -> Result<Response, ApiError> {
    let role = RoleId::parse_field("role_id", &role)?;
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let r = ops::get_role(&Draft::new(&m, &c), org, &role)?;
    Ok(object(
        StatusCode::OK,
        &RoleView::new(&r, &m),
        r.revision,
        None,
    ))
}

/// Update a custom role.
#[utoipa::path(
    patch,
    path = "/v1/organizations/{id}/roles/{role_id}",
    operation_id = "update_role",
    tag = "roles",
    params(("id" = uuid::Uuid, Path, description = "The organization's id."), ("role_id" = String, Path, description = "The role's id, a slug (a built-in such as `admin`, or a custom role's).")),
    request_body = UpdateRole,
    responses(
        (status = 200, body = RoleView, description = "The role."),
        (status = 403, body = Problem, description = "A built-in role (read-only), or a missing permission or the escalation guard."),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The change would leave an organization without an administrator (lockout guard)."),
        (status = 412, body = Problem),
    )
)]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId((org, role), _): PathId<(OrganizationId, String), Native>,
    headers: HeaderMap,
    Json(b, _): Json<UpdateRole, Native>,
) -> Result<Response, ApiError> {
    let role = RoleId::parse_field("role_id", &role)?;
    let pre = Precondition::if_match(if_match(&headers)?);
    if let Some(p) = &b.permissions {
        check_len("permissions", p)?;
    }
    let name = b
        .name
        .as_deref()
        .map(|x| DisplayName::parse_field("name", x))
        .transpose()?;
    let description = b
        .description
        .as_deref()
        .map(|x| Description::parse_field("description", x))
        .transpose()?;
    let refs = b.permissions;
    let (r, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            let permissions = refs
                .as_ref()
                .map(|r| ops::resolve_permissions(d, Some(org), "permissions", r))
                .transpose()?;
            ops::update_role(
                d,
                org,
                &role,
                RolePatch {
                    name: name.clone(),
                    description: description.clone(),
                    permissions,
                },
                pre,
            )
        })
        .await?;
    let m = s.engine.snapshot();
    Ok(object(
        StatusCode::OK,
        &RoleView::new(&r, &m),
        r.revision,
        Some(rev),
    ))
}

/// Delete a custom role no grant uses.
#[utoipa::path(
    delete,
    path = "/v1/organizations/{id}/roles/{role_id}",
    operation_id = "delete_role",
    tag = "roles",
    params(("id" = uuid::Uuid, Path, description = "The organization's id."), ("role_id" = String, Path, description = "The role's id, a slug (a built-in such as `admin`, or a custom role's).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, body = Problem, description = "A built-in role (read-only), or a missing permission."),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "A grant still uses the role."),
        (status = 412, body = Problem),
    )
)]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId((org, role), _): PathId<(OrganizationId, String), Native>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let role = RoleId::parse_field("role_id", &role)?;
    let pre = Precondition::if_match(if_match(&headers)?);
    let ((), rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::delete_role(d, org, &role, pre))
        .await?;
    Ok(no_content(rev))
}
