//! The OpenAPI document of the native API, generated from the handlers'
//! `#[utoipa::path]` annotations and served at `/openapi.json`.

use crate::routes::*;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The native API's contract.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Roster", description = "Who may do what, where: organizations, accounts, users, roles, grants and authorization checks."),
    security(("bearer" = [])),
    modifiers(&BearerAuth),
    paths(
        organizations::create, organizations::list, organizations::get, organizations::update, organizations::delete,
        accounts::create, accounts::list, accounts::get, accounts::update, accounts::delete,
        users::create, users::list, users::get, users::update, users::delete,
        members::add, members::list, members::remove,
        roles::list_permissions, roles::create_permission, roles::list, roles::create, roles::get, roles::update, roles::delete,
        grants::list, grants::create, grants::delete,
        check::check, check::batch, check::lookup_accounts, check::lookup_users, check::effective_permissions,
        api_keys::create, api_keys::list, api_keys::revoke,
        audit::list,
        ops::healthz, ops::readyz,
    )
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn serve() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}
