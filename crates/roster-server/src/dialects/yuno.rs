//! Yuno: `PATCH /organizations/users/{user_id}/account-permissions` below
//! `/compat/yuno/v1` (see `docs/dialects/yuno.md`).
//!
//! Each `{account_id, role_id}` entry sets the user's role at that account
//! through [`ops::set_account_role`]; accounts the request does not name
//! keep theirs. The whole request is one write. Errors are Yuno's envelope
//! `{"code": "...", "messages": ["<field> <message>"]}`.

use crate::auth::{authenticate, Caller};
use crate::error::ApiError;
use crate::extract::{parse_json, read_body};
use crate::request::RequestInfo;
use crate::routes::{ctx, REVISION_HEADER};
use crate::state::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::patch;
use axum::Router;
use roster_domain::ops;
use roster_domain::{
    truncate, AccountId, DomainError, Draft, GrantTarget, RoleId, Scope, User, UserId,
};
use serde::{Deserialize, Serialize};

/// Most entries one request may carry.
pub const MAX_ENTRIES: usize = 1000;

/// Header carrying the public key id.
const PUBLIC_KEY: &str = "public-api-key";
/// Header carrying the secret.
const PRIVATE_KEY: &str = "private-secret-key";

/// Routes below the dialect's base URL.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/organizations/users/{user_id}/account-permissions",
            patch(update_account_permissions).fallback(method_not_allowed),
        )
        .fallback(no_route)
}

/// An error rendered in Yuno's envelope.
#[derive(Debug)]
pub struct YunoError(pub ApiError);

impl From<ApiError> for YunoError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<DomainError> for YunoError {
    fn from(e: DomainError) -> Self {
        Self(ApiError::Domain(e))
    }
}

/// Yuno's error body: exactly these two members.
#[derive(Debug, Serialize)]
struct ErrorBody {
    code: &'static str,
    messages: Vec<String>,
}

impl YunoError {
    /// Yuno's error code for the error.
    fn code(&self) -> &'static str {
        match &self.0 {
            ApiError::BadRequest { field, .. } if field == "body" => "INVALID_REQUEST",
            ApiError::BadRequest { message, .. } if message.starts_with("missing field") => {
                "MISSING_PARAMETERS"
            }
            ApiError::BadRequest { .. } | ApiError::Domain(DomainError::Invalid { .. }) => {
                "INVALID_PARAMETERS"
            }
            ApiError::Unauthorized(_) => "INVALID_CREDENTIALS",
            ApiError::Domain(DomainError::Forbidden { .. } | DomainError::SelfChange { .. }) => {
                "FORBIDDEN"
            }
            ApiError::Domain(DomainError::NotFound { .. }) | ApiError::NoRoute(_) => "NOT_FOUND",
            ApiError::Domain(
                DomainError::Conflict { .. }
                | DomainError::Lockout { .. }
                | DomainError::StaleRevision { .. },
            ) => "CONFLICT",
            ApiError::Domain(DomainError::PreconditionFailed { .. }) => "PRECONDITION_FAILED",
            ApiError::PayloadTooLarge(_) => "REQUEST_ENTITY_TOO_LARGE",
            ApiError::BodyTimeout(_) => "REQUEST_TIMEOUT",
            ApiError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ApiError::RevisionNotReached { .. } | ApiError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// The one message: `"<field> <message>"` for field errors, as Yuno does.
    fn message(&self) -> String {
        let msg = self.0.public_message();
        match self.0.field() {
            Some("body") | None => msg,
            Some(f) if msg.starts_with("missing field") => format!("{f} is required"),
            Some(f) if msg.starts_with("unknown field") => format!("{f} is not a known field"),
            Some(f) if msg.starts_with("duplicate key") => format!("{f} is given more than once"),
            Some(f) => format!("{f} {msg}"),
        }
    }
}

impl IntoResponse for YunoError {
    fn into_response(self) -> Response {
        let info = RequestInfo::current();
        self.0.log(&info);
        let status = self.0.status();
        let body = ErrorBody {
            code: self.code(),
            messages: vec![self.message()],
        };
        let mut resp = (status, axum::Json(body)).into_response();
        self.0.add_headers(&mut resp, None);
        resp
    }
}

async fn no_route(uri: axum::http::Uri) -> YunoError {
    YunoError(ApiError::NoRoute(truncate(uri.path())))
}

async fn method_not_allowed() -> YunoError {
    YunoError(ApiError::MethodNotAllowed)
}

/// Request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    account_permissions: Vec<Entry>,
}

/// One entry of the request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    account_id: String,
    role_id: String,
}

/// One entry of the response.
#[derive(Debug, Serialize)]
struct PermissionView {
    account_id: String,
    account_name: String,
    role_id: String,
    role_name: String,
}

/// Response body.
#[derive(Debug, Serialize)]
struct PermissionsBody {
    permissions: Vec<PermissionView>,
}

/// Both headers are required and must name one key.
fn caller(s: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    match (get(PUBLIC_KEY), get(PRIVATE_KEY)) {
        (Some(key_id), Some(secret)) => authenticate(s, Some(key_id), secret),
        (None, _) => Err(ApiError::Unauthorized(
            "the `PUBLIC-API-KEY` header is required".into(),
        )),
        (_, None) => Err(ApiError::Unauthorized(
            "the `PRIVATE-SECRET-KEY` header is required".into(),
        )),
    }
}

/// Whether the request declares a JSON body.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// Parses and validates the body into `(account, role)` pairs.
fn parse_entries(bytes: &[u8]) -> Result<Vec<(AccountId, RoleId)>, ApiError> {
    let value: serde_json::Value = parse_json(bytes)?;
    if !value.is_object() {
        return Err(ApiError::bad_request("body", "must be a JSON object"));
    }
    let body: UpdateBody = parse_json(bytes)?;
    if body.account_permissions.len() > MAX_ENTRIES {
        return Err(ApiError::bad_request(
            "account_permissions",
            format!("must have at most {MAX_ENTRIES} entries"),
        ));
    }
    body.account_permissions
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let account = e.account_id.parse::<AccountId>().map_err(|_| {
                ApiError::bad_request(
                    format!("account_permissions[{i}].account_id"),
                    format!("`{}` is not a UUID", truncate(&e.account_id)),
                )
            })?;
            let role =
                RoleId::parse_field(&format!("account_permissions[{i}].role_id"), &e.role_id)?;
            Ok((account, role))
        })
        .collect()
}

/// The user's account-scope role grants in its organization that the actor
/// may see, by account id then role id.
fn permissions(d: &Draft<'_>, holder: &User) -> Vec<PermissionView> {
    let m = d.model();
    // `list_grants` answers 403 only when the actor can see none of them:
    // the same as an empty list here.
    let grants = ops::list_grants(d, holder.id).unwrap_or_default();
    let mut rows: Vec<_> = grants
        .iter()
        .filter_map(|g| {
            let Scope::Account(a) = g.scope else {
                return None;
            };
            let GrantTarget::Role(k) = &g.target else {
                return None;
            };
            let account = m
                .account(a)
                .filter(|acc| acc.organization_id == holder.organization_id)?;
            let role = m.role(k)?;
            Some((
                a,
                k.id.clone(),
                account.name.to_string(),
                role.name.to_string(),
            ))
        })
        .collect();
    rows.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
    rows.into_iter()
        .map(|(a, r, account_name, role_name)| PermissionView {
            account_id: a.to_string(),
            account_name,
            role_id: r.to_string(),
            role_name,
        })
        .collect()
}

/// `PATCH /organizations/users/{user_id}/account-permissions`.
async fn update_account_permissions(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Result<Response, YunoError> {
    let caller = caller(&s, req.headers())?;
    let raw = path.map(|Path(p)| p).unwrap_or_default();
    let user: UserId = raw.parse().map_err(|_| {
        ApiError::bad_request("user_id", format!("`{}` is not a UUID", truncate(&raw)))
    })?;
    let (headers, bytes) = read_body(&s, req).await?;
    if !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType.into());
    }
    let entries = parse_entries(&bytes)?;
    let (body, revision) = s
        .writer
        .write(ctx(&caller), move |d| {
            let holder = ops::live_user(d, user)?;
            for (i, (account, role)) in entries.iter().enumerate() {
                ops::set_account_role(
                    d,
                    &holder,
                    *account,
                    role,
                    &format!("account_permissions[{i}].role_id"),
                )
                .map_err(|e| match e {
                    // The account lies in another organization than the user.
                    DomainError::Invalid { field, message } if field == "scope.id" => {
                        DomainError::Invalid {
                            field: format!("account_permissions[{i}].account_id"),
                            message,
                        }
                    }
                    e => e,
                })?;
            }
            Ok(PermissionsBody {
                permissions: permissions(d, &holder),
            })
        })
        .await?;
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(REVISION_HEADER, HeaderValue::from(revision));
    Ok(resp)
}
