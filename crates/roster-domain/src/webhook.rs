//! Webhook subscriptions' values: where events are sent (`WebhookUrl`),
//! which (`EventTypes`), and the secrets they are signed with
//! (`WebhookSecret`, Standard Webhooks' `whsec_` + base64). Whether a URL's
//! addresses may be reached is the server's outbound guard's call, at
//! registration and again at every delivery.

use crate::error::DomainError;
use crate::event::TYPES;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

fn invalid(field: &str, message: impl Into<String>) -> DomainError {
    DomainError::invalid(field, message)
}

/// Longest webhook URL, in characters (as for every URL Roster reaches).
pub const MAX_WEBHOOK_URL: usize = crate::idp::MAX_URI;

/// An `http` or `https` URL with a host, no credentials and no fragment,
/// at most [`MAX_WEBHOOK_URL`] characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Parses, naming `field` in errors.
    pub fn parse_field(field: &str, s: &str) -> Result<Self, DomainError> {
        crate::idp::web_url(field, s).map(Self)
    }
    /// Parses with field name `url`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::parse_field("url", s)
    }
    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for WebhookUrl {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<WebhookUrl> for String {
    fn from(v: WebhookUrl) -> Self {
        v.0
    }
}
impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({:?})", self.0)
    }
}
impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which events a subscription receives: every one (`["*"]`) or the types
/// named, each one of [`crate::event::TYPES`] (sorted, without repeats).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub enum EventTypes {
    /// `*`: every event of the organization.
    All,
    /// These types only (1 or more).
    Only(Vec<String>),
}

impl EventTypes {
    /// Parses, naming `field` (and the offending entry) in errors.
    pub fn parse_field(field: &str, v: &[String]) -> Result<Self, DomainError> {
        if v.is_empty() {
            return Err(invalid(
                field,
                "must name at least one event type, or `*` for all",
            ));
        }
        if v.iter().any(|t| t == "*") {
            if v.len() > 1 {
                return Err(invalid(field, "`*` stands alone"));
            }
            return Ok(Self::All);
        }
        let mut out = Vec::with_capacity(v.len());
        for (i, t) in v.iter().enumerate() {
            if !TYPES.contains(&t.as_str()) {
                let shown: String = t.chars().take(64).collect();
                return Err(invalid(
                    &format!("{field}[{i}]"),
                    format!("`{shown}` is not an event type"),
                ));
            }
            out.push(t.clone());
        }
        out.sort();
        out.dedup();
        Ok(Self::Only(out))
    }
    /// The types, `None` for all.
    pub fn types(&self) -> Option<&[String]> {
        match self {
            Self::All => None,
            Self::Only(t) => Some(t),
        }
    }
    /// Whether an event of type `kind` is sent.
    pub fn matches(&self, kind: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(t) => t.iter().any(|x| x == kind),
        }
    }
    /// As the wire shows it.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::All => vec!["*".to_owned()],
            Self::Only(t) => t.clone(),
        }
    }
}
impl TryFrom<Vec<String>> for EventTypes {
    type Error = DomainError;
    fn try_from(v: Vec<String>) -> Result<Self, Self::Error> {
        Self::parse_field("event_types", &v)
    }
}
impl From<EventTypes> for Vec<String> {
    fn from(v: EventTypes) -> Self {
        v.to_vec()
    }
}

/// A signing secret: `whsec_` and the base64 of at least 24 random bytes
/// (Roster makes 32). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookSecretKey(String);

impl WebhookSecretKey {
    /// The prefix Standard Webhooks gives secrets.
    pub const PREFIX: &'static str = "whsec_";

    /// Parses a `whsec_…` secret.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        use base64::Engine;
        let raw = s
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| invalid("secret", "must start with `whsec_`"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| invalid("secret", "must be `whsec_` and base64"))?;
        if bytes.len() < 24 || bytes.len() > 64 {
            return Err(invalid("secret", "must hold 24..64 bytes"));
        }
        Ok(Self(s.to_owned()))
    }
    /// A secret of these random bytes.
    pub fn from_random(bytes: &[u8; 32]) -> Self {
        use base64::Engine;
        Self(format!(
            "{}{}",
            Self::PREFIX,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }
    /// The secret, `whsec_…`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for WebhookSecretKey {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<WebhookSecretKey> for String {
    fn from(v: WebhookSecretKey) -> Self {
        v.0
    }
}
impl fmt::Debug for WebhookSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecretKey(***)")
    }
}

/// One of a subscription's signing secrets: the current one has no
/// expiry; one replaced by a rotation keeps signing until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecret {
    /// The secret.
    pub secret: WebhookSecretKey,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops signing (`None`: the current secret).
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl WebhookSecret {
    /// Whether it still signs at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "https://hooks.example/roster",
            "http://hooks.example:8080/x?y=1",
        ] {
            assert!(WebhookUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://hooks.example/",
            "https://user:pw@hooks.example/",
            "https://user@hooks.example/",
            "https://hooks.example/#frag",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://hooks.example/{}", "a".repeat(2048));
        assert!(WebhookUrl::parse(&long).is_err());
    }

    #[test]
    fn event_types() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            EventTypes::parse_field("event_types", &s(&["*"])).unwrap(),
            EventTypes::All
        );
        assert_eq!(
            EventTypes::parse_field(
                "event_types",
                &s(&["user.created", "grant.created", "user.created"])
            )
            .unwrap()
            .to_vec(),
            s(&["grant.created", "user.created"])
        );
        for bad in [&[][..], &["*", "user.created"], &["user.exploded"]] {
            assert!(EventTypes::parse_field("event_types", &s(bad)).is_err());
        }
        let e = EventTypes::parse_field("event_types", &s(&["user.created", "nope"])).unwrap_err();
        assert_eq!(e.field(), Some("event_types[1]"));
    }

    #[test]
    fn secrets() {
        let k = WebhookSecretKey::from_random(&[7; 32]);
        assert!(k.expose().starts_with("whsec_"));
        assert_eq!(WebhookSecretKey::parse(k.expose()).unwrap(), k);
        assert!(!format!("{k:?}").contains(k.expose()));
        assert!(WebhookSecretKey::parse("whsec_c2hvcnQ=").is_err());
    }
}
