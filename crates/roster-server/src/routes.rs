//! The native API (`/v1`, SPEC §3.2) and the operations endpoints: one
//! module per resource, each handler registered once, with its OpenAPI
//! operation, in [`router`]. Its surface, [`Native`], reads bearer
//! credentials and JSON bodies and answers errors as problem documents;
//! everything else it shares with the other surfaces comes from the kit
//! ([`crate::surface`]).

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod check;
pub mod events;
pub mod grants;
pub mod groups;
pub mod identity_providers;
pub mod members;
pub mod oauth;
pub mod ops;
pub mod organizations;
pub mod roles;
pub mod users;
pub mod views;
pub mod webhooks;
pub mod well_known;
pub mod what_if;

use crate::auth::Credentials;
use crate::error::ApiError;
use crate::request::RequestInfo;
use crate::state::AppState;
use crate::surface::Surface;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The native surface: `Authorization: Bearer <api key or JWT>` (Roster's or an identity provider's), JSON bodies
/// (`text/json` too), errors as `application/problem+json`.
#[derive(Debug, Clone, Copy)]
pub struct Native;

impl Surface for Native {
    const CREDENTIALS: Credentials = Credentials::Authorization {
        scheme: "Bearer",
        token: "api key or JWT",
    };
    const ALSO_ACCEPTS: &'static [&'static str] = &["text/json"];

    fn render(e: &ApiError, info: &RequestInfo) -> Response {
        e.problem(info)
    }
}

/// Every native operation, each registered once together with its
/// `#[utoipa::path]` description (path, method, parameters, responses): the
/// router and the OpenAPI document ([`crate::openapi`]) cannot disagree.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(organizations::create, organizations::list))
        .routes(routes!(
            organizations::get,
            organizations::update,
            organizations::delete
        ))
        .routes(routes!(accounts::create, accounts::list))
        .routes(routes!(accounts::get, accounts::update, accounts::delete))
        .routes(routes!(users::create, users::list))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(members::add, members::list))
        .routes(routes!(members::remove))
        .routes(routes!(roles::list_permissions))
        .routes(routes!(roles::create_permission))
        .routes(routes!(roles::list, roles::create))
        .routes(routes!(roles::get, roles::update, roles::delete))
        .routes(routes!(grants::list, grants::create))
        .routes(routes!(grants::update, grants::delete))
        .routes(routes!(groups::create, groups::list))
        .routes(routes!(groups::get, groups::update, groups::delete))
        .routes(routes!(groups::add_member, groups::list_members))
        .routes(routes!(groups::update_member, groups::remove_member))
        .routes(routes!(groups::list_grants, groups::create_grant))
        .routes(routes!(groups::update_grant, groups::delete_grant))
        .routes(routes!(groups::user_groups))
        .routes(routes!(check::effective_permissions))
        .routes(routes!(check::check))
        .routes(routes!(check::batch))
        .routes(routes!(check::lookup_accounts))
        .routes(routes!(check::lookup_users))
        .routes(routes!(what_if::what_if))
        .routes(routes!(api_keys::create, api_keys::list))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(
            identity_providers::create,
            identity_providers::list
        ))
        .routes(routes!(
            identity_providers::get,
            identity_providers::update,
            identity_providers::delete
        ))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::replay))
        .routes(routes!(audit::list))
        .routes(routes!(events::list))
        .routes(routes!(events::stream))
        .routes(routes!(oauth::issue))
        .routes(routes!(well_known::jwks))
        .routes(routes!(well_known::openid_configuration))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
}
