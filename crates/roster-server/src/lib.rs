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

use axum::extract::Request;
use axum::http::{Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(roster_domain::truncate(uri.path()))
}

async fn method_not_allowed(_m: Method) -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(_: Box<dyn std::any::Any + Send>) -> Response {
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
        .layer(axum::middleware::from_fn(request_timeout))
        .layer(axum::middleware::from_fn(request::context))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// How long a request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Bounds a request to [`REQUEST_TIMEOUT`]. A request that takes longer is
/// the server's own failure to finish in time (a slow client is answered
/// `408` by the body reader first, see [`extract::read_body`]): `503` with
/// `Retry-After` and a problem document like every error.
async fn request_timeout(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => timed_out(),
    }
}

/// The answer to a request over [`REQUEST_TIMEOUT`].
fn timed_out() -> Response {
    ApiError::Unavailable(format!(
        "the request took longer than {} s",
        REQUEST_TIMEOUT.as_secs()
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, StatusCode};
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_timeout_is_a_problem_document_with_retry_after() {
        let timed_out = timed_out();
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
    }

    /// A handler's own `408` (a client too slow to send its body) is not
    /// mistaken for the request timeout.
    #[tokio::test]
    async fn a_handlers_408_passes_through() {
        let app = Router::new()
            .route("/", get(|| async { StatusCode::REQUEST_TIMEOUT }))
            .layer(axum::middleware::from_fn(request_timeout));
        let resp = app
            .oneshot(Request::new(axum::body::Body::empty()))
            .await
            .map(|r| r.status());
        assert_eq!(resp.ok(), Some(StatusCode::REQUEST_TIMEOUT));
    }
}
