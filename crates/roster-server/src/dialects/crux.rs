//! Crux: `PATCH /organizations/users/permissions/{user_uuid}/` below
//! `/compat/crux`, with or without the trailing slash (see
//! `docs/dialects/crux.md`).
//!
//! Adds each permission of `permission_uuids` to the user as a direct grant
//! at the caller's organization through
//! [`roster_domain::ops::add_org_permissions`]. Callers present
//! `Authorization: Token <key>`; errors are Django REST framework's:
//! `{"detail": "..."}`, and field errors as `{"<field>": ["..."]}`.
//!
//! [`wire`] holds the request and response bodies, [`translate`] turns a
//! request into the domain write, [`render`] the answer and the errors.

mod render;
mod translate;
mod wire;

pub use translate::MAX_PERMISSIONS;

use crate::auth::Credentials;
use crate::error::ApiError;
use crate::request::RequestInfo;
use crate::state::AppState;
use crate::surface::write::{ctx, written};
use crate::surface::{Caller, Json, PathId, Surface, SurfaceError, SurfaceRouter};
use axum::extract::State;
use axum::response::Response;
use axum::routing::patch;
use axum::Router;
use roster_domain::{truncate, DomainError, UserId};

/// The Crux surface.
#[derive(Debug, Clone, Copy)]
pub struct Crux;

impl Surface for Crux {
    const CREDENTIALS: Credentials = Credentials::Authorization {
        scheme: "Token",
        token: "key",
    };
    const NOT_AN_OBJECT: &'static str = render::NOT_AN_OBJECT;

    /// Django's `<uuid:…>` converter: anything else is no such page.
    fn malformed_id(_param: &str, raw: &str) -> ApiError {
        DomainError::not_found("user", truncate(raw)).into()
    }

    fn render(e: &ApiError, _: &RequestInfo) -> Response {
        render::error(e)
    }
}

/// Routes below the dialect's base URL.
pub fn router() -> Router<AppState> {
    SurfaceRouter::<Crux>::new()
        .route(
            "/organizations/users/permissions/{user_uuid}/",
            patch(add_user_permissions),
            None,
        )
        .route(
            "/organizations/users/permissions/{user_uuid}",
            patch(add_user_permissions),
            None,
        )
        .finish()
}

/// `PATCH /organizations/users/permissions/{user_uuid}/`.
async fn add_user_permissions(
    State(s): State<AppState>,
    caller: Caller<Crux>,
    PathId(user, _): PathId<UserId, Crux>,
    Json(body, _): Json<wire::AddBody, Crux>,
) -> Result<Response, SurfaceError<Crux>> {
    let permissions = translate::permissions(body)?;
    let (body, revision) = s
        .writer
        .write(ctx(&caller), move |d| translate::add(d, user, &permissions))
        .await?;
    Ok(written(&body, revision))
}
