//! What a request carries into the domain and what a write's answer
//! carries back, on every surface: the request [`Context`] of a caller, the
//! `Roster-Revision` header of the revision a write produced (or a read
//! answered at), and the object-level `ETag` / `If-Match` pair.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::RequestInfo;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_domain::{Context, Revision};
use serde::Serialize;
use time::OffsetDateTime;

/// Header carrying the revision a write produced.
pub const REVISION_HEADER: header::HeaderName = header::HeaderName::from_static("roster-revision");

/// The request context for a caller: who acts, the request id, now.
pub fn ctx(caller: &Caller) -> Context {
    let id = RequestInfo::current().request_id;
    Context::user(
        caller.actor.clone(),
        (!id.is_empty()).then_some(id),
        OffsetDateTime::now_utc(),
    )
}

/// `If-Match: "<revision>"` (or `*`/absent: no precondition).
pub fn if_match(headers: &HeaderMap) -> Result<Option<Revision>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::bad_request("If-Match", "must be an ETag"))?
        .trim();
    if s == "*" {
        return Ok(None);
    }
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse::<Revision>().map(Some).map_err(|_| {
        ApiError::bad_request(
            "If-Match",
            "must be an ETag this API returned, e.g. `\"42\"`",
        )
    })
}

/// `resp` carrying revision `rev` in `Roster-Revision`.
pub fn with_revision(mut resp: Response, rev: Revision) -> Response {
    resp.headers_mut()
        .insert(REVISION_HEADER, HeaderValue::from(rev));
    resp
}

/// `200` with a JSON body, carrying the revision the write produced.
pub fn written<T: Serialize>(body: &T, rev: Revision) -> Response {
    with_revision((StatusCode::OK, axum::Json(body)).into_response(), rev)
}

/// A JSON response with an `ETag` (the object's revision) and the
/// `Roster-Revision` of the write (when one happened).
pub fn object<T: Serialize>(
    status: StatusCode,
    body: &T,
    etag: Revision,
    revision: Option<Revision>,
) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    match revision {
        Some(r) => with_revision(resp, r),
        None => resp,
    }
}

/// `204 No Content` carrying the write's revision.
pub fn no_content(revision: Revision) -> Response {
    with_revision(StatusCode::NO_CONTENT.into_response(), revision)
}
