//! Parsing newtypes: each constructor is the only validation, so past the
//! edge of the system an invalid email, name or code cannot exist.

use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

fn invalid(field: &str, message: impl Into<String>) -> DomainError {
    DomainError::invalid(field, message)
}

/// An email address: at most 255 characters, one `@`, a dotted domain, no
/// whitespace. Compared case-insensitively through [`Email::key`].
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Maximum length in characters.
    pub const MAX: usize = 255;

    /// Parses an email address. `field` names the input in errors.
    pub fn parse_field(field: &str, s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(invalid(field, "must not be empty"));
        }
        if s.chars().count() > Self::MAX {
            return Err(invalid(
                field,
                format!("must be at most {} characters", Self::MAX),
            ));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(invalid(
                field,
                format!("`{s}` is not a valid email address"),
            ));
        };
        let ok = !local.is_empty()
            && local.len() <= 64
            && !domain.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '<' || c == '>');
        if !ok {
            return Err(invalid(
                field,
                format!("`{s}` is not a valid email address"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// Parses with the field name `email`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::parse_field("email", s)
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive uniqueness key.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for Email {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<Email> for String {
    fn from(e: Email) -> Self {
        e.0
    }
}
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What every text newtype `$name(String)` with a `parse_field(field, s)`
/// has besides: `parse` (naming `$default_field`), `as_str`, serde through
/// `String`, `Debug` and `Display`.
macro_rules! text_impls {
    ($name:ident, $default_field:expr) => {
        impl $name {
            /// Parses with the default field name.
            pub fn parse(s: &str) -> Result<Self, DomainError> {
                Self::parse_field($default_field, s)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> Self {
                v.0
            }
        }
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use text_impls;

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr, $default_field:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Minimum length in characters.
            pub const MIN: usize = $min;
            /// Maximum length in characters.
            pub const MAX: usize = $max;

            /// Parses, naming `field` in errors.
            pub fn parse_field(field: &str, s: &str) -> Result<Self, DomainError> {
                let n = s.chars().count();
                if s.trim().is_empty() && Self::MIN > 0 {
                    return Err(invalid(field, "must not be blank"));
                }
                if !(Self::MIN..=Self::MAX).contains(&n) {
                    return Err(invalid(
                        field,
                        format!("must be {}..{} characters, got {n}", Self::MIN, Self::MAX),
                    ));
                }
                if s.chars().any(|c| c.is_control()) {
                    return Err(invalid(field, "must not contain control characters"));
                }
                Ok(Self(s.to_owned()))
            }
        }
        text_impls!($name, $default_field);
    };
}

bounded_text!(
    /// A person's first or last name: 1..100 characters.
    PersonName, 1, 100, "name"
);
bounded_text!(
    /// A display name of an organization, account, role or key: 1..200 characters.
    DisplayName, 1, 200, "name"
);
bounded_text!(
    /// A free-text description: 0..1000 characters.
    Description, 0, 1000, "description"
);
bounded_text!(
    /// An identity provider's name: 1..100 characters, unique within its
    /// organization. It is also the key of the users' `external_ids` entry
    /// that a token's `sub` is matched against.
    ProviderName, 1, 100, "name"
);

fn is_slug_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

/// An organization slug: 1..63 of `a-z 0-9 - _`, starting with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    /// Parses, naming `field` in errors.
    pub fn parse_field(field: &str, s: &str) -> Result<Self, DomainError> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.chars().all(is_slug_char)
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !ok {
            return Err(invalid(
                field,
                format!(
                    "`{}` must be 1..63 characters of a-z, 0-9, `-`, `_`",
                    truncate(s)
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }
    /// Parses with field name `slug`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::parse_field("slug", s)
    }
    /// Derives a slug from a display name (lowercased, other characters to `-`).
    pub fn from_name(name: &str) -> Self {
        let mut out = String::new();
        for c in name.chars().flat_map(|c| c.to_lowercase()) {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
            if out.len() >= 48 {
                break;
            }
        }
        let out = out.trim_end_matches('-').to_owned();
        Self(if out.is_empty() {
            "org".to_owned()
        } else {
            out
        })
    }
    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for Slug {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<Slug> for String {
    fn from(v: Slug) -> Self {
        v.0
    }
}
impl fmt::Debug for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slug({})", self.0)
    }
}
impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A role id: a slug of `a-z 0-9 - _`, 1..64 characters. Built-in role ids
/// are global; custom ones are unique within their organization.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleId(String);

impl RoleId {
    /// Parses, naming `field` in errors.
    pub fn parse_field(field: &str, s: &str) -> Result<Self, DomainError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars().all(is_slug_char)
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !ok {
            return Err(invalid(
                field,
                format!(
                    "`{}` is not a role id (1..64 characters of a-z, 0-9, `-`, `_`)",
                    truncate(s)
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }
    /// Parses with field name `role_id`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::parse_field("role_id", s)
    }
    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for RoleId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<RoleId> for String {
    fn from(v: RoleId) -> Self {
        v.0
    }
}
impl fmt::Debug for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoleId({})", self.0)
    }
}
impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A permission code such as `grants:write`: 1..100 characters of
/// `a-z 0-9 _ - . :`, starting with a letter.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PermissionCode(String);

impl PermissionCode {
    /// Parses, naming `field` in errors.
    pub fn parse_field(field: &str, s: &str) -> Result<Self, DomainError> {
        let ok = !s.is_empty()
            && s.len() <= 100
            && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.' | ':')
            });
        if !ok {
            return Err(invalid(
                field,
                format!(
                    "`{}` is not a permission code (e.g. `users:read`)",
                    truncate(s)
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }
    /// Parses with field name `permission`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::parse_field("permission", s)
    }
    /// The code text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for PermissionCode {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<PermissionCode> for String {
    fn from(v: PermissionCode) -> Self {
        v.0
    }
}
impl fmt::Debug for PermissionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PermissionCode({})", self.0)
    }
}
impl fmt::Display for PermissionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number as `{prefix, number}`, both optional, each ≤ 32 characters
/// of digits, spaces, `+`, `-`, `(`, `)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    /// Country prefix such as `+34`.
    pub prefix: Option<String>,
    /// The subscriber number.
    pub number: Option<String>,
}

impl Phone {
    /// Validates both parts, naming `field.prefix` / `field.number`.
    pub fn validate(&self, field: &str) -> Result<(), DomainError> {
        for (name, v) in [("prefix", &self.prefix), ("number", &self.number)] {
            if let Some(v) = v {
                let ok = !v.is_empty()
                    && v.len() <= 32
                    && v.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
                if !ok {
                    return Err(invalid(
                        &format!("{field}.{name}"),
                        "must be 1..32 characters of digits, spaces, `+`, `-`, `(`, `)`",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Number formatting preferences.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberFormat {
    /// Decimal separator, e.g. `.`.
    pub decimal_separator: Option<String>,
    /// Group separator, e.g. `,`.
    pub group_separator: Option<String>,
}

/// User settings: culture, language, time zone and formats. Each text is ≤ 64
/// characters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Culture code such as `en-US`.
    pub culture_code: Option<String>,
    /// Language code such as `en`.
    pub language_code: Option<String>,
    /// IANA time zone such as `Europe/Madrid`.
    pub time_zone: Option<String>,
    /// Date format such as `yyyy-MM-dd`.
    pub date_format: Option<String>,
    /// Time format such as `HH:mm`.
    pub time_format: Option<String>,
    /// Number format.
    pub number_format: Option<NumberFormat>,
}

impl Settings {
    /// Validates every text, naming `field.<name>`.
    pub fn validate(&self, field: &str) -> Result<(), DomainError> {
        let nf = self.number_format.clone().unwrap_or_default();
        for (name, v) in [
            ("culture_code", &self.culture_code),
            ("language_code", &self.language_code),
            ("time_zone", &self.time_zone),
            ("date_format", &self.date_format),
            ("time_format", &self.time_format),
            ("number_format.decimal_separator", &nf.decimal_separator),
            ("number_format.group_separator", &nf.group_separator),
        ] {
            if let Some(v) = v {
                if v.chars().count() > 64 || v.chars().any(|c| c.is_control()) {
                    return Err(invalid(
                        &format!("{field}.{name}"),
                        "must be at most 64 printable characters",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// External system ids: at most 50 entries, keys 1..100 and values ≤ 500 characters.
pub type ExternalIds = BTreeMap<String, String>;

/// Validates an external id map, naming `field.<key>`.
pub fn validate_external_ids(field: &str, ids: &ExternalIds) -> Result<(), DomainError> {
    if ids.len() > 50 {
        return Err(invalid(field, "must have at most 50 entries"));
    }
    for (k, v) in ids {
        if k.is_empty() || k.chars().count() > 100 {
            return Err(invalid(field, "keys must be 1..100 characters"));
        }
        if v.chars().count() > 500 {
            return Err(invalid(
                &format!("{field}.{}", truncate(k)),
                "must be at most 500 characters",
            ));
        }
    }
    Ok(())
}

/// Cuts user input to a printable length for error messages.
pub fn truncate(s: &str) -> String {
    if s.chars().count() > 64 {
        let mut t: String = s.chars().take(61).collect();
        t.push_str("...");
        t
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(Email::parse("a@b.co").is_ok());
        assert_eq!(
            Email::parse("Ann@Example.COM").unwrap().key(),
            "ann@example.com"
        );
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a b@c.de", "a@@b.co", "a@.b.co", "a@b..co",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn names_and_codes() {
        assert!(PersonName::parse("").is_err());
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
        assert!(PersonName::parse(&"é".repeat(100)).is_ok());
        assert!(RoleId::parse("billing-admin").is_ok());
        assert!(RoleId::parse("Billing").is_err());
        assert!(PermissionCode::parse("account:role:write").is_ok());
        assert!(PermissionCode::parse("9x").is_err());
        assert_eq!(Slug::from_name("Acme, Inc.").as_str(), "acme-inc");
    }
}
