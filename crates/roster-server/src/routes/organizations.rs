//! `/v1/organizations`.

use super::views::OrganizationView;
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
use roster_domain::ops::{self, NewOrganization, OrganizationPatch, Precondition};
use roster_domain::{DisplayName, Draft, OrganizationId, Slug};
use serde::Deserialize;
use utoipa::ToSchema;

/// Body of `POST /v1/organizations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    /// 1..200 characters.
    pub name: String,
    /// Unique; derived from the name when absent.
    pub slug: Option<String>,
}

/// Body of `PATCH /v1/organizations/{id}`: absent fields are left alone;
/// the read-only fields (`id`, `revision`, timestamps) are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub slug: Option<String>,
    // Read-only fields of `OrganizationView`, ignored.
    #[serde(default, rename = "id")]
    #[schema(ignore)]
    pub ro_id: ReadOnly,
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

/// Query of list endpoints with only paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1..1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Create an organization (requires `organizations:write` at `global`).
#[utoipa::path(
    post,
    path = "/v1/organizations",
    operation_id = "create_organization",
    tag = "organizations",
    request_body = CreateOrganization,
    responses(
        (status = 201, body = OrganizationView, description = "The organization."),
        (status = 403, body = Problem),
        (status = 409, body = Problem, description = "The slug is taken."),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Json(b, _): Json<CreateOrganization, Native>,
) -> Result<Response, ApiError> {
    let new = NewOrganization {
        id: None,
        name: DisplayName::parse_field("name", &b.name)?,
        slug: b
            .slug
            .as_deref()
            .map(|x| Slug::parse_field("slug", x))
            .transpose()?,
    };
    let (org, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::create_organization(d, new.clone())
        })
        .await?;
    Ok(object(
        StatusCode::CREATED,
        &OrganizationView::from(&*org),
        org.revision,
        Some(rev),
    ))
}

/// List the organizations the caller can reach.
#[utoipa::path(
    get,
    path = "/v1/organizations",
    operation_id = "list_organizations",
    tag = "organizations",
    params(PageQuery),
    responses(
        (status = 200, body = Page<OrganizationView>, description = "A page of organizations."),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<OrganizationView>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = cursor::<OrganizationId>(q.cursor.as_deref())?;
    let m = s.engine.snapshot();
    let items = ops::list_organizations(&Draft::new(&m, &ctx(&caller)), after, limit + 1);
    Ok(axum::Json(page(
        items,
        limit,
        |o| o.id.to_string(),
        |o| OrganizationView::from(&**o),
    )))
}

/// Read an organization.
#[utoipa::path(
    get,
    path = "/v1/organizations/{id}",
    operation_id = "get_organization",
    tag = "organizations",
    params(("id" = uuid::Uuid, Path, description = "The organization's id.")),
    responses(
        (status = 200, body = OrganizationView, description = "The organization."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<OrganizationId, Native>,
) -> Result<Response, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let org = ops::get_organization(&Draft::new(&m, &c), id)?;
    Ok(object(
        StatusCode::OK,
        &OrganizationView::from(&*org),
        org.revision,
        None,
    ))
}

/// Update an organization (partial; `If-Match` honoured).
#[utoipa::path(
    patch,
    path = "/v1/organizations/{id}",
    operation_id = "update_organization",
    tag = "organizations",
    params(("id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = UpdateOrganization,
    responses(
        (status = 200, body = OrganizationView, description = "The organization."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The slug is taken."),
        (status = 412, body = Problem),
    )
)]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<OrganizationId, Native>,
    headers: HeaderMap,
    Json(b, _): Json<UpdateOrganization, Native>,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let patch = OrganizationPatch {
        name: b
            .name
            .as_deref()
            .map(|x| DisplayName::parse_field("name", x))
            .transpose()?,
        slug: b
            .slug
            .as_deref()
            .map(|x| Slug::parse_field("slug", x))
            .transpose()?,
    };
    let (org, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::update_organization(d, id, patch.clone(), pre)
        })
        .await?;
    Ok(object(
        StatusCode::OK,
        &OrganizationView::from(&*org),
        org.revision,
        Some(rev),
    ))
}

/// Delete an empty organization.
#[utoipa::path(
    delete,
    path = "/v1/organizations/{id}",
    operation_id = "delete_organization",
    tag = "organizations",
    params(("id" = uuid::Uuid, Path, description = "The organization's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The organization still has accounts or users."),
        (status = 412, body = Problem),
    )
)]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<OrganizationId, Native>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let ((), rev) = s
        .writer
        .write(ctx(&caller), move |d| ops::delete_organization(d, id, pre))
        .await?;
    Ok(no_content(rev))
}
