//! `/v1/users/{id}/grants`.

use super::organizations::PageQuery;
use super::views::{GrantView, ScopeView};
use super::Native;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::paging::{page_by, Page};
use crate::surface::write::{ctx, no_content, object};
use crate::surface::{Caller, Json, PathId, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_domain::ops::{self, GrantSubject};
use roster_domain::{Draft, GrantId, PermissionId, RoleId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;

/// Body of `POST /v1/users/{id}/grants`: exactly one of `role_id` and `permission_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    pub role_id: Option<String>,
    /// A permission id (UUID) or code.
    pub permission_id: Option<String>,
    pub scope: ScopeView,
}

/// List a user's grants visible to the caller, by id.
#[utoipa::path(
    get,
    path = "/v1/users/{id}/grants",
    operation_id = "list_grants",
    tag = "grants",
    params(("id" = uuid::Uuid, Path, description = "The user's id."), PageQuery),
    responses(
        (status = 200, body = Page<GrantView>, description = "A page of grants."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(user, _): PathId<UserId, Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<GrantView>>, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let grants = ops::list_grants(&Draft::new(&m, &c), user)?;
    Ok(axum::Json(page_by(
        grants,
        q.limit,
        q.cursor.as_deref(),
        |g| g.id,
        |g| GrantView::new(g, &m),
    )?))
}

/// Grant a role or a permission at a scope (escalation, self and tenant guards apply).
#[utoipa::path(
    post,
    path = "/v1/users/{id}/grants",
    operation_id = "create_grant",
    tag = "grants",
    params(("id" = uuid::Uuid, Path, description = "The user's id.")),
    request_body = CreateGrant,
    responses(
        (status = 201, body = GrantView, description = "The grant."),
        (status = 200, description = "An identical grant exists.", body = GrantView),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(user, _): PathId<UserId, Native>,
    Json(b, _): Json<CreateGrant, Native>,
) -> Result<Response, ApiError> {
    let scope = b.scope.parse()?;
    enum Subject {
        Role(RoleId),
        Permission(String),
    }
    let subject = match (b.role_id, b.permission_id) {
        (Some(r), None) => Subject::Role(RoleId::parse_field("role_id", &r)?),
        (None, Some(p)) => Subject::Permission(p),
        _ => {
            return Err(ApiError::bad_request(
                "role_id",
                "give exactly one of `role_id` and `permission_id`",
            ))
        }
    };
    let (out, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            let subject = match &subject {
                Subject::Role(r) => GrantSubject::Role(r.clone()),
                Subject::Permission(p) => {
                    let org = d.model().user(user).map(|u| u.organization_id);
                    let id = match p.parse::<PermissionId>() {
                        Ok(id) => id,
                        Err(_) => d.model().permission_by_code(org, p).ok_or_else(|| {
                            roster_domain::DomainError::invalid(
                                "permission_id",
                                format!("unknown permission `{}`", roster_domain::truncate(p)),
                            )
                        })?,
                    };
                    GrantSubject::Permission(id)
                }
            };
            ops::create_grant(d, user, subject, scope)
        })
        .await?;
    let (g, created) = out;
    let m = s.engine.snapshot();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(object(
        status,
        &GrantView::new(&g, &m),
        g.revision,
        Some(rev),
    ))
}

/// Remove a grant (escalation, self and lockout guards apply).
#[utoipa::path(
    delete,
    path = "/v1/users/{id}/grants/{grant_id}",
    operation_id = "delete_grant",
    tag = "grants",
    params(("id" = uuid::Uuid, Path, description = "The user's id."), ("grant_id" = uuid::Uuid, Path, description = "The grant's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The deletion would leave an organization without an administrator (lockout guard)."),
    )
)]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId((user, grant), _): PathId<(UserId, GrantId), Native>,
) -> Result<Response, ApiError> {
    let ((), rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::delete_grant(d, user, grant))
        .await?;
    Ok(no_content(rev))
}
