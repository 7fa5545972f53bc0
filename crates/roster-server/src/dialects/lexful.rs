//! The Lexful dialect: `PATCH /v1/users/{id}` below `/compat/lexful`, with
//! `Authorization: Bearer <secret>` and `X-Account-ID` naming the account the
//! caller acts in. Updates the user's profile and, when `role` and/or the
//! scope lists are present, makes the user's grants in that account's
//! organization exactly *role at each listed scope*
//! (one domain call, `ops::update_org_user`). Answers `CreateUserResponse`; errors are
//! Lexful's `ErrorResponse`. A translator only: the escalation, self and
//! lockout guards run inside the domain operations.
//!
//! Scope mapping (see `docs/dialects/lexful.md`): an account UUID in
//! `account_scopes` → `account(a)`, `"*"` there → `accounts(O)`; the
//! organization's UUID in `organization_scopes` → `organization(O)`, `"*"`
//! there → `global` (which only global operators may hand out).
//!
//! [`wire`] holds the request and response bodies, [`translate`] turns a
//! request into the domain write, [`render`] the answer and the errors.

mod render;
mod translate;
mod wire;

pub use translate::MAX_SCOPES;
pub use wire::UserOut;

use crate::auth::Credentials;
use crate::error::ApiError;
use crate::request::RequestInfo;
use crate::state::AppState;
use crate::surface::write::{ctx, written};
use crate::surface::{Caller, Json, PathId, Surface, SurfaceError, SurfaceRouter};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::patch;
use axum::Router;
use roster_domain::{AccountId, UserId};

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

/// The Lexful surface.
#[derive(Debug, Clone, Copy)]
pub struct Lexful;

impl Surface for Lexful {
    const CREDENTIALS: Credentials = Credentials::Authorization {
        scheme: "Bearer",
        token: "token",
    };
    const ALSO_ACCEPTS: &'static [&'static str] = &["text/json"];

    fn render(e: &ApiError, info: &RequestInfo) -> Response {
        render::error(e, info)
    }
}

/// Routes below `/compat/lexful`. Unknown paths and methods are answered in
/// Lexful's error shape too.
pub fn router() -> Router<AppState> {
    SurfaceRouter::<Lexful>::new()
        .route(PATH, patch(update_user), Some("PATCH"))
        .finish()
}

/// The account the caller acts in (`X-Account-ID`, part of Lexful's
/// security requirement: missing → 401).
#[derive(Debug, Clone, Copy)]
struct ActingAccount(AccountId);

impl FromRequestParts<AppState> for ActingAccount {
    type Rejection = SurfaceError<Lexful>;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let raw = parts
            .headers
            .get(ACCOUNT_HEADER)
            .ok_or_else(|| ApiError::Unauthorized("missing `X-Account-ID`".into()))?;
        let account = raw
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<AccountId>().ok())
            .ok_or_else(|| ApiError::bad_request("X-Account-ID", "must be an account UUID"))?;
        Ok(Self(account))
    }
}

/// `PATCH /v1/users/{id}`.
async fn update_user(
    State(s): State<AppState>,
    caller: Caller<Lexful>,
    ActingAccount(account): ActingAccount,
    PathId(user, _): PathId<UserId, Lexful>,
    Json(body, _): Json<wire::UpdateUserIn, Lexful>,
) -> Result<Response, SurfaceError<Lexful>> {
    let parsed = translate::Parsed::parse(body)?;
    let (out, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            translate::write(d, account, user, &parsed)
        })
        .await?;
    Ok(written(&out, rev))
}
