//! Our own body and query extractors, so that every rejection is answered
//! in the surface's error shape (never axum's plain text) and names the
//! offending field.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap};
use serde::de::DeserializeOwned;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Whether the request declares a JSON body.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
                || mime == "text/json"
        })
        .unwrap_or(false)
}

/// Reads the body up to [`BODY_LIMIT`].
pub async fn read_body(req: Request) -> Result<(HeaderMap, Bytes), ApiError> {
    let (parts, body) = req.into_parts();
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        if len > BODY_LIMIT as u64 {
            return Err(ApiError::PayloadTooLarge(BODY_LIMIT));
        }
    }
    // The only way reading a body fails for a well-behaved client is the
    // limit; a broken connection gets the same answer nobody reads.
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(BODY_LIMIT))?;
    Ok((parts.headers, bytes))
}

/// Deserializes JSON, naming the failing field: the path where it failed,
/// or the field named in serde's message (unknown or missing fields).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request("body", "a JSON body is required"));
    }
    // Most bodies are valid, and tracking the path costs on every field
    // (a batch of checks has hundreds): parse plainly first, and only when
    // that fails parse again to learn where.
    if let Ok(v) = serde_json::from_slice::<T>(bytes) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        // Trailing characters after the value are malformed JSON too.
        Ok(v) => de
            .end()
            .map(|()| v)
            .map_err(|_| ApiError::bad_request("body", "trailing characters after the JSON value")),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = inner.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            let named = msg.split('`').nth(1).map(str::to_owned);
            let field = if msg.starts_with("missing field") {
                // The path is the parent object; append the missing name.
                let prefix = if path == "." {
                    String::new()
                } else {
                    format!("{path}.")
                };
                named.map(|n| format!("{prefix}{n}")).unwrap_or(path)
            } else if msg.starts_with("unknown field") {
                if path == "." {
                    named.unwrap_or(path)
                } else {
                    path
                }
            } else if inner.is_syntax() || inner.is_eof() || path == "." {
                "body".to_owned()
            } else {
                path
            };
            Err(ApiError::bad_request(field, msg))
        }
    }
}

/// Reads and parses a JSON body, requiring a JSON content type.
pub async fn json_body<T: DeserializeOwned>(req: Request) -> Result<T, ApiError> {
    let (headers, bytes) = read_body(req).await?;
    if !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    parse_json(&bytes)
}

/// The native surface's JSON body extractor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = read_body(req).await?;
        if !is_json(&headers) {
            return Err(ApiError::UnsupportedMediaType);
        }
        // Every native body is an object; serde would also accept an array
        // for a struct and blame its first element.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            return Err(ApiError::bad_request("body", "expected a JSON object"));
        }
        parse_json(&bytes).map(Json)
    }
}

/// The native surface's query-string extractor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_de(q);
        de.map(Query)
    }
}

fn serde_urlencoded_de<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    // axum's Query uses serde_urlencoded; we go through its extractor error to keep one parser.
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| ApiError::bad_request("query", "malformed query string"))?,
    )
    .map(|axum::extract::Query(v)| v)
    .map_err(|e| {
        let msg = e.body_text();
        let msg = msg
            .trim_start_matches("Failed to deserialize query string: ")
            .to_owned();
        // Messages name the field as "`field`" (unknown, missing) or
        // start with its path, "field: why" (wrong type).
        let path_prefix = msg.split_once(": ").map(|(p, _)| p).filter(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c))
        });
        let field = path_prefix
            .or_else(|| msg.split('`').nth(1))
            .map(str::to_owned)
            .unwrap_or_else(|| "query".to_owned());
        ApiError::bad_request(field, msg)
    })
}

/// A path segment parsed as a typed id; a malformed one is a 400 naming
/// the path parameter.
pub fn path_id<T: std::str::FromStr>(param: &'static str, raw: &str) -> Result<T, ApiError> {
    raw.parse::<T>().map_err(|_| {
        ApiError::bad_request(
            param,
            format!("`{}` is not a UUID", roster_domain::truncate(raw)),
        )
    })
}
