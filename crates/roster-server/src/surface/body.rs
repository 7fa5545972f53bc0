//! Request bodies: every surface reads its body through [`read_body`] and
//! parses it through [`parse_json`] (by way of [`json_object`], the
//! [`Json`](super::Json) extractor), so the bounds (size, time), the
//! strictness (duplicate keys, an object where one is expected) and the
//! naming of the failing field are the same everywhere; only which content
//! types count as JSON is the surface's to say.

use super::Surface;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{header, HeaderMap};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Longest a client may take to send a whole request body, counted from
/// when the handler starts reading it (the default of
/// [`crate::Config::body_read_timeout`]). A stalled or too slow client is
/// answered `408` ([`ApiError::BodyTimeout`]).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the request declares a body that surface `S` reads as JSON:
/// `application/json`, `application/*+json`, or one of
/// [`Surface::ALSO_ACCEPTS`].
fn declares_json<S: Surface>(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
                || S::ALSO_ACCEPTS.contains(&mime.as_str())
        })
}

/// Reads the body up to [`BODY_LIMIT`], within the state's
/// [`body_read_timeout`](crate::Config::body_read_timeout).
pub async fn read_body(s: &AppState, req: Request) -> Result<(HeaderMap, Bytes), ApiError> {
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
    // A client too slow to send it is answered 408. Otherwise the only way
    // reading a body fails for a well-behaved client is the limit; a broken
    // connection gets the same answer nobody reads.
    let timeout = s.config.body_read_timeout;
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, BODY_LIMIT))
        .await
        .map_err(|_| ApiError::BodyTimeout(timeout))?
        .map_err(|_| ApiError::PayloadTooLarge(BODY_LIMIT))?;
    Ok((parts.headers, bytes))
}

/// Walks a JSON value and fails, inside the value, at the first key an
/// object names twice (so that a path-tracking deserializer names it).
#[derive(Clone, Copy)]
struct DistinctKeys;

impl<'de> DeserializeSeed<'de> for DistinctKeys {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DistinctKeys {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Most objects have a handful of keys: a list searched linearly
        // (keys are borrowed from the body, so one allocation per object);
        // past `SMALL` keys a set, so a huge object stays n log n.
        const SMALL: usize = 16;
        let mut few: Vec<Cow<'de, str>> = Vec::new();
        let mut many: BTreeSet<Cow<'de, str>> = BTreeSet::new();
        while let Some(key) = map.next_key_seed(Key)? {
            let repeated = if many.is_empty() && few.len() < SMALL {
                let r = few.contains(&key);
                few.push(key.clone());
                r
            } else {
                many.extend(few.drain(..));
                !many.insert(key.clone())
            };
            if repeated {
                let message = format!("duplicate key `{}`", roster_domain::truncate(&key));
                return map.next_value_seed(Reject(message));
            }
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// An object key, borrowed from the body unless it has escapes (so `"a"`
/// and `"\u0061"` are the same key).
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// Fails with its message in place of a value.
struct Reject(String);

impl<'de> DeserializeSeed<'de> for Reject {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(de::Error::custom(self.0))
    }
}

/// A `400` naming the first key an object of the body gives twice, at any
/// depth (SPEC §2.9). serde's derived structs reject a repeated field, but
/// maps (`external_ids`, a `serde_json::Value`) would silently keep the
/// last value; this one check makes every surface and shape strict alike.
/// Malformed JSON passes: the parser proper names that problem.
fn reject_duplicate_keys(bytes: &[u8]) -> Result<(), ApiError> {
    // The walk's only data error is a repeated key: syntax errors pass.
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match DistinctKeys.deserialize(&mut *de) {
        Err(e) if e.is_data() => {}
        _ => return Ok(()),
    }
    // Rare: walk again, tracking the path, to name the key.
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let mut track = serde_path_to_error::Track::new();
    let Err(e) =
        DistinctKeys.deserialize(serde_path_to_error::Deserializer::new(&mut *de, &mut track))
    else {
        return Ok(());
    };
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
    Err(ApiError::bad_request(
        roster_domain::truncate(&track.path().to_string()),
        msg,
    ))
}

/// Deserializes JSON, naming the failing field: the path where it failed,
/// or the field named in serde's message (unknown or missing fields).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request("body", "a JSON body is required"));
    }
    reject_duplicate_keys(bytes)?;
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

/// Reads and parses a JSON body that must be an object, declared with a
/// content type surface `S` reads as JSON. A body that is malformed JSON is
/// answered as such; one that is JSON but not an object is refused with
/// [`Surface::NOT_AN_OBJECT`] (serde would also accept an array for a
/// struct and blame its first element).
pub async fn json_object<T: DeserializeOwned, S: Surface>(
    s: &AppState,
    req: Request,
) -> Result<T, ApiError> {
    let (headers, bytes) = read_body(s, req).await?;
    if !declares_json::<S>(&headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        // Malformed JSON is named as such before its kind is.
        parse_json::<de::IgnoredAny>(&bytes)?;
        return Err(ApiError::bad_request("body", S::NOT_AN_OBJECT));
    }
    parse_json(&bytes)
}

/// Parses a query string, naming the failing parameter.
pub fn parse_query<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;
    use std::collections::BTreeMap;

    /// The field and message of a 400.
    fn rejected<T: DeserializeOwned + fmt::Debug>(body: &str) -> (String, String) {
        match parse_json::<T>(body.as_bytes()) {
            Err(ApiError::BadRequest { field, message }) => (field, message),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only parsed")]
    struct Patch {
        name: Option<String>,
        settings: Option<BTreeMap<String, serde_json::Value>>,
        items: Option<Vec<BTreeMap<String, u32>>>,
    }

    #[test]
    fn duplicate_keys_are_named_at_any_depth() {
        for (body, field, key) in [
            (r#"{"name":"a","name":"b"}"#, "name", "name"),
            (r#"{"settings":{"tz":"a","tz":"b"}}"#, "settings.tz", "tz"),
            (
                r#"{"settings":{"x":{"y":[{"z":1,"z":1}]}}}"#,
                "settings.x.y[0].z",
                "z",
            ),
            (
                r#"{"items":[{"a":1},{"a":1,"b":2,"a":3}]}"#,
                "items[1].a",
                "a",
            ),
            // The same key, spelled with an escape.
            (r#"{"name":"a","n\u0061me":"b"}"#, "name", "name"),
        ] {
            for (f, m) in [rejected::<Patch>(body), rejected::<serde_json::Value>(body)] {
                assert_eq!(f, field, "{body}");
                assert_eq!(m, format!("duplicate key `{key}`"), "{body}");
            }
        }
    }

    #[test]
    fn duplicate_keys_are_found_in_large_objects() {
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let distinct = format!("{{{}}}", keys.join(","));
        assert!(parse_json::<serde_json::Value>(distinct.as_bytes()).is_ok());
        for repeat in [0, 15, 16, 39] {
            let body = format!("{{{},\"k{repeat}\":0}}", keys.join(","));
            let (f, m) = rejected::<serde_json::Value>(&body);
            assert_eq!(f, format!("k{repeat}"), "{body}");
            assert_eq!(m, format!("duplicate key `k{repeat}`"));
        }
    }

    #[test]
    fn distinct_keys_and_malformed_json_are_left_to_the_parser() {
        assert!(parse_json::<Patch>(br#"{"name":"a","settings":{"name":"a"}}"#).is_ok());
        assert!(parse_json::<serde_json::Value>(br#"[{"a":1},{"a":1}]"#).is_ok());
        let (field, message) = rejected::<Patch>(r#"{"name":"a","settings":"#);
        assert_eq!(field, "body", "{message}");
        let (field, message) = rejected::<Patch>(r#"{"name":1}"#);
        assert_eq!(field, "name", "{message}");
    }
}
