//! Fynn: `PUT /accounts/{id}/role` below `/compat/fynn` (see
//! `docs/dialects/fynn.md`).
//!
//! Fynn's "account" is a Roster membership; the endpoint sets the
//! membership's user's role at its account through
//! [`roster_domain::ops::set_membership_role`]. Callers present
//! `Authorization: Bearer <token>`; errors are API Platform's problem
//! documents, with a `violations` list for field errors and for the self
//! guard (`422`).
//!
//! [`wire`] holds the request and response bodies, [`translate`] turns a
//! request into the domain write, [`render`] the answer and the errors.

mod render;
mod translate;
mod wire;

pub use render::{fynn_name, ABSENT_NAME};
pub use translate::ROLES;

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
use roster_domain::{truncate, DomainError, MembershipId};

/// The Fynn surface.
#[derive(Debug, Clone, Copy)]
pub struct Fynn;

impl Surface for Fynn {
    const CREDENTIALS: Credentials = Credentials::Authorization {
        scheme: "Bearer",
        token: "token",
    };
    /// The document lists `text/html` as a request content type; the body
    /// is JSON either way.
    const ALSO_ACCEPTS: &'static [&'static str] = &["text/html"];
    const NOT_AN_OBJECT: &'static str = "the body must be a JSON object with a `role`";

    /// Any id that is not a membership's UUID names no resource.
    fn malformed_id(_param: &str, raw: &str) -> ApiError {
        DomainError::not_found("account", truncate(raw)).into()
    }

    fn render(e: &ApiError, _: &RequestInfo) -> Response {
        render::error(e)
    }
}

/// Routes below the dialect's base URL.
pub fn router() -> Router<AppState> {
    SurfaceRouter::<Fynn>::new()
        .route("/accounts/{id}/role", put(update_account_role), None)
        .finish()
}

/// `PUT /accounts/{id}/role`.
async fn update_account_role(
    State(s): State<AppState>,
    caller: Caller<Fynn>,
    PathId(membership, _): PathId<MembershipId, Fynn>,
    Json(body, _): Json<wire::SetAccountRole, Fynn>,
) -> Result<Response, SurfaceError<Fynn>> {
    let role = translate::role(body)?;
    let (body, revision) = s
        .writer
        .write(ctx(&caller), move |d| {
            translate::set_role(d, membership, &role)
        })
        .await?;
    Ok(written(&body, revision))
}
