//! The Lexful dialect: `PATCH /v1/users/{id}` below `/compat/lexful`, with
//! `Authorization: Bearer <secret>` and `X-Account-ID` naming the account the
//! caller acts in. Updates the user's profile and, when `role` and/or the
//! scope lists are present, makes the user's grants in that account's
//! organization exactly *role at each listed scope*
//! (`ops::replace_org_grants`). Answers `CreateUserResponse`; errors are
//! Lexful's `ErrorResponse`. A translator only: the escalation, self and
//! lockout guards run inside the domain operations.
//!
//! Scope mapping (see `docs/dialects/lexful.md`): an account UUID in
//! `account_scopes` → `account(a)`, `"*"` there → `accounts(O)`; the
//! organization's UUID in `organization_scopes` → `organization(O)`, `"*"`
//! there → `global` (which only global operators may hand out).

use crate::auth::{authenticate, scheme_token, Caller};
use crate::error::ApiError;
use crate::extract::json_object;
use crate::request::RequestInfo;
use crate::routes::{ctx, double_option, views::ts, REVISION_HEADER};
use crate::state::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::patch;
use axum::Router;
use roster_domain::ops::{self, UserPatch};
use roster_domain::{
    AccountId, DomainError, Draft, Email, GrantTarget, Model, OrganizationId, PersonName, RoleId,
    RoleKey, Scope, User, UserId,
};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The endpoint, below the dialect's base URL.
pub const PATH: &str = "/v1/users/{id}";

/// The header naming the account the caller acts in.
pub const ACCOUNT_HEADER: &str = "x-account-id";

/// Lexful's roles, each a built-in Roster role of the same id, from the most
/// to the least privileged.
pub const ROLES: [&str; 6] = [
    "system_admin",
    "admin",
    "system_support",
    "support",
    "viewer",
    "organization_viewer",
];

/// The role reported for a user who holds no role in the organization (with
/// empty scope lists it grants nothing).
const NO_ROLE: &str = "organization_viewer";

/// Most entries in each scope list.
pub const MAX_SCOPES: usize = 256;

/// Routes below `/compat/lexful`. Unknown paths and methods are answered in
/// Lexful's error shape too.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(PATH, patch(update_user).fallback(method_not_allowed))
        .fallback(no_route)
}

// ----- wire types -------------------------------------------------------------

/// Deserializes a present, non-null value (`null` is a type error).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `patch_v1_users__id__request_application_json`. Unknown fields are
/// rejected (SPEC §2.6; the document declares no leniency).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUserIn {
    #[serde(default, deserialize_with = "present")]
    email: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    role: Option<String>,
    #[serde(default, deserialize_with = "present")]
    account_scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    organization_scopes: Option<Vec<String>>,
}

/// `CreateUserResponse_application_json`.
#[derive(Debug, Clone, Serialize)]
pub struct UserOut {
    id: String,
    account_id: String,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    role: &'static str,
    external_ids: BTreeMap<String, String>,
    account_scopes: Vec<String>,
    organization_scopes: Vec<String>,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_by: Option<String>,
    deleted_at: Option<String>,
}

/// Lexful's `ErrorResponse`.
#[derive(Debug, Serialize)]
struct ErrorResponse {
    status: u16,
    message: String,
    error_id: String,
    error_code: &'static str,
    developer_message: String,
}

// ----- errors -----------------------------------------------------------------

/// An [`ApiError`] rendered as Lexful's `ErrorResponse`.
#[derive(Debug)]
pub struct LexfulError(pub ApiError);

impl<E: Into<ApiError>> From<E> for LexfulError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for LexfulError {
    fn into_response(self) -> Response {
        let e = self.0;
        let info = RequestInfo::current();
        e.log(&info);
        let status = e.status();
        let message = match &e {
            ApiError::Internal(_) => e.public_message(),
            other => other.to_string(),
        };
        let developer_message = match (&e, e.field()) {
            (ApiError::Internal(_), _) => {
                format!("see error_id `{}` in the server log", info.request_id)
            }
            (_, Some(f)) => format!("{} (field `{f}`, {})", e.public_message(), info.path),
            (_, None) => format!("{} ({})", e.public_message(), info.path),
        };
        let body = ErrorResponse {
            status: status.as_u16(),
            message,
            error_id: info.request_id,
            error_code: e.code(),
            developer_message,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        e.add_headers(&mut resp, Some("Bearer"));
        resp
    }
}

async fn no_route(uri: axum::http::Uri) -> LexfulError {
    LexfulError(ApiError::NoRoute(roster_domain::truncate(uri.path())))
}

async fn method_not_allowed() -> Response {
    let mut resp = LexfulError(ApiError::MethodNotAllowed).into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("PATCH"));
    resp
}

// ----- request translation ----------------------------------------------------

/// One entry of a scope list: a UUID or the wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Id(uuid::Uuid),
    Any,
}

fn parse_entries(field: &str, raw: Vec<String>) -> Result<Vec<Entry>, DomainError> {
    if raw.len() > MAX_SCOPES {
        return Err(DomainError::invalid(
            field,
            format!("must have at most {MAX_SCOPES} entries"),
        ));
    }
    raw.iter()
        .enumerate()
        .map(|(i, s)| {
            if s == "*" {
                Ok(Entry::Any)
            } else {
                uuid::Uuid::parse_str(s).map(Entry::Id).map_err(|_| {
                    DomainError::invalid(
                        format!("{field}[{i}]"),
                        format!("`{}` is neither a UUID nor `*`", roster_domain::truncate(s)),
                    )
                })
            }
        })
        .collect()
}

/// A parsed, validated request.
#[derive(Debug, Clone)]
struct Parsed {
    patch: UserPatch,
    role: Option<RoleId>,
    account_scopes: Option<Vec<Entry>>,
    organization_scopes: Option<Vec<Entry>>,
}

impl Parsed {
    fn parse(b: UpdateUserIn) -> Result<Self, DomainError> {
        let name = |field: &str,
                    v: Option<Option<String>>|
         -> Result<Option<Option<PersonName>>, DomainError> {
            v.map(|v| {
                v.as_deref()
                    .map(|s| PersonName::parse_field(field, s))
                    .transpose()
            })
            .transpose()
        };
        let role = b
            .role
            .map(|r| {
                if ROLES.contains(&r.as_str()) {
                    RoleId::parse_field("role", &r)
                } else {
                    Err(DomainError::invalid(
                        "role",
                        format!(
                            "`{}` is not one of `{}`",
                            roster_domain::truncate(&r),
                            ROLES.join("`, `")
                        ),
                    ))
                }
            })
            .transpose()?;
        Ok(Self {
            patch: UserPatch {
                email: b
                    .email
                    .as_deref()
                    .map(|e| Email::parse_field("email", e))
                    .transpose()?,
                first_name: name("first_name", b.first_name)?,
                last_name: name("last_name", b.last_name)?,
                ..UserPatch::default()
            },
            role,
            account_scopes: b
                .account_scopes
                .map(|v| parse_entries("account_scopes", v))
                .transpose()?,
            organization_scopes: b
                .organization_scopes
                .map(|v| parse_entries("organization_scopes", v))
                .transpose()?,
        })
    }

    fn changes_grants(&self) -> bool {
        self.role.is_some() || self.account_scopes.is_some() || self.organization_scopes.is_some()
    }
}

/// The Lexful role a Roster role reads as: itself when it is one of the six,
/// else the most privileged of the six whose permissions it contains.
fn lexful_role(model: &Model, key: &RoleKey) -> Option<&'static str> {
    if key.organization_id.is_none() {
        if let Some(r) = ROLES.iter().find(|r| **r == key.id.as_str()) {
            return Some(r);
        }
    }
    let perms = &model.role(key)?.permissions;
    ROLES.iter().copied().find(|r| {
        RoleId::parse(r)
            .ok()
            .and_then(|id| model.resolve_role(None, &id))
            .is_some_and(|lr| lr.permissions.is_subset(perms))
    })
}

/// How a user's grants in one organization read in Lexful's terms: one role
/// (the most privileged one it holds there) and the scopes it holds it at.
#[derive(Debug, Clone, Default)]
struct View {
    /// The Lexful name and the Roster role behind it.
    role: Option<(&'static str, RoleId)>,
    scopes: BTreeSet<Scope>,
}

fn view(model: &Model, user: UserId, org: OrganizationId) -> View {
    let rank = |name: &str| ROLES.iter().position(|r| *r == name).unwrap_or(ROLES.len());
    let held: Vec<(&'static str, RoleKey, Scope)> = model
        .grants_of(user)
        .filter(|g| {
            g.scope == Scope::Global || g.scope.organization(|a| model.account_org(a)) == Some(org)
        })
        .filter_map(|g| match g.target {
            GrantTarget::Role(k) => lexful_role(model, &k).map(|n| (n, k, g.scope)),
            GrantTarget::Permission(_) => None,
        })
        .collect();
    let Some(best) = held.iter().map(|(n, _, _)| *n).min_by_key(|n| rank(n)) else {
        return View::default();
    };
    let role = held
        .iter()
        .filter(|(n, _, _)| *n == best)
        .map(|(_, k, _)| k.id.clone())
        .min();
    View {
        role: role.map(|r| (best, r)),
        scopes: held
            .iter()
            .filter(|(n, _, _)| *n == best)
            .map(|(_, _, s)| *s)
            .collect(),
    }
}

/// Translates the scope lists into scopes of `org`. Ids outside the
/// organization are not found (tenant isolation; only `"*"` reaches beyond).
fn scopes(
    model: &Model,
    org: OrganizationId,
    account_scopes: &[Entry],
    organization_scopes: &[Entry],
) -> Result<Vec<Scope>, DomainError> {
    let mut out = Vec::new();
    for e in account_scopes {
        out.push(match *e {
            Entry::Any => Scope::Accounts(org),
            Entry::Id(a) => {
                let a = AccountId(a);
                if model.account_org(a) != Some(org) {
                    return Err(DomainError::not_found("account", a));
                }
                Scope::Account(a)
            }
        });
    }
    for e in organization_scopes {
        out.push(match *e {
            Entry::Any => Scope::Global,
            Entry::Id(o) if OrganizationId(o) == org => Scope::Organization(org),
            Entry::Id(o) => return Err(DomainError::not_found("organization", o)),
        });
    }
    let mut seen = BTreeSet::new();
    out.retain(|s| seen.insert(*s));
    Ok(out)
}

/// Renders the response from the model after the write.
fn render(
    model: &Model,
    u: &User,
    account: AccountId,
    org: OrganizationId,
    requested: Option<&RoleId>,
) -> UserOut {
    let v = view(model, u.id, org);
    let role = match (&v.role, requested) {
        (Some((name, _)), _) => *name,
        (None, Some(r)) => ROLES
            .iter()
            .copied()
            .find(|x| *x == r.as_str())
            .unwrap_or(NO_ROLE),
        (None, None) => NO_ROLE,
    };
    let mut account_scopes = Vec::new();
    let mut organization_scopes = Vec::new();
    for s in &v.scopes {
        match s {
            Scope::Global => organization_scopes.insert(0, "*".to_owned()),
            Scope::Organization(o) => organization_scopes.push(o.to_string()),
            Scope::Accounts(_) => account_scopes.insert(0, "*".to_owned()),
            Scope::Account(a) => account_scopes.push(a.to_string()),
        }
    }
    UserOut {
        id: u.id.to_string(),
        account_id: account.to_string(),
        email: u.email.to_string(),
        first_name: u.first_name.as_ref().map(ToString::to_string),
        last_name: u.last_name.as_ref().map(ToString::to_string),
        role,
        external_ids: u.external_ids.clone(),
        account_scopes,
        organization_scopes,
        created_at: ts(u.created_at),
        updated_at: ts(u.updated_at),
        created_by: u.created_by.map(|x| x.to_string()),
        updated_by: u.updated_by.map(|x| x.to_string()),
        deleted_at: u.deleted_at.map(ts),
    }
}

/// What a request's role and scope lists mean for `user` in `org`, read
/// against its grants now (Lexful's reading): an absent list keeps the
/// user's current scopes of that kind, an absent role its current role.
/// `None` when the request changes no grant.
fn wanted_access(
    p: &Parsed,
    model: &Model,
    user: &User,
    org: OrganizationId,
) -> Result<Option<ops::WantedAccess>, DomainError> {
    if !p.changes_grants() {
        return Ok(None);
    }
    let current = view(model, user.id, org);
    let account_scopes = p.account_scopes.as_deref().unwrap_or_default();
    let organization_scopes = p.organization_scopes.as_deref().unwrap_or_default();
    let mut wanted = scopes(model, org, account_scopes, organization_scopes)?;
    for s in &current.scopes {
        let keep = match s {
            Scope::Global | Scope::Organization(_) => p.organization_scopes.is_none(),
            Scope::Accounts(_) | Scope::Account(_) => p.account_scopes.is_none(),
        };
        if keep && !wanted.contains(s) {
            wanted.push(*s);
        }
    }
    let role = match (&p.role, &current.role) {
        (Some(r), _) => r.clone(),
        (None, Some((_, r))) => r.clone(),
        (None, None) => {
            return Err(DomainError::invalid(
                "role",
                "required: the user has no role in this organization yet",
            ))
        }
    };
    if p.account_scopes.is_none() && p.organization_scopes.is_none() && wanted.is_empty() {
        return Err(DomainError::invalid(
            "account_scopes",
            "required: the user has no scopes in this organization yet; send `account_scopes` or `organization_scopes`",
        ));
    }
    Ok(Some((role, wanted)))
}

/// The write: one domain call (profile, then role and scopes), rendered.
fn write(
    d: &mut Draft<'_>,
    account: AccountId,
    user: UserId,
    p: &Parsed,
) -> Result<UserOut, DomainError> {
    let (after, org) = ops::update_org_user(d, account, user, p.patch.clone(), |m, u, org| {
        wanted_access(p, m, u, org)
    })?;
    Ok(render(d.model(), &after, account, org, p.role.as_ref()))
}

// ----- handler ----------------------------------------------------------------

/// The caller (`Authorization: Bearer`) and the account it acts in
/// (`X-Account-ID`, part of Lexful's security requirement: missing → 401).
fn caller(s: &AppState, headers: &HeaderMap) -> Result<(Caller, AccountId), ApiError> {
    let token = scheme_token(headers, "Bearer")
        .ok_or_else(|| ApiError::Unauthorized("missing `Authorization: Bearer <token>`".into()))?;
    let caller = authenticate(s, None, token)?;
    let raw = headers
        .get(ACCOUNT_HEADER)
        .ok_or_else(|| ApiError::Unauthorized("missing `X-Account-ID`".into()))?;
    let account = raw
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<AccountId>().ok())
        .ok_or_else(|| ApiError::bad_request("X-Account-ID", "must be an account UUID"))?;
    Ok((caller, account))
}

/// `PATCH /v1/users/{id}`.
async fn update_user(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Result<Response, LexfulError> {
    let (caller, account) = caller(&s, req.headers())?;
    let raw = path.map(|Path(p)| p).unwrap_or_default();
    let user = raw.parse::<UserId>().map_err(|_| {
        ApiError::bad_request(
            "id",
            format!("`{}` is not a UUID", roster_domain::truncate(&raw)),
        )
    })?;
    let parsed = Parsed::parse(json_object::<UpdateUserIn>(&s, req).await?)?;
    let (out, rev) = s
        .writer
        .write(ctx(&caller), move |d| write(d, account, user, &parsed))
        .await?;
    let mut resp = (StatusCode::OK, axum::Json(out)).into_response();
    resp.headers_mut()
        .insert(REVISION_HEADER, HeaderValue::from(rev));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_json;

    #[test]
    fn roles_are_builtin_and_ordered() {
        let m = Model::new();
        for r in ROLES {
            let id = RoleId::parse(r).unwrap();
            assert!(m.resolve_role(None, &id).is_some(), "{r}");
        }
        let key = |id: &str| RoleKey {
            organization_id: None,
            id: RoleId::parse(id).unwrap(),
        };
        assert_eq!(lexful_role(&m, &key("owner")), Some("system_admin"));
        assert_eq!(lexful_role(&m, &key("administrator")), Some("admin"));
        assert_eq!(lexful_role(&m, &key("member")), Some("viewer"));
        assert_eq!(lexful_role(&m, &key("read-only")), Some("viewer"));
        assert_eq!(lexful_role(&m, &key("support")), Some("support"));
    }

    #[test]
    fn body_parsing() {
        let b =
            parse_json::<UpdateUserIn>(br#"{"first_name":null,"account_scopes":["*"]}"#).unwrap();
        let p = Parsed::parse(b).unwrap();
        assert_eq!(p.patch.first_name, Some(None));
        assert_eq!(p.account_scopes, Some(vec![Entry::Any]));
        let b = parse_json::<UpdateUserIn>(br#"{"organization_scopes":["*","nope"]}"#).unwrap();
        assert!(
            matches!(Parsed::parse(b), Err(DomainError::Invalid { field, .. }) if field == "organization_scopes[1]")
        );
        let b = parse_json::<UpdateUserIn>(br#"{"role":"owner"}"#).unwrap();
        assert!(
            matches!(Parsed::parse(b), Err(DomainError::Invalid { field, .. }) if field == "role")
        );
        assert!(
            matches!(parse_json::<UpdateUserIn>(br#"{"nick":1}"#), Err(ApiError::BadRequest { field, .. }) if field == "nick")
        );
        assert!(
            matches!(parse_json::<UpdateUserIn>(br#"{"email":null}"#), Err(ApiError::BadRequest { field, .. }) if field == "email")
        );
    }
}
