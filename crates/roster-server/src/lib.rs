//! Roster's HTTP surfaces: the native `/v1` API and the five vendor
//! dialects, all over one domain. `router(state)` builds the app;
//! `serve(listener, router, shutdown)` runs it (`serve_with` takes the
//! connection bounds too). The binary and the tests both go through these.

pub mod auth;
pub mod bootstrap;
pub mod conn;
pub mod demo;
pub mod dialects;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod request;
pub mod routes;
pub mod state;
pub mod writer;

pub use conn::{serve, serve_with, ServeOptions};
pub use error::ApiError;
pub use state::{AppState, Config};

use axum::http::{Method, Uri};
use axum::routing::{get, post};
use axum::Router;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(roster_domain::truncate(uri.path()))
}

async fn method_not_allowed(_m: Method) -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(_: Box<dyn std::any::Any + Send>) -> axum::response::Response {
    use axum::response::IntoResponse;
    ApiError::Internal("handler panicked".into()).into_response()
}

/// The whole application: native API, dialects, operations endpoints.
pub fn router(state: AppState) -> Router {
    use routes::*;
    let v1 = Router::new()
        .route(
            "/organizations",
            post(organizations::create).get(organizations::list),
        )
        .route(
            "/organizations/{id}",
            get(organizations::get)
                .patch(organizations::update)
                .delete(organizations::delete),
        )
        .route(
            "/organizations/{id}/accounts",
            post(accounts::create).get(accounts::list),
        )
        .route(
            "/accounts/{id}",
            get(accounts::get)
                .patch(accounts::update)
                .delete(accounts::delete),
        )
        .route("/users", post(users::create).get(users::list))
        .route(
            "/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route(
            "/accounts/{id}/members",
            post(members::add).get(members::list),
        )
        .route(
            "/accounts/{id}/members/{user_id}",
            axum::routing::delete(members::remove),
        )
        .route("/permissions", get(roles::list_permissions))
        .route(
            "/organizations/{id}/permissions",
            post(roles::create_permission),
        )
        .route(
            "/organizations/{id}/roles",
            get(roles::list).post(roles::create),
        )
        .route(
            "/organizations/{id}/roles/{role_id}",
            get(roles::get).patch(roles::update).delete(roles::delete),
        )
        .route("/users/{id}/grants", get(grants::list).post(grants::create))
        .route(
            "/users/{id}/grants/{grant_id}",
            axum::routing::delete(grants::delete),
        )
        .route(
            "/users/{id}/effective-permissions",
            get(check::effective_permissions),
        )
        .route("/check", post(check::check))
        .route("/check/batch", post(check::batch))
        .route("/lookup/accounts", post(check::lookup_accounts))
        .route("/lookup/users", post(check::lookup_users))
        .route("/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/api-keys/{id}", axum::routing::delete(api_keys::revoke))
        .route("/audit-events", get(audit::list));
    Router::new()
        .nest("/v1", v1)
        .merge(dialects::router())
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/openapi.json", get(openapi::serve))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::map_response(timeout_problem))
        .layer(axum::middleware::from_fn(request::context))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// How long a request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The timeout layer answers a bare `408`; no handler answers 408, so every
/// one is that timeout: answer it as the server's own failure to finish in
/// time (`503`, `Retry-After`), with a problem document like every error.
async fn timeout_problem(resp: axum::response::Response) -> axum::response::Response {
    if resp.status() != axum::http::StatusCode::REQUEST_TIMEOUT {
        return resp;
    }
    axum::response::IntoResponse::into_response(ApiError::Unavailable(format!(
        "the request took longer than {} s",
        REQUEST_TIMEOUT.as_secs()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;

    #[tokio::test]
    async fn a_timeout_is_a_problem_document_with_retry_after() {
        let timed_out = timeout_problem(StatusCode::REQUEST_TIMEOUT.into_response()).await;
        assert_eq!(timed_out.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            timed_out
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(&b"application/problem+json"[..])
        );
        assert_eq!(
            timed_out
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let body = axum::body::to_bytes(timed_out.into_body(), 4096)
            .await
            .unwrap_or_default();
        assert!(
            String::from_utf8_lossy(&body).contains("longer than 30 s"),
            "{}",
            String::from_utf8_lossy(&body)
        );
        let ok = timeout_problem(StatusCode::NO_CONTENT.into_response()).await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT, "others pass through");
    }
}
