//! Authorization questions: `POST /v1/check`, `/v1/check/batch`,
//! `/v1/lookup/{accounts,users}` and effective permissions. Answered from
//! the published model (no database round trip), at a revision ≥
//! `min_revision` when one is given.

use super::views::ScopeView;
use super::Native;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::paging::{cursor, limit, page};
use crate::surface::write::with_revision;
use crate::surface::{parse_id, Caller, Json, Query};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use roster_authz::{self as authz, Decision, Moment, On};
use roster_domain::ops::{Asker, Question};
use roster_domain::{AccountId, DomainError, GrantTarget, OrganizationId, Revision, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Largest batch.
pub const MAX_BATCH: usize = 1000;

/// One check.
#[derive(Debug, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The user asked about.
    #[schema(value_type = uuid::Uuid)]
    pub user_id: String,
    /// A permission code (e.g. `invoices:approve`) or id.
    pub permission: String,
    /// The account asked about (or give `organization_id`).
    #[schema(value_type = Option<uuid::Uuid>)]
    pub account_id: Option<String>,
    /// The organization asked about (or give `account_id`).
    #[schema(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<String>,
    /// Answer at a revision at least this high (waits a bounded time, else 503).
    pub min_revision: Option<u64>,
    /// Include the grant, role and scope that allowed it, or why not.
    #[serde(default)]
    pub explain: bool,
}

/// Why a check was answered as it was.
#[derive(Debug, Serialize, ToSchema)]
pub struct Explanation {
    /// When allowed: the grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// When allowed through a role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    /// When allowed through a grant of a group the user is a member of: the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// When allowed: the grant's scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeView>,
    /// When denied: `unknown_user`, `user_inactive`, `unknown_account`, `account_disabled`, `no_grant`, or `expired` (only a grant or group membership that has expired would have allowed it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Answer of one check.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResponse {
    pub allowed: bool,
    /// The revision the answer reflects.
    pub revision: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// Body of `POST /v1/check/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// At most 1000 checks; `min_revision` of any applies to all.
    pub checks: Vec<CheckRequest>,
}

/// One result of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// Answer of a batch, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub results: Vec<BatchResult>,
    pub revision: u64,
}

/// The name of field `name` of check `at` of a batch (or of the single
/// check), built only when an error needs it.
fn field(at: Option<usize>, name: &str) -> String {
    match at {
        Some(i) => format!("checks[{i}].{name}"),
        None => name.to_owned(),
    }
}

/// Parses one check's ids and has the domain decide whether the caller may
/// ask it ([`Asker::check`]); errors name the field within the batch.
pub(super) fn question(
    asker: &Asker<'_>,
    r: &CheckRequest,
    at: Option<usize>,
) -> Result<Question, ApiError> {
    let user = r
        .user_id
        .parse::<UserId>()
        .map_err(|_| ApiError::bad_request(field(at, "user_id"), "not a UUID"))?;
    let on = target(&r.account_id, &r.organization_id, at)?;
    asker
        .check(user, &r.permission, on)
        .map_err(|e| in_batch(e, at))
}

/// Parses `account_id` / `organization_id` (exactly one).
fn target(
    account: &Option<String>,
    org: &Option<String>,
    at: Option<usize>,
) -> Result<On, ApiError> {
    match (account, org) {
        (Some(a), None) => a
            .parse::<AccountId>()
            .map(On::Account)
            .map_err(|_| ApiError::bad_request(field(at, "account_id"), "not a UUID")),
        (None, Some(o)) => o
            .parse::<OrganizationId>()
            .map(On::Organization)
            .map_err(|_| ApiError::bad_request(field(at, "organization_id"), "not a UUID")),
        _ => Err(ApiError::bad_request(
            field(at, "account_id"),
            "give exactly one of `account_id` and `organization_id`",
        )),
    }
}

/// A domain error about one check of a batch names the field within it.
fn in_batch(e: DomainError, at: Option<usize>) -> ApiError {
    match e {
        DomainError::Invalid { field: f, message } if at.is_some() => {
            ApiError::bad_request(field(at, &f), message)
        }
        e => e.into(),
    }
}

pub(super) fn explain(d: &Decision) -> Explanation {
    match d {
        Decision::Allowed(g) => Explanation {
            grant_id: Some(g.id().to_string()),
            role_id: g.role_id().map(ToString::to_string),
            group_id: g.group().map(|x| x.to_string()),
            scope: Some(ScopeView::from(&g.scope())),
            reason: None,
        },
        Decision::Denied(r) => Explanation {
            grant_id: None,
            role_id: None,
            group_id: None,
            scope: None,
            reason: Some(r.as_str().to_owned()),
        },
    }
}

/// The published model at `min` or later (see [`AppState::model_at`]). A
/// revision that no replica has committed yet is refused at once (400,
/// naming `min_revision`) rather than waited for and answered 503.
pub(super) async fn model_at(
    s: &AppState,
    min: Option<Revision>,
) -> Result<std::sync::Arc<roster_domain::Model>, ApiError> {
    if let Some(m) = min {
        if m > s.engine.revision() && m > s.store.current_revision().await? {
            return Err(ApiError::bad_request(
                "min_revision",
                format!("revision {m} has not been committed yet"),
            ));
        }
    }
    s.model_at(min).await
}

/// May user U do P on the target?
#[utoipa::path(
    post,
    path = "/v1/check",
    operation_id = "check",
    tag = "authz",
    request_body = CheckRequest,
    responses(
        (status = 200, body = CheckResponse, description = "The decision."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 503, body = Problem, description = "The revision asked for is committed but not yet reached; retry after `Retry-After`."),
    )
)]
pub async fn check(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Json(r, _): Json<CheckRequest, Native>,
) -> Result<Response, ApiError> {
    let m = model_at(&s, r.min_revision).await?;
    let asker = Asker::new(&m, &caller.actor);
    let q = question(&asker, &r, None)?;
    let d = authz::answer(&m, &q, Moment::now());
    s.metrics.decided("check", d.allowed());
    let body = CheckResponse {
        allowed: d.allowed(),
        revision: m.revision(),
        explanation: r.explain.then(|| explain(&d)),
    };
    Ok(with_revision(
        axum::Json(body).into_response(),
        m.revision(),
    ))
}

/// Many checks at one revision, answered in order.
#[utoipa::path(
    post,
    path = "/v1/check/batch",
    operation_id = "batch",
    tag = "authz",
    request_body = BatchRequest,
    responses(
        (status = 200, body = BatchResponse, description = "The decisions, in request order."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 503, body = Problem, description = "The revision asked for is committed but not yet reached; retry after `Retry-After`."),
    )
)]
pub async fn batch(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Json(b, _): Json<BatchRequest, Native>,
) -> Result<Response, ApiError> {
    if b.checks.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "checks",
            format!("at most {MAX_BATCH} checks per batch"),
        ));
    }
    let min = b.checks.iter().filter_map(|c| c.min_revision).max();
    let m = model_at(&s, min).await?;
    let asker = Asker::new(&m, &caller.actor);
    let mut results = Vec::with_capacity(b.checks.len());
    // One instant for the whole batch: its answers agree with each other.
    let now = Moment::now();
    for (i, c) in b.checks.iter().enumerate() {
        let q = question(&asker, c, Some(i))?;
        let d = authz::answer(&m, &q, now);
        s.metrics.decided("batch", d.allowed());
        results.push(BatchResult {
            allowed: d.allowed(),
            explanation: c.explain.then(|| explain(&d)),
        });
    }
    let body = BatchResponse {
        results,
        revision: m.revision(),
    };
    Ok(with_revision(
        axum::Json(body).into_response(),
        m.revision(),
    ))
}

/// Body of `POST /v1/lookup/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupAccounts {
    #[schema(value_type = uuid::Uuid)]
    pub user_id: String,
    pub permission: String,
    pub min_revision: Option<u64>,
    /// 1..1000, default 100.
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Body of `POST /v1/lookup/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupUsers {
    pub permission: String,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub account_id: Option<String>,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<String>,
    pub min_revision: Option<u64>,
    /// 1..1000, default 100.
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A page of ids at one revision.
#[derive(Debug, Serialize, ToSchema)]
pub struct LookupPage {
    pub items: Vec<String>,
    pub next_cursor: Option<String>,
    pub revision: u64,
}

/// Accounts where the user may do the permission (among those the caller may check).
#[utoipa::path(
    post,
    path = "/v1/lookup/accounts",
    operation_id = "lookup_accounts",
    tag = "authz",
    request_body = LookupAccounts,
    responses(
        (status = 200, body = LookupPage, description = "A page of account ids."),
        (status = 404, body = Problem),
        (status = 503, body = Problem, description = "The revision asked for is committed but not yet reached; retry after `Retry-After`."),
    )
)]
pub async fn lookup_accounts(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Json(b, _): Json<LookupAccounts, Native>,
) -> Result<Response, ApiError> {
    let limit = limit(b.limit)?;
    let after = cursor::<AccountId>(b.cursor.as_deref())?;
    let m = model_at(&s, b.min_revision).await?;
    let user = b
        .user_id
        .parse::<UserId>()
        .map_err(|_| ApiError::bad_request("user_id", "not a UUID"))?;
    let asker = Asker::new(&m, &caller.actor);
    let (user, permission) = asker.lookup_accounts(user, &b.permission)?;
    s.metrics.looked_up("accounts");
    let items = authz::lookup_accounts(&m, user, permission, after, Moment::now())
        .filter(|a| asker.may_ask_on_account(user, *a))
        .take(limit + 1);
    Ok(lookup_page(items, limit, m.revision()))
}

/// A page of ids at `revision` from up to `limit + 1` of them.
fn lookup_page<T: ToString>(
    items: impl Iterator<Item = T>,
    limit: usize,
    revision: Revision,
) -> Response {
    let p = page(items.collect(), limit, T::to_string, T::to_string);
    let body = LookupPage {
        items: p.items,
        next_cursor: p.next_cursor,
        revision,
    };
    with_revision(axum::Json(body).into_response(), revision)
}

/// Users who may do the permission on the account or organization.
#[utoipa::path(
    post,
    path = "/v1/lookup/users",
    operation_id = "lookup_users",
    tag = "authz",
    request_body = LookupUsers,
    responses(
        (status = 200, body = LookupPage, description = "A page of user ids."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 503, body = Problem, description = "The revision asked for is committed but not yet reached; retry after `Retry-After`."),
    )
)]
pub async fn lookup_users(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Json(b, _): Json<LookupUsers, Native>,
) -> Result<Response, ApiError> {
    let limit = limit(b.limit)?;
    let after = cursor::<UserId>(b.cursor.as_deref())?;
    let m = model_at(&s, b.min_revision).await?;
    let on = target(&b.account_id, &b.organization_id, None)?;
    let asker = Asker::new(&m, &caller.actor);
    let permission = asker.lookup_users(&b.permission, on)?;
    s.metrics.looked_up("users");
    let items = authz::lookup_users(&m, permission, on, after, Moment::now())
        .filter(|u| asker.sees_user(*u))
        .take(limit + 1);
    Ok(lookup_page(items, limit, m.revision()))
}

/// Query of effective permissions.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EffectiveQuery {
    /// The account asked about (or give `organization_id`).
    #[param(value_type = Option<uuid::Uuid>)]
    pub account_id: Option<String>,
    /// The organization asked about (or give `account_id`).
    #[param(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<String>,
    /// Answer at a revision at least this high.
    pub min_revision: Option<u64>,
}

/// One effective permission and the grant that gives it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectivePermission {
    pub permission: String,
    pub permission_id: String,
    pub grant_id: String,
    pub role_id: Option<String>,
    /// When the grant is a group's (the user is a member): the group.
    pub group_id: Option<String>,
    pub scope: ScopeView,
}

/// Everything a user may do on an account or organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectivePermissions {
    pub user_id: String,
    pub revision: u64,
    pub permissions: Vec<EffectivePermission>,
}

/// Every permission the user holds on the account (or organization).
#[utoipa::path(
    get,
    path = "/v1/users/{id}/effective-permissions",
    operation_id = "effective_permissions",
    tag = "authz",
    params(("id" = uuid::Uuid, Path, description = "The user's id."), EffectiveQuery),
    responses(
        (status = 200, body = EffectivePermissions, description = "The permissions and the grants that give them."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 503, body = Problem, description = "The revision asked for is committed but not yet reached; retry after `Retry-After`."),
    )
)]
pub async fn effective_permissions(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Path(user): Path<String>,
    Query(q, _): Query<EffectiveQuery, Native>,
) -> Result<Response, ApiError> {
    let user: UserId = parse_id("id", &user)?;
    let m = model_at(&s, q.min_revision).await?;
    let on = target(&q.account_id, &q.organization_id, None)?;
    let on = Asker::new(&m, &caller.actor).effective_permissions(user, on)?;
    s.metrics.looked_up("effective_permissions");
    let permissions = authz::effective_permissions(&m, user, on, Moment::now())
        .into_iter()
        .map(|(pid, g)| EffectivePermission {
            permission: m
                .permission(pid)
                .map(|x| x.code.to_string())
                .unwrap_or_default(),
            permission_id: pid.to_string(),
            grant_id: g.id.to_string(),
            role_id: match &g.target {
                GrantTarget::Role(k) => Some(k.id.to_string()),
                GrantTarget::Permission(_) => None,
            },
            group_id: g.holder.group().map(|x| x.to_string()),
            scope: ScopeView::from(&g.scope),
        })
        .collect();
    let body = EffectivePermissions {
        user_id: user.to_string(),
        revision: m.revision(),
        permissions,
    };
    Ok(with_revision(
        axum::Json(body).into_response(),
        m.revision(),
    ))
}
