//! Crux: `PATCH /organizations/users/permissions/{user_uuid}/` below
//! `/compat/crux`, with or without the trailing slash (see
//! `docs/dialects/crux.md`).
//!
//! Adds each permission of `permission_uuids` to the user as a direct grant
//! at the caller's organization through [`ops::add_org_permissions`].
//! Errors are Django REST framework's: `{"detail": "..."}`, and field errors
//! as `{"<field>": ["..."]}`.

use crate::auth::{authenticate, scheme_token, Caller};
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
use roster_domain::{truncate, DomainError, Draft, GrantTarget, PermissionId, Scope, User, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most permissions one request may add.
pub const MAX_PERMISSIONS: usize = 1000;

/// The body's one field.
const FIELD: &str = "permission_uuids";

/// Routes below the dialect's base URL.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/organizations/users/permissions/{user_uuid}/",
            patch(add_user_permissions).fallback(method_not_allowed),
        )
        .route(
            "/organizations/users/permissions/{user_uuid}",
            patch(add_user_permissions).fallback(method_not_allowed),
        )
        .fallback(no_route)
}

/// An error rendered the way Django REST framework renders it.
#[derive(Debug)]
pub struct CruxError(pub ApiError);

impl From<ApiError> for CruxError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<DomainError> for CruxError {
    fn from(e: DomainError) -> Self {
        Self(ApiError::Domain(e))
    }
}

/// The top-level field a (possibly nested) field path belongs to.
fn top_field(path: &str) -> &str {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    &path[..end]
}

impl CruxError {
    /// The body: `{"detail": ...}`, or `{"<field>": [...]}` for field errors.
    fn body(&self) -> serde_json::Value {
        let e = &self.0;
        let detail = |s: String| serde_json::json!({ "detail": s });
        match e {
            ApiError::Unauthorized(m) if m.starts_with("missing") => {
                detail("Authentication credentials were not provided.".into())
            }
            ApiError::Unauthorized(_) => detail("Invalid token.".into()),
            ApiError::BadRequest { field, message } if field == "body" => {
                if message.starts_with("must be a JSON object") {
                    serde_json::json!({ "non_field_errors": ["Invalid data. Expected a dictionary."] })
                } else {
                    detail(format!("JSON parse error - {message}"))
                }
            }
            ApiError::NoRoute(_) => detail("Not found.".into()),
            ApiError::UnsupportedMediaType => detail(
                "Unsupported media type in request; send `Content-Type: application/json`.".into(),
            ),
            _ => match e.field() {
                Some(path) => {
                    let msg = e.public_message();
                    let msg = if msg.starts_with("missing field") {
                        "This field is required.".to_owned()
                    } else if msg.starts_with("unknown field") {
                        "This field is not allowed.".to_owned()
                    } else if path == top_field(path) {
                        msg
                    } else {
                        format!("`{path}`: {msg}")
                    };
                    let mut map = BTreeMap::new();
                    map.insert(top_field(path).to_owned(), vec![msg]);
                    serde_json::json!(map)
                }
                None => detail(e.public_message()),
            },
        }
    }
}

impl IntoResponse for CruxError {
    fn into_response(self) -> Response {
        let info = RequestInfo::current();
        self.0.log(&info);
        let status = self.0.status();
        let mut resp = (status, axum::Json(self.body())).into_response();
        self.0.add_headers(&mut resp, Some("Token"));
        resp
    }
}

async fn no_route(uri: axum::http::Uri) -> CruxError {
    CruxError(ApiError::NoRoute(truncate(uri.path())))
}

async fn method_not_allowed() -> CruxError {
    CruxError(ApiError::MethodNotAllowed)
}

/// Request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    permission_uuids: Vec<String>,
}

/// Response body (the document gives none; see `docs/dialects/crux.md`).
#[derive(Debug, Serialize)]
struct UserPermissions {
    /// The user.
    user_uuid: String,
    /// Every permission the user now holds directly at the organization,
    /// sorted.
    permission_uuids: Vec<String>,
}

/// `Authorization: Token <secret>`.
fn caller(s: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = scheme_token(headers, "Token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("missing `Authorization: Token <key>`".into()))?;
    authenticate(s, None, token)
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

/// Parses and validates the body into permission ids.
fn parse_permissions(bytes: &[u8]) -> Result<Vec<PermissionId>, ApiError> {
    let value: serde_json::Value = parse_json(bytes)?;
    if !value.is_object() {
        return Err(ApiError::bad_request("body", "must be a JSON object"));
    }
    let body: AddBody = parse_json(bytes)?;
    if body.permission_uuids.len() > MAX_PERMISSIONS {
        return Err(ApiError::bad_request(
            FIELD,
            format!("Ensure this field has no more than {MAX_PERMISSIONS} elements."),
        ));
    }
    body.permission_uuids
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.parse::<PermissionId>().map_err(|_| {
                ApiError::bad_request(
                    format!("{FIELD}[{i}]"),
                    format!("`{}` is not a valid UUID.", truncate(p)),
                )
            })
        })
        .collect()
}

/// The permissions `holder` holds directly at its organization, as far as
/// the actor may see them.
fn direct_permissions(d: &Draft<'_>, holder: &User) -> Vec<String> {
    // `list_grants` answers 403 only when the actor can see none of them:
    // the same as an empty list here.
    let grants = ops::list_grants(d, holder.id).unwrap_or_default();
    let mut ids: Vec<PermissionId> = grants
        .iter()
        .filter(|g| g.scope == Scope::Organization(holder.organization_id))
        .filter_map(|g| match g.target {
            GrantTarget::Permission(p) => Some(p),
            GrantTarget::Role(_) => None,
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids.into_iter().map(|p| p.to_string()).collect()
}

/// `PATCH /organizations/users/permissions/{user_uuid}/`.
async fn add_user_permissions(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Result<Response, CruxError> {
    let caller = caller(&s, req.headers())?;
    let raw = path.map(|Path(p)| p).unwrap_or_default();
    // Django's `<uuid:…>` converter: anything else is no such page.
    let user: UserId = raw
        .parse()
        .map_err(|_| DomainError::not_found("user", truncate(&raw)))?;
    let (headers, bytes) = read_body(&s, req).await?;
    if !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType.into());
    }
    let permissions = parse_permissions(&bytes)?;
    let (body, revision) = s
        .writer
        .write(ctx(&caller), move |d| {
            let holder = ops::add_org_permissions(d, user, &permissions, FIELD)?;
            Ok(UserPermissions {
                user_uuid: holder.id.to_string(),
                permission_uuids: direct_permissions(d, &holder),
            })
        })
        .await?;
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(REVISION_HEADER, HeaderValue::from(revision));
    Ok(resp)
}
