//! Roster's HTTP surfaces: the native `/v1` API and the five vendor
//! dialects, all over one domain. `router(state)` builds the app;
//! `serve(listener, router, shutdown)` runs it (`serve_with` takes the
//! connection bounds too). The binary and the tests both go through these.
//!
//! Below the surfaces sit the state, the writer and its expiry sweeper
//! ([`expiry`]), credentials ([`auth`]), the one error ([`error`]) and the
//! surface kit ([`surface`]); the surfaces — [`routes`] (native) and
//! [`dialects`] — are siblings above it and never import each other.

pub mod auth;
pub mod bootstrap;
pub mod conn;
pub mod demo;
pub mod dialects;
pub mod error;
pub mod expiry;
pub mod idp;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod outbound;
pub mod request;
pub mod retention;
pub mod routes;
pub mod sandbox;
pub mod state;
pub mod surface;
pub mod tokens;
pub mod webhooks;
pub mod writer;

pub use conn::{serve, serve_with, Draining, ServeOptions};
pub use error::ApiError;
pub use state::{AppState, Config};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use routes::Native;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

fn panic_response(_: Box<dyn std::any::Any + Send>) -> Response {
    ApiError::Internal("handler panicked".into()).into_response()
}

/// The whole application: native API and operations endpoints, dialects,
/// the OpenAPI document. A path or method no surface claims is answered as
/// the native API answers.
pub fn router(state: AppState) -> Router {
    native_routes()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::what_if::dry_run,
        ))
        .merge(dialects::router())
        .route("/openapi.json", get(openapi::serve))
        .merge(if state.config.metrics_on_public_port {
            Router::new().route("/metrics", get(metrics::render))
        } else {
            Router::new()
        })
        .fallback(surface::no_route::<Native>)
        .method_not_allowed_fallback(|| async { surface::method_not_allowed::<Native>(None) })
        .layer(axum::extract::DefaultBodyLimit::max(
            surface::body::BODY_LIMIT,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(request_timeout))
        .layer(axum::middleware::from_fn(request::context))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The metrics listener's application (`--metrics-listen`): `GET /metrics`
/// alone.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::render))
        .fallback(surface::no_route::<Native>)
        .layer(axum::middleware::from_fn(request_timeout))
        .with_state(state)
}

/// The native routes, built (with their OpenAPI operations) once per
/// process: a what-if builds the app again for its sandbox.
fn native_routes() -> Router<AppState> {
    static NATIVE: std::sync::OnceLock<Router<AppState>> = std::sync::OnceLock::new();
    NATIVE
        .get_or_init(|| routes::router().split_for_parts().0)
        .clone()
}

/// How long a request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The path of the long poll, whose answer may legitimately wait up to
/// [`routes::events::MAX_WAIT`] before the work of a request begins.
const LONG_POLL: &str = "/v1/events";

/// Bounds a request to [`REQUEST_TIMEOUT`] (plus the longest `wait` for the
/// long poll, `GET /v1/events`). A request that takes longer is the
/// server's own failure to finish in time (a slow client is answered `408`
/// by the body reader first, see [`surface::body::read_body`]): `503` with
/// `Retry-After` and a problem document like every error. The bound ends
/// when the response starts: the event stream's body
/// (`GET /v1/events/stream`) is not cut, and a client that stops reading
/// it is cut off by the connection's send timeout ([`conn::SEND_TIMEOUT`]).
async fn request_timeout(req: Request, next: Next) -> Response {
    let bound = if req.uri().path() == LONG_POLL {
        REQUEST_TIMEOUT + Duration::from_secs(routes::events::MAX_WAIT)
    } else {
        REQUEST_TIMEOUT
    };
    match tokio::time::timeout(bound, next.run(req)).await {
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
