//! Standard Webhooks signatures: `webhook-signature` carries one
//! `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per secret that still
//! signs, space-separated, so a receiver holding the old or the new secret
//! during a rotation verifies either way.

use axum::http::{HeaderMap, HeaderValue};
use roster_domain::WebhookSecretKey;

/// The headers of one delivery attempt of message `id` (the event's id,
/// the same on every retry) at unix time `timestamp`.
pub fn headers<'a>(
    id: &str,
    timestamp: i64,
    body: &[u8],
    secrets: impl IntoIterator<Item = &'a WebhookSecretKey>,
) -> Result<HeaderMap, SignError> {
    let mut signatures = Vec::new();
    for s in secrets {
        let key = standardwebhooks::Webhook::new(s.expose()).map_err(|_| SignError)?;
        signatures.push(key.sign(id, timestamp, body).map_err(|_| SignError)?);
    }
    if signatures.is_empty() {
        return Err(SignError);
    }
    let mut h = HeaderMap::new();
    let value = |s: &str| HeaderValue::from_str(s).map_err(|_| SignError);
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(standardwebhooks::HEADER_WEBHOOK_ID, value(id)?);
    h.insert(
        standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
        value(&timestamp.to_string())?,
    );
    h.insert(
        standardwebhooks::HEADER_WEBHOOK_SIGNATURE,
        value(&signatures.join(" "))?,
    );
    Ok(h)
}

/// A delivery could not be signed (no secret signs, or the body is not
/// UTF-8: neither happens with Roster's own secrets and JSON).
#[derive(Debug, thiserror::Error)]
#[error("the delivery could not be signed")]
pub struct SignError;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    #[test]
    fn every_secret_verifies() {
        let a = WebhookSecretKey::from_random(&[1; 32]);
        let b = WebhookSecretKey::from_random(&[2; 32]);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let body = br#"{"type":"user.created"}"#;
        let h = headers("msg_1", now, body, [&a, &b]).unwrap();
        for k in [&a, &b] {
            let v = standardwebhooks::Webhook::new(k.expose()).unwrap();
            v.verify(body, &h).unwrap();
        }
        let other = WebhookSecretKey::from_random(&[3; 32]);
        let v = standardwebhooks::Webhook::new(other.expose()).unwrap();
        assert!(v.verify(body, &h).is_err());
        assert_eq!(
            h["webhook-signature"].to_str().unwrap().split(' ').count(),
            2
        );
    }
}
