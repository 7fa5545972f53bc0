//! Fynn: `PUT /accounts/{id}/role` below `/compat/fynn` (see
//! `docs/dialects/fynn.md`).
//!
//! Fynn's "account" is a Roster membership; the endpoint sets the
//! membership's user's role at its account through
//! [`ops::set_membership_role`]. Errors are API Platform's problem
//! documents, with a `violations` list for field errors and for the self
//! guard (`422`).

use crate::auth::{authenticate, scheme_token, Caller};
use crate::error::ApiError;
use crate::extract::{parse_json, read_body};
use crate::request::RequestInfo;
use crate::routes::views::ts;
use crate::routes::{ctx, REVISION_HEADER};
use crate::state::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use roster_domain::ops;
use roster_domain::{
    truncate, DomainError, Membership, MembershipId, MembershipStatus, PersonName, RoleId, User,
    UserStatus,
};
use serde::{Deserialize, Serialize};

/// The three roles of Fynn's enum; each is a built-in role of the same id.
pub const ROLES: [&str; 3] = ["administrator", "account", "read-only"];

/// Fynn's own text for the self guard.
const SELF_MESSAGE: &str = "You cannot change the role of your own account";

/// What Fynn renders for an absent name (its schema requires 2..255 characters).
pub const ABSENT_NAME: &str = "n/a";

/// Routes below the dialect's base URL.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/accounts/{id}/role",
            put(update_account_role).fallback(method_not_allowed),
        )
        .fallback(no_route)
}

/// An error rendered as API Platform renders it.
#[derive(Debug)]
pub struct FynnError(pub ApiError);

impl From<ApiError> for FynnError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<DomainError> for FynnError {
    fn from(e: DomainError) -> Self {
        Self(ApiError::Domain(e))
    }
}

/// One constraint violation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Violation {
    property_path: String,
    message: String,
}

/// A problem document with API Platform's `violations`.
#[derive(Debug, Serialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    violations: Option<Vec<Violation>>,
}

impl FynnError {
    /// The status: the self guard is Fynn's `422`, the rest as everywhere.
    fn status(&self) -> StatusCode {
        match &self.0 {
            ApiError::Domain(DomainError::SelfChange { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            e => e.status(),
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        let violation = match &self.0 {
            ApiError::Domain(DomainError::SelfChange { .. }) => Some(Violation {
                property_path: "role".into(),
                message: SELF_MESSAGE.into(),
            }),
            e => e.field().filter(|f| *f != "body").map(|f| {
                let msg = e.public_message();
                let message = if msg.starts_with("missing field") {
                    "This value should not be blank.".to_owned()
                } else if msg.starts_with("unknown field") {
                    "This field was not expected.".to_owned()
                } else {
                    msg
                };
                Violation {
                    property_path: f.to_owned(),
                    message,
                }
            }),
        };
        let detail = match &violation {
            Some(v) => format!("{}: {}", v.property_path, v.message),
            None => self.0.public_message(),
        };
        Problem {
            kind: format!("/errors/{}", status.as_u16()),
            title: "An error occurred",
            status: status.as_u16(),
            detail,
            violations: violation.map(|v| vec![v]),
        }
    }
}

impl IntoResponse for FynnError {
    fn into_response(self) -> Response {
        let info = RequestInfo::current();
        self.0.log(&info);
        let status = self.status();
        let mut resp = (status, axum::Json(self.problem())).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        self.0.add_headers(&mut resp, Some("Bearer"));
        resp
    }
}

async fn no_route(uri: axum::http::Uri) -> FynnError {
    FynnError(ApiError::NoRoute(truncate(uri.path())))
}

async fn method_not_allowed() -> FynnError {
    FynnError(ApiError::MethodNotAllowed)
}

/// `Account.SetAccountRole`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetAccountRole {
    role: String,
}

/// `User-AccountDetailsRole`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserDetails {
    id: String,
    first_name: String,
    last_name: String,
    email: String,
}

/// `Account-AccountDetailsRole`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountDetailsRole {
    id: String,
    user: UserDetails,
    role: String,
    created_at: String,
    deactivated: bool,
}

/// A name as Fynn's schema wants it (2..255 characters): an absent name is
/// [`ABSENT_NAME`], a one-character name (an initial) gets a period.
pub fn fynn_name(name: Option<&PersonName>) -> String {
    match name.map(PersonName::as_str) {
        None => ABSENT_NAME.to_owned(),
        Some(s) if s.chars().count() < 2 => format!("{s}."),
        Some(s) => s.to_owned(),
    }
}

impl AccountDetailsRole {
    fn new(m: &Membership, u: &User, role: &str) -> Self {
        Self {
            id: m.id.to_string(),
            user: UserDetails {
                id: u.id.to_string(),
                first_name: fynn_name(u.first_name.as_ref()),
                last_name: fynn_name(u.last_name.as_ref()),
                email: u.email.to_string(),
            },
            role: role.to_owned(),
            created_at: ts(m.created_at),
            deactivated: m.status == MembershipStatus::Disabled || u.status == UserStatus::Disabled,
        }
    }
}

/// `Authorization: Bearer <token>`.
fn caller(s: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = scheme_token(headers, "Bearer")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("missing `Authorization: Bearer <token>`".into()))?;
    authenticate(s, None, token)
}

/// JSON, or `text/html` (the document lists it as a request content type;
/// the body is JSON either way).
fn accepted_content_type(headers: &HeaderMap) -> bool {
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
                || mime == "text/html"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// Parses the body into a role id of Fynn's enum.
fn parse_role(bytes: &[u8]) -> Result<RoleId, ApiError> {
    let value: serde_json::Value = parse_json(bytes)?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "body",
            "the body must be a JSON object with a `role`",
        ));
    }
    let body: SetAccountRole = parse_json(bytes)?;
    if !ROLES.contains(&body.role.as_str()) {
        return Err(ApiError::bad_request(
            "role",
            format!(
                "The value you selected is not a valid choice (one of {}).",
                ROLES.join(", ")
            ),
        ));
    }
    Ok(RoleId::parse_field("role", &body.role)?)
}

/// `PUT /accounts/{id}/role`.
async fn update_account_role(
    State(s): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Result<Response, FynnError> {
    let caller = caller(&s, req.headers())?;
    let raw = path.map(|Path(p)| p).unwrap_or_default();
    // Any id that is not a membership's UUID names no resource.
    let membership: MembershipId = raw
        .parse()
        .map_err(|_| DomainError::not_found("account", truncate(&raw)))?;
    let (headers, bytes) = read_body(&s, req).await?;
    if !accepted_content_type(&headers) {
        return Err(ApiError::UnsupportedMediaType.into());
    }
    let role = parse_role(&bytes)?;
    let (body, revision) = s
        .writer
        .write(ctx(&caller), move |d| {
            let (m, user) = ops::set_membership_role(d, membership, &role, "role")?;
            Ok(AccountDetailsRole::new(&m, &user, role.as_str()))
        })
        .await?;
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(REVISION_HEADER, HeaderValue::from(revision));
    Ok(resp)
}
