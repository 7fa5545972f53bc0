//! Paging, the one implementation: `limit` (1..=1000, default 100) and an
//! opaque `cursor` (the key of the last item of the previous page), SPEC
//! §3.2. A list fetched in key order takes `limit + 1` items and hands them
//! to [`page`]; a list held in memory in any order goes through [`page_by`].

use crate::error::ApiError;
use serde::Serialize;
use utoipa::ToSchema;

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

impl<T> Page<T> {
    /// The same page with each item rendered by `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
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

/// Parses a cursor (the key of the last item of the previous page).
pub fn cursor<T: std::str::FromStr>(raw: Option<&str>) -> Result<Option<T>, ApiError> {
    raw.map(|c| {
        c.parse::<T>()
            .map_err(|_| ApiError::bad_request("cursor", "not a cursor this list returned"))
    })
    .transpose()
}

/// Builds a page from up to `limit + 1` items fetched in key order.
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
/// the `cursor` key and at most `limit` of them.
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
