//! Authorization questions: `POST /v1/check`, `/v1/check/batch`,
//! `/v1/lookup/{accounts,users}` and effective permissions. Answered from
//! the published model (no database round trip), at a revision ≥
//! `min_revision` when one is given.

use super::views::ScopeView;
use super::{cursor, limit};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use roster_authz::{self as authz, Decision, On};
use roster_domain::catalogue::perms;
use roster_domain::{
    rules, AccountId, DomainError, GrantTarget, Model, OrganizationId, PermissionId, Revision,
    Scope, UserId,
};
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
    /// When allowed: the grant's scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeView>,
    /// When denied: `unknown_user`, `user_inactive`, `unknown_account`, `account_disabled` or `no_grant`.
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

struct Parsed {
    user: UserId,
    permission: PermissionId,
    on: On,
    explain: bool,
}

/// The name of field `name` of check `at` of a batch (or of the single
/// check), built only when an error needs it.
fn field(at: Option<usize>, name: &str) -> String {
    match at {
        Some(i) => format!("checks[{i}].{name}"),
        None => name.to_owned(),
    }
}

/// Parses and authorizes one check: the caller must hold `authz:check` over
/// the target, or ask about itself. Unreachable targets are 404.
fn parse(
    m: &Model,
    caller: UserId,
    r: &CheckRequest,
    at: Option<usize>,
) -> Result<Parsed, ApiError> {
    let user = r
        .user_id
        .parse::<UserId>()
        .map_err(|_| ApiError::bad_request(field(at, "user_id"), "not a UUID"))?;
    let (on, org, scope) = match (&r.account_id, &r.organization_id) {
        (Some(a), None) => {
            let a = a
                .parse::<AccountId>()
                .map_err(|_| ApiError::bad_request(field(at, "account_id"), "not a UUID"))?;
            let org = m
                .account_org(a)
                .ok_or_else(|| DomainError::not_found("account", a))?;
            (On::Account(a), org, Scope::Account(a))
        }
        (None, Some(o)) => {
            let o = o
                .parse::<OrganizationId>()
                .map_err(|_| ApiError::bad_request(field(at, "organization_id"), "not a UUID"))?;
            if m.organization(o).is_none() {
                return Err(DomainError::not_found("organization", o).into());
            }
            (On::Organization(o), o, Scope::Organization(o))
        }
        _ => {
            return Err(ApiError::bad_request(
                field(at, "account_id"),
                "give exactly one of `account_id` and `organization_id`",
            ))
        }
    };
    rules::reach(m, Some(caller), org, ("target", org.to_string()))?;
    if user != caller && !m.holds_over(caller, perms::authz_check(), &scope) {
        return Err(DomainError::forbidden(
            "requires `authz:check` over the target, or asking about yourself",
        )
        .into());
    }
    let permission = match r.permission.parse::<PermissionId>() {
        // Another organization's custom permission is unknown here (tenant isolation).
        Ok(id)
            if m.permission(id)
                .is_some_and(|q| q.organization_id.is_none_or(|o| o == org)) =>
        {
            id
        }
        _ => m
            .permission_by_code(Some(org), &r.permission)
            .ok_or_else(|| {
                ApiError::bad_request(
                    field(at, "permission"),
                    format!(
                        "unknown permission `{}`",
                        roster_domain::truncate(&r.permission)
                    ),
                )
            })?,
    };
    Ok(Parsed {
        user,
        permission,
        on,
        explain: r.explain,
    })
}

fn explain(m: &Model, d: &Decision) -> Explanation {
    match d {
        Decision::Allowed(g) => Explanation {
            grant_id: Some(g.id().to_string()),
            role_id: g.role_id().map(ToString::to_string),
            scope: Some(ScopeView::from(&g.scope())),
            reason: None,
        },
        Decision::Denied(r) => {
            let _ = m;
            Explanation {
                grant_id: None,
                role_id: None,
                scope: None,
                reason: Some(r.as_str().to_owned()),
            }
        }
    }
}

fn with_revision(mut resp: Response, rev: Revision) -> Response {
    resp.headers_mut()
        .insert(super::REVISION_HEADER, HeaderValue::from(rev));
    resp
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
    caller: Caller,
    Json(r): Json<CheckRequest>,
) -> Result<Response, ApiError> {
    let m = super::model_at(&s, r.min_revision).await?;
    let p = parse(&m, caller.user_id, &r, None)?;
    let d = authz::check(&m, p.user, p.permission, p.on);
    let body = CheckResponse {
        allowed: d.allowed(),
        revision: m.revision(),
        explanation: p.explain.then(|| explain(&m, &d)),
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
    caller: Caller,
    Json(b): Json<BatchRequest>,
) -> Result<Response, ApiError> {
    if b.checks.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "checks",
            format!("at most {MAX_BATCH} checks per batch"),
        ));
    }
    let min = b.checks.iter().filter_map(|c| c.min_revision).max();
    let m = super::model_at(&s, min).await?;
    let mut results = Vec::with_capacity(b.checks.len());
    for (i, c) in b.checks.iter().enumerate() {
        let p = parse(&m, caller.user_id, c, Some(i))?;
        let d = authz::check(&m, p.user, p.permission, p.on);
        results.push(BatchResult {
            allowed: d.allowed(),
            explanation: p.explain.then(|| explain(&m, &d)),
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
    caller: Caller,
    Json(b): Json<LookupAccounts>,
) -> Result<Response, ApiError> {
    let limit = limit(b.limit)?;
    let after = cursor::<AccountId>(b.cursor.as_deref())?;
    let m = super::model_at(&s, b.min_revision).await?;
    let user = b
        .user_id
        .parse::<UserId>()
        .map_err(|_| ApiError::bad_request("user_id", "not a UUID"))?;
    let home = m
        .user(user)
        .map(|u| u.organization_id)
        .ok_or_else(|| DomainError::not_found("user", user))?;
    rules::reach(&m, Some(caller.user_id), home, ("user", user.to_string()))?;
    let permission = m
        .permission_by_code(Some(home), &b.permission)
        .or_else(|| {
            b.permission.parse::<PermissionId>().ok().filter(|p| {
                m.permission(*p)
                    .is_some_and(|q| q.organization_id.is_none_or(|o| o == home))
            })
        })
        .ok_or_else(|| ApiError::bad_request("permission", "unknown permission"))?;
    let mut items: Vec<AccountId> = authz::lookup_accounts(&m, user, permission, after)
        .filter(|a| {
            user == caller.user_id
                || m.holds_over(caller.user_id, perms::authz_check(), &Scope::Account(*a))
        })
        .take(limit + 1)
        .collect();
    let more = items.len() > limit;
    items.truncate(limit);
    let body = LookupPage {
        next_cursor: if more {
            items.last().map(|a| a.to_string())
        } else {
            None
        },
        items: items.iter().map(|a| a.to_string()).collect(),
        revision: m.revision(),
    };
    Ok(with_revision(
        axum::Json(body).into_response(),
        m.revision(),
    ))
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
    caller: Caller,
    Json(b): Json<LookupUsers>,
) -> Result<Response, ApiError> {
    let limit = limit(b.limit)?;
    let after = cursor::<UserId>(b.cursor.as_deref())?;
    let m = super::model_at(&s, b.min_revision).await?;
    let probe = CheckRequest {
        user_id: caller.user_id.to_string(),
        permission: b.permission.clone(),
        account_id: b.account_id.clone(),
        organization_id: b.organization_id.clone(),
        min_revision: None,
        explain: false,
    };
    let p = parse(&m, caller.user_id, &probe, None)?;
    let scope = match p.on {
        On::Account(a) => Scope::Account(a),
        On::Organization(o) => Scope::Organization(o),
    };
    if !m.holds_over(caller.user_id, perms::authz_check(), &scope) {
        return Err(DomainError::forbidden("requires `authz:check` over the target").into());
    }
    let mut items: Vec<UserId> = authz::lookup_users(&m, p.permission, p.on, after)
        .take(limit + 1)
        .collect();
    let more = items.len() > limit;
    items.truncate(limit);
    let body = LookupPage {
        next_cursor: if more {
            items.last().map(|u| u.to_string())
        } else {
            None
        },
        items: items.iter().map(|u| u.to_string()).collect(),
        revision: m.revision(),
    };
    Ok(with_revision(
        axum::Json(body).into_response(),
        m.revision(),
    ))
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
    caller: Caller,
    Path(user): Path<String>,
    Query(q): Query<EffectiveQuery>,
) -> Result<Response, ApiError> {
    let user: UserId = path_id("id", &user)?;
    let m = super::model_at(&s, q.min_revision).await?;
    let probe = CheckRequest {
        user_id: user.to_string(),
        permission: "authz:check".to_owned(),
        account_id: q.account_id,
        organization_id: q.organization_id,
        min_revision: None,
        explain: false,
    };
    let p = parse(&m, caller.user_id, &probe, None)?;
    let permissions = authz::effective_permissions(&m, user, p.on)
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
