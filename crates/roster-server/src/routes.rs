//! The native API (`/v1`): one module per resource, shared helpers here
//! (pagination, ETags and `If-Match`, the revision header, contexts).

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod check;
pub mod grants;
pub mod members;
pub mod ops;
pub mod organizations;
pub mod roles;
pub mod users;
pub mod views;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::request::RequestInfo;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use roster_domain::{Context, Revision};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Header carrying the revision a write produced.
pub const REVISION_HEADER: HeaderName = HeaderName::from_static("roster-revision");

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest page size.
pub const MAX_LIMIT: u32 = 1000;

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Validates `limit` (1..=1000, default 100).
pub fn limit(raw: Option<u32>) -> Result<usize, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT as usize),
        Some(0) => Err(ApiError::bad_request("limit", "must be at least 1")),
        Some(n) if n > MAX_LIMIT => Err(ApiError::bad_request(
            "limit",
            format!("must be at most {MAX_LIMIT}"),
        )),
        Some(n) => Ok(n as usize),
    }
}

/// Parses a cursor (the id of the last item of the previous page).
pub fn cursor<T: std::str::FromStr>(raw: Option<&str>) -> Result<Option<T>, ApiError> {
    raw.map(|c| {
        c.parse::<T>()
            .map_err(|_| ApiError::bad_request("cursor", "not a cursor this list returned"))
    })
    .transpose()
}

/// Builds a page from up to `limit + 1` fetched items.
pub fn page<T, V>(
    mut items: Vec<T>,
    limit: usize,
    key: impl Fn(&T) -> String,
    view: impl Fn(&T) -> V,
) -> Page<V> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more { items.last().map(&key) } else { None };
    Page {
        items: items.iter().map(view).collect(),
        next_cursor,
    }
}

/// Pages a list held in memory: sorts it by `key`, keeps the items after
/// the `cursor` key and at most `limit` of them (SPEC §3.2: every list
/// takes `limit` ≤ 1000 and `cursor`).
pub fn page_by<T, K, V>(
    mut items: Vec<T>,
    raw_limit: Option<u32>,
    raw_cursor: Option<&str>,
    key: impl Fn(&T) -> K,
    view: impl Fn(&T) -> V,
) -> Result<Page<V>, ApiError>
where
    K: Ord + std::str::FromStr + std::fmt::Display,
{
    let limit = limit(raw_limit)?;
    let after = cursor::<K>(raw_cursor)?;
    items.sort_by_key(|t| key(t));
    let items: Vec<T> = items
        .into_iter()
        .filter(|t| after.as_ref().is_none_or(|a| key(t) > *a))
        .take(limit + 1)
        .collect();
    Ok(page(items, limit, |t| key(t).to_string(), view))
}

/// The published model at `min` or later (see [`AppState::model_at`]). A
/// revision that no replica has committed yet is refused at once (400,
/// naming `min_revision`) rather than waited for and answered 503.
pub async fn model_at(
    s: &crate::state::AppState,
    min: Option<Revision>,
) -> Result<std::sync::Arc<roster_domain::Model>, ApiError> {
    if let Some(m) = min {
        if m > s.engine.revision() && m > s.store.current_revision().await? {
            return Err(ApiError::bad_request(
                "min_revision",
                format!("revision {m} has not been committed yet"),
            ));
        }
    }
    s.model_at(min).await
}

/// The request context for a caller.
pub fn ctx(caller: &Caller) -> Context {
    let id = RequestInfo::current().request_id;
    Context::user(
        caller.user_id,
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

/// A JSON response with an `ETag` (the object's revision) and the
/// `Roster-Revision` of the write (when one happened).
pub fn object<T: Serialize>(
    status: axum::http::StatusCode,
    body: &T,
    etag: Revision,
    revision: Option<Revision>,
) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if let Some(r) = revision {
        resp.headers_mut()
            .insert(REVISION_HEADER, HeaderValue::from(r));
    }
    resp
}

/// `204 No Content` carrying the write's revision.
pub fn no_content(revision: Revision) -> Response {
    let mut resp = axum::http::StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(REVISION_HEADER, HeaderValue::from(revision));
    resp
}

/// A read-only field of an object's view, accepted in a `PATCH` body and
/// ignored (SPEC §2.6), so that a client may send back what it read.
pub type ReadOnly = Option<serde::de::IgnoredAny>;

/// Deserializes an optional but non-nullable field of a partial update:
/// absent is `None`, `null` is refused (naming the field), since only
/// nullable fields can be cleared.
pub fn non_null<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    let v: Option<T> = serde::Deserialize::deserialize(d)?;
    v.map(Some).ok_or_else(|| {
        serde::de::Error::custom("must not be null; omit the field to leave it alone")
    })
}

/// Deserializes a nullable field so that absent (`None`) and `null`
/// (`Some(None)`) differ.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}
