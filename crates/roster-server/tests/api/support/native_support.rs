//! Helpers shared by the native API tests (`native_*.rs`): problem-document
//! assertions, "nothing changed" fingerprints, and a request helper usable
//! from spawned tasks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use crate::support::common::{Resp, TestApp};
use axum::body::Body;
use axum::http::{Method, Request};
use axum::Router;
use http_body_util::BodyExt;
use roster_store::AuditFilter;
use serde_json::Value;
use tower::ServiceExt;

/// What must not move when a request fails: the committed revision, the
/// audit trail of changes (a refused credential adds an `auth.failed`
/// event, which records no change), and (optionally) the owner's view of
/// one object.
#[derive(Debug, PartialEq)]
pub struct Fingerprint {
    pub revision: u64,
    pub audit_events: usize,
    pub engine_revision: u64,
    pub watched: Option<(u16, Value)>,
}

/// Audit events in the database (read through the store, not the API).
pub async fn audit_events(app: &TestApp) -> Vec<roster_domain::AuditEvent> {
    app.state
        .store
        .audit_events(&AuditFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .expect("audit events")
}

/// The state a failed request must leave untouched. `watch` is a path the
/// owner GETs before and after.
pub async fn fingerprint(app: &TestApp, watch: Option<&str>) -> Fingerprint {
    let watched = match watch {
        Some(p) => {
            let r = app.get(p, &app.owner).await;
            Some((r.status.as_u16(), r.body))
        }
        None => None,
    };
    Fingerprint {
        revision: app.state.store.current_revision().await.expect("revision"),
        audit_events: audit_events(app)
            .await
            .iter()
            .filter(|e| e.action != "auth.failed")
            .count(),
        engine_revision: app.state.engine.revision(),
        watched,
    }
}

/// Asserts `r` is a native problem document with `status`, every RFC 9457
/// member plus ours, and (when given) `errors[0].field == field`.
#[track_caller]
pub fn assert_problem(r: &Resp, status: u16, field: Option<&str>) {
    if let Some(e) = problem_mismatch(r, status, field) {
        panic!("{e}");
    }
}

/// Why `r` is not the expected problem document, if it is not.
pub fn problem_mismatch(r: &Resp, status: u16, field: Option<&str>) -> Option<String> {
    let b = &r.body;
    if r.status.as_u16() != status {
        return Some(format!(
            "status {} instead of {status}: {b}",
            r.status.as_u16()
        ));
    }
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct != "application/problem+json" {
        return Some(format!("content type `{ct}`: {b}"));
    }
    for key in [
        "type",
        "title",
        "detail",
        "instance",
        "error_code",
        "request_id",
    ] {
        if b[key].as_str().is_none_or(str::is_empty) {
            return Some(format!("problem member `{key}` missing or empty: {b}"));
        }
    }
    if b["status"].as_u64() != Some(u64::from(status)) {
        return Some(format!("problem `status` is not {status}: {b}"));
    }
    let Some(errors) = b["errors"].as_array() else {
        return Some(format!("`errors` is not an array: {b}"));
    };
    let rid = r
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if b["request_id"].as_str() != Some(rid) {
        return Some(format!(
            "request_id differs from the x-request-id header `{rid}`: {b}"
        ));
    }
    if let Some(f) = field {
        if errors.first().and_then(|e| e["field"].as_str()) != Some(f) {
            return Some(format!("errors[0].field is not `{f}`: {b}"));
        }
        if errors[0]["message"].as_str().is_none_or(str::is_empty) {
            return Some(format!("errors[0].message missing: {b}"));
        }
    }
    None
}

/// Sends one request through a router (usable from spawned tasks).
pub async fn send(
    router: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, String)],
) -> Resp {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    let req = match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Body::from(v.to_string())),
        None => b.body(Body::empty()),
    }
    .expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Resp {
        status,
        headers,
        body,
    }
}

/// Sends raw bytes with the given headers (for malformed bodies).
pub async fn send_bytes(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    app.raw(b.body(Body::from(body)).expect("request")).await
}

/// The ETag of a response as the revision it names.
pub fn etag(r: &Resp) -> u64 {
    r.headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("no ETag on {} {}", r.status, r.body))
}
