//! Yuno: `PATCH /organizations/users/{user_id}/account-permissions` below
//! `/compat/yuno/v1` (see `docs/dialects/yuno.md`).
//!
//! Each `{account_id, role_id}` entry sets the user's role at that account
//! through [`roster_domain::ops::set_account_role`]; accounts the request
//! does not name keep theirs. The whole request is one write. Callers
//! present a key pair (`PUBLIC-API-KEY` + `PRIVATE-SECRET-KEY`); errors are
//! Yuno's envelope `{"code": "...", "messages": ["<field> <message>"]}`.
//!
//! [`wire`] holds the request and response bodies, [`translate`] turns a
//! request into the domain write, [`render`] the answer and the errors.

mod render;
mod translate;
mod wire;

pub use translate::MAX_ENTRIES;

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
use roster_domain::UserId;

/// The Yuno surface.
#[derive(Debug, Clone, Copy)]
pub struct Yuno;

impl Surface for Yuno {
    const CREDENTIALS: Credentials = Credentials::KeyPair {
        key_id: "PUBLIC-API-KEY",
        secret: "PRIVATE-SECRET-KEY",
    };
    const NOT_AN_OBJECT: &'static str = "must be a JSON object";

    fn render(e: &ApiError, _: &RequestInfo) -> Response {
        render::error(e)
    }
}

/// Routes below the dialect's base URL.
pub fn router() -> Router<AppState> {
    SurfaceRouter::<Yuno>::new()
        .route(
            "/organizations/users/{user_id}/account-permissions",
            patch(update_account_permissions),
            None,
        )
        .finish()
}

/// `PATCH /organizations/users/{user_id}/account-permissions`.
async fn update_account_permissions(
    State(s): State<AppState>,
    caller: Caller<Yuno>,
    PathId(user, _): PathId<UserId, Yuno>,
    Json(body, _): Json<wire::UpdateBody, Yuno>,
) -> Result<Response, SurfaceError<Yuno>> {
    let entries = translate::entries(body)?;
    let (body, revision) = s
        .writer
        .write(ctx(&caller), move |d| translate::update(d, user, &entries))
        .await?;
    Ok(written(&body, revision))
}
