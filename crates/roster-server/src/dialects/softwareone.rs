//! The SoftwareOne dialect: `PUT /public/v1/accounts/accounts/{accountId}/users/{userId}`
//! below `/compat/softwareone`, a delta update of an *account user* (the
//! user's profile plus its membership in the account), answered with the
//! full `AccountUser` of the seed's schema and errors as RFC 9457
//! ProblemDetails with an `errors` map. A translator only: the write is one
//! domain call, `ops::update_account_user`, which decides who may do what.
//!
//! Mapping (see `docs/dialects/softwareone.md`):
//! - `email`, `firstName`, `lastName`, `phone`, `settings` → the user's profile;
//!   `phone` and `settings` merge key by key (`null` clears a nullable key,
//!   `null` for the whole object clears it).
//! - `status` (`Active`, `Invited`, `Disabled`) → the membership.
//! - `groups` → the user's Roster groups (by id), set exactly under the
//!   groups API's rules (the membership labels of the native members API
//!   are not SoftwareOne's groups).
//! - `revision` → optimistic concurrency on the account user, whose revision
//!   is the latest of the user's, the membership's and its group
//!   memberships' (stale → 409).
//! - `id`, `audit`, `$meta`, `name`, `icon`, `user`, `account`, `invitation`,
//!   `modules`, `buyers` are read-only: type-checked, then ignored.
//!
//! [`wire`] holds the seed's types, [`translate`] turns a request into the
//! domain write, [`render`] the answer and the errors.

mod render;
mod translate;
mod wire;

pub use wire::AccountUser;

use crate::auth::Credentials;
use crate::error::ApiError;
use crate::request::RequestInfo;
use crate::state::AppState;
use crate::surface::write::{ctx, written};
use crate::surface::{Caller, Json, PathId, Surface, SurfaceError, SurfaceRouter};
use axum::extract::State;
use axum::response::Response;
use axum::routing::put;
use axum::Router;
use roster_domain::{truncate, AccountId, DomainError, UserId};

/// The endpoint, below the dialect's base URL.
pub const PATH: &str = "/public/v1/accounts/accounts/{accountId}/users/{userId}";

/// The SoftwareOne surface.
#[derive(Debug, Clone, Copy)]
pub struct SoftwareOne;

impl Surface for SoftwareOne {
    const CREDENTIALS: Credentials = Credentials::Authorization {
        scheme: "Bearer",
        token: "token",
    };
    const ALSO_ACCEPTS: &'static [&'static str] = &["text/json"];

    /// SoftwareOne's ids are opaque strings: one that is not a Roster id
    /// names nothing, so it is not found (rather than malformed).
    fn malformed_id(param: &str, raw: &str) -> ApiError {
        let entity = if param == "accountId" {
            "account"
        } else {
            "user"
        };
        DomainError::not_found(entity, truncate(raw)).into()
    }

    fn render(e: &ApiError, info: &RequestInfo) -> Response {
        render::error(e, info)
    }
}

/// Routes below `/compat/softwareone`. Unknown paths and methods are answered
/// as ProblemDetails too.
pub fn router() -> Router<AppState> {
    SurfaceRouter::<SoftwareOne>::new()
        .route(PATH, put(update_account_user), Some("PUT"))
        .finish()
}

/// `PUT /public/v1/accounts/accounts/{accountId}/users/{userId}`.
async fn update_account_user(
    State(s): State<AppState>,
    caller: Caller<SoftwareOne>,
    PathId((account, user), _): PathId<(AccountId, UserId), SoftwareOne>,
    Json(body, _): Json<wire::AccountUserIn, SoftwareOne>,
) -> Result<Response, SurfaceError<SoftwareOne>> {
    let delta = translate::Delta::parse(body)?;
    let (w, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            translate::write(d, account, user, &delta)
        })
        .await?;
    let membership_events = s.audit_trail(&w.membership.id.to_string()).await?;
    let user_events = s.audit_trail(&w.user.id.to_string()).await?;
    let model = s.engine.snapshot();
    let body = render::render(&model, &w, &membership_events, &user_events);
    Ok(written(&body, rev))
}
