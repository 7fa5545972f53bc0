//! Helpers of wire types shared by every surface: how a partial update
//! tells an absent field from `null`, read-only fields, timestamps.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

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

/// Deserializes a present value (absent stays `None` through
/// `#[serde(default)]`); `null` is a type error naming the field, in the
/// deserializer's own words (where a vendor's document declares the field
/// non-nullable).
pub fn present<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    T::deserialize(d).map(Some)
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

/// Parses an RFC 3339 timestamp a client sent in `field`.
pub fn parse_ts(field: &str, raw: &str) -> Result<OffsetDateTime, crate::error::ApiError> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| crate::error::ApiError::bad_request(field, "not an RFC 3339 timestamp"))
}

/// RFC 3339 text of a timestamp.
pub fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}
