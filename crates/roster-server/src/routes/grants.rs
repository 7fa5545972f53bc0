//! `/v1/users/{id}/grants`, and the handlers `/v1/groups/{id}/grants` shares.

use super::organizations::PageQuery;
use super::views::{GrantView, ScopeView};
use super::Native;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::fields::{double_option, non_null, parse_ts};
use crate::surface::paging::{page_by, Page};
use crate::surface::write::{ctx, if_match, no_content, object};
use crate::surface::{Caller, Json, PathId, Query};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_domain::ops::{self, GrantSubject, NewGrant, Precondition};
use roster_domain::{DomainError, Draft, GrantHolder, GrantId, PermissionId, RoleId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;

/// Body of `POST /v1/users/{id}/grants` and `POST /v1/groups/{id}/grants`:
/// exactly one of `role_id` and `permission_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    pub role_id: Option<String>,
    /// A permission id (UUID) or code.
    pub permission_id: Option<String>,
    pub scope: ScopeView,
    /// When the grant stops counting (RFC 3339, in the future); absent: never.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub expires_at: Option<String>,
}

/// Body of `PATCH /v1/users/{id}/grants/{grant_id}` and the group's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGrant {
    /// A new expiry (RFC 3339, in the future), or `null` for none; absent:
    /// unchanged.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(nullable)]
    pub expires_at: Option<Option<String>>,
}

/// A grant's subject as the client named it (a permission by code is
/// resolved in the holder's organization, inside the write).
enum Subject {
    Role(RoleId),
    Permission(String),
}

impl Subject {
    fn parse(b: &CreateGrant) -> Result<Self, ApiError> {
        match (&b.role_id, &b.permission_id) {
            (Some(r), None) => Ok(Self::Role(RoleId::parse_field("role_id", r)?)),
            (None, Some(p)) => Ok(Self::Permission(p.clone())),
            _ => Err(ApiError::bad_request(
                "role_id",
                "give exactly one of `role_id` and `permission_id`",
            )),
        }
    }

    fn resolve(&self, d: &Draft<'_>, holder: GrantHolder) -> Result<GrantSubject, DomainError> {
        match self {
            Self::Role(r) => Ok(GrantSubject::Role(r.clone())),
            Self::Permission(p) => {
                // The holder first: one out of reach is the same `404` as
                // one that does not exist, whatever codes its organization has.
                let org = ops::holder_org(d, holder)?;
                let m = d.model();
                let id = match p.parse::<PermissionId>() {
                    Ok(id) => id,
                    Err(_) => m.permission_by_code(Some(org), p).ok_or_else(|| {
                        DomainError::invalid(
                            "permission_id",
                            format!("unknown permission `{}`", roster_domain::truncate(p)),
                        )
                    })?,
                };
                Ok(GrantSubject::Permission(id))
            }
        }
    }
}

/// A page of the grants of `holder` visible to the caller.
pub(crate) fn list_of(
    s: &AppState,
    caller: &Caller<Native>,
    holder: GrantHolder,
    q: &PageQuery,
) -> Result<axum::Json<Page<GrantView>>, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(caller);
    let grants = ops::list_grants(&Draft::new(&m, &c), holder)?;
    Ok(axum::Json(page_by(
        grants,
        q.limit,
        q.cursor.as_deref(),
        |g| g.id,
        |g| GrantView::new(g, &m),
    )?))
}

/// Gives `holder` what `b` names: `201`, or `200` with the identical grant
/// it holds already.
pub(crate) async fn create_for(
    s: &AppState,
    caller: &Caller<Native>,
    holder: GrantHolder,
    b: CreateGrant,
) -> Result<Response, ApiError> {
    let scope = b.scope.parse()?;
    let subject = Subject::parse(&b)?;
    let expires_at = b
        .expires_at
        .as_deref()
        .map(|t| parse_ts("expires_at", t))
        .transpose()?;
    let (out, rev) = s
        .writer
        .write(ctx(caller), move |d| {
            let subject = subject.resolve(d, holder)?;
            ops::create_grant(
                d,
                holder,
                NewGrant {
                    subject,
                    scope,
                    expires_at,
                },
            )
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

/// Changes the expiry of a grant of `holder`.
pub(crate) async fn update_for(
    s: &AppState,
    caller: &Caller<Native>,
    holder: GrantHolder,
    grant: GrantId,
    headers: &HeaderMap,
    b: UpdateGrant,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(headers)?);
    let change = match b.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(parse_ts("expires_at", &t)?)),
    };
    let (g, rev) = s
        .writer
        .write(ctx(caller), move |d| match change {
            Some(expires_at) => ops::update_grant(d, holder, grant, expires_at, pre),
            None => {
                let g = d
                    .model()
                    .grant(holder, grant)
                    .filter(|_| ops::holder_org(d, holder).is_ok())
                    .ok_or_else(|| DomainError::not_found("grant", grant))?;
                pre.check(g.revision)?;
                Ok(g)
            }
        })
        .await?;
    let m = s.engine.snapshot();
    Ok(object(
        StatusCode::OK,
        &GrantView::new(&g, &m),
        g.revision,
        Some(rev),
    ))
}

/// Removes a grant of `holder`.
pub(crate) async fn delete_for(
    s: &AppState,
    caller: &Caller<Native>,
    holder: GrantHolder,
    grant: GrantId,
) -> Result<Response, ApiError> {
    let ((), rev) = s
        .writer
        .write(ctx(caller), move |d| ops::delete_grant(d, holder, grant))
        .await?;
    Ok(no_content(rev))
}

/// List a user's own grants visible to the caller, by id (its groups'
/// grants are listed under each group).
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
    list_of(&s, &caller, user.into(), &q)
}

/// Grant a role or a permission at a scope, optionally until `expires_at`
/// (escalation, self and tenant guards apply).
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
    create_for(&s, &caller, user.into(), b).await
}

/// Set or clear a grant's expiry (escalation, self and lockout guards apply).
#[utoipa::path(
    patch,
    path = "/v1/users/{id}/grants/{grant_id}",
    operation_id = "update_grant",
    tag = "grants",
    params(
        ("id" = uuid::Uuid, Path, description = "The user's id."),
        ("grant_id" = uuid::Uuid, Path, description = "The grant's id."),
        ("If-Match" = Option<String>, Header, description = "The grant's revision, as its ETag."),
    ),
    request_body = UpdateGrant,
    responses(
        (status = 200, body = GrantView, description = "The grant."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "An expiry would leave an organization without a permanent administrator (lockout guard)."),
        (status = 412, body = Problem),
    )
)]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId((user, grant), _): PathId<(UserId, GrantId), Native>,
    headers: HeaderMap,
    Json(b, _): Json<UpdateGrant, Native>,
) -> Result<Response, ApiError> {
    update_for(&s, &caller, user.into(), grant, &headers, b).await
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
    delete_for(&s, &caller, user.into(), grant).await
}
