//! Per-request facts every error renderer needs (request id, path), kept in
//! a task-local set by [`context`] middleware so that errors raised anywhere
//! in the handler — extractors included — carry them.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// Name of the request id header (accepted from clients, else generated).
pub const REQUEST_ID: &str = "x-request-id";

/// The request id and path of the request being served.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    /// Request id.
    pub request_id: String,
    /// Path (for the problem `instance`).
    pub path: String,
}

tokio::task_local! {
    static INFO: RequestInfo;
}

impl RequestInfo {
    /// The current request's info (empty outside a request).
    pub fn current() -> Self {
        INFO.try_with(Clone::clone).unwrap_or_default()
    }
}

fn valid_client_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)))
    .then(|| s.to_owned())
}

/// Middleware: assigns the request id, scopes [`RequestInfo`] over the
/// handler, and echoes the id on the response.
pub async fn context(mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(valid_client_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let info = RequestInfo {
        request_id: request_id.clone(),
        path: req.uri().path().to_owned(),
    };
    let mut resp = INFO.scope(info, next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}
