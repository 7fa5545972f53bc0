//! How single values are kept in a column, the same on every table:
//! timestamps at microsecond precision (fixed-width UTC text on SQLite),
//! revisions as `BIGINT`, JSON as text.

use crate::error::StoreError;
use roster_domain::Revision;
use serde::Serialize;
use std::fmt::Display;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

// ----- timestamps ---------------------------------------------------------

/// Drops sub-microsecond precision (both backends keep microseconds).
pub(crate) fn truncate_micros(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// Formats a timestamp as fixed-width UTC RFC 3339 with six fractional
/// digits, `2024-01-02T03:04:05.123456Z` (text order is time order).
pub(crate) fn format_ts(t: OffsetDateTime) -> Result<String, StoreError> {
    let u = t
        .checked_to_offset(UtcOffset::UTC)
        .filter(|u| (0..=9999).contains(&u.year()))
        .ok_or_else(|| StoreError::Invalid(format!("timestamp {t} is out of range")))?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        u.year(),
        u8::from(u.month()),
        u.day(),
        u.hour(),
        u.minute(),
        u.second(),
        u.microsecond()
    ))
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn parse_fixed(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 27
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || b.get(19) != Some(&b'.')
        || b.get(26) != Some(&b'Z')
    {
        return None;
    }
    let year = i32::try_from(digits(b.get(0..4)?)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(b.get(5..7)?)?).ok()?).ok()?;
    let day = u8::try_from(digits(b.get(8..10)?)?).ok()?;
    let hour = u8::try_from(digits(b.get(11..13)?)?).ok()?;
    let minute = u8::try_from(digits(b.get(14..16)?)?).ok()?;
    let second = u8::try_from(digits(b.get(17..19)?)?).ok()?;
    let micro = digits(b.get(20..26)?)?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms_micro(hour, minute, second, micro).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Parses a timestamp written by [`format_ts`] (fast path) or any RFC 3339 text.
pub(crate) fn parse_ts(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    match parse_fixed(s) {
        Some(t) => Ok(t),
        None => OffsetDateTime::parse(s, &Rfc3339),
    }
}

// ----- revisions, JSON ---------------------------------------

/// A stored `BIGINT` revision as the domain's [`Revision`].
pub(crate) fn revision(v: i64, what: impl Display) -> Result<Revision, StoreError> {
    u64::try_from(v).map_err(|e| StoreError::corrupt(what, e))
}

/// A domain [`Revision`] as the `BIGINT` both backends store.
pub(crate) fn rev_to_i64(r: Revision) -> Result<i64, StoreError> {
    i64::try_from(r).map_err(|_| StoreError::Invalid(format!("revision {r} is out of range")))
}

/// A value as the JSON text of a JSON column.
pub(crate) fn to_json<T: Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("cannot serialize: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_round_trip_to_the_microsecond() {
        for t in [
            datetime!(2024-02-29 23:59:59.123456 UTC),
            datetime!(1970-01-01 00:00:00 UTC),
            datetime!(0001-01-01 00:00:00.000001 UTC),
            datetime!(9999-12-31 23:59:59.999999 UTC),
            datetime!(2024-06-01 02:30:00.5 +02:00),
        ] {
            let s = format_ts(t).unwrap();
            assert_eq!(s.len(), 27, "{s}");
            assert_eq!(parse_ts(&s).unwrap(), t);
        }
        let t = datetime!(2024-01-01 00:00:00.123456789 UTC);
        assert_eq!(
            parse_ts(&format_ts(t).unwrap()).unwrap(),
            datetime!(2024-01-01 00:00:00.123456 UTC)
        );
        assert_eq!(
            truncate_micros(t),
            datetime!(2024-01-01 00:00:00.123456 UTC)
        );
        assert_eq!(
            parse_ts("2024-01-01T01:00:00+01:00").unwrap(),
            datetime!(2024-01-01 00:00:00 UTC)
        );
        assert!(parse_ts("2024-13-01T00:00:00.000000Z").is_err());
        assert!(parse_ts("yesterday").is_err());
        let order = [
            format_ts(datetime!(2024-01-01 00:00:00.9 UTC)).unwrap(),
            format_ts(datetime!(2024-01-01 00:00:01 UTC)).unwrap(),
        ];
        assert!(order[0] < order[1]);
    }
}
