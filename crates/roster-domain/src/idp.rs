//! What an organization's identity provider is made of (SPEC §3.3): the
//! issuer and audience its tokens must name, where its public keys come
//! from (a JWKS URL or an inline JWK Set), the algorithms it may sign with,
//! and which claim names the user. Parsing newtypes: past the edge, an HMAC
//! algorithm, `none`, a private or symmetric key, or a key URL that is not
//! HTTP(S) cannot exist.

use crate::error::DomainError;
use crate::values::{text_impls, truncate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

fn invalid(field: &str, message: impl Into<String>) -> DomainError {
    DomainError::invalid(field, message)
}

/// Longest issuer, audience or JWKS URL, in characters.
pub const MAX_URI: usize = 2048;

macro_rules! claim_text {
    ($(#[$doc:meta])* $name:ident, $default_field:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses, naming `field` in errors: 1..2048 characters, no
            /// whitespace or control characters (it is compared exactly).
            pub fn parse_field(field: &str, s: &str) -> Result<Self, DomainError> {
                let n = s.chars().count();
                if n == 0 {
                    return Err(invalid(field, "must not be empty"));
                }
                if n > MAX_URI {
                    return Err(invalid(field, format!("must be at most {MAX_URI} characters")));
                }
                if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(invalid(field, "must not contain whitespace or control characters"));
                }
                Ok(Self(s.to_owned()))
            }
        }
        text_impls!($name, $default_field);
    };
}

claim_text!(
    /// A token issuer (`iss`), usually the provider's URL. Tokens are matched
    /// to providers by exact equality with it.
    Issuer,
    "issuer"
);
claim_text!(
    /// The audience (`aud`) a provider's tokens must contain to be accepted.
    Audience,
    "audience"
);

/// An `http` or `https` URL with a host, no credentials and no fragment,
/// at most [`MAX_URI`] characters as given and as normalized: the rules of
/// every URL Roster is asked to reach (a provider's keys, a webhook's
/// endpoint), normalized by the `url` crate. Whether its addresses may be
/// reached is the server's outbound guard's call.
pub(crate) fn web_url(field: &str, s: &str) -> Result<String, DomainError> {
    let too_long = || invalid(field, format!("must be at most {MAX_URI} characters"));
    if s.chars().count() > MAX_URI {
        return Err(too_long());
    }
    let u = url::Url::parse(s).map_err(|e| invalid(field, format!("not a URL: {e}")))?;
    if !matches!(u.scheme(), "https" | "http") {
        return Err(invalid(field, "must be an `http` or `https` URL"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(invalid(field, "must name a host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(invalid(field, "must not carry credentials"));
    }
    if u.fragment().is_some() {
        return Err(invalid(field, "must not have a fragment"));
    }
    let out = u.to_string();
    if out.chars().count() > MAX_URI {
        return Err(too_long());
    }
    Ok(out)
}

/// Where a provider publishes its keys: an `http` or `https` URL with a
/// host, no credentials and no fragment. Whether Roster may fetch it (its
/// scheme and addresses) is the server's outbound guard's call.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JwksUri(String);

impl JwksUri {
    /// Parses, naming `field` in errors.
    pub fn parse_field(field: &str, s: &str) -> Result<Self, DomainError> {
        web_url(field, s).map(Self)
    }
    /// Parses with field name `jwks_uri`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::parse_field("jwks_uri", s)
    }
    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for JwksUri {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<JwksUri> for String {
    fn from(v: JwksUri) -> Self {
        v.0
    }
}
impl fmt::Debug for JwksUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JwksUri({:?})", self.0)
    }
}
impl fmt::Display for JwksUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Members of a JWK that hold private or symmetric key material (RFC 7518
/// §6.2.2, §6.3.2, §6.4.1): a provider publishes public keys only.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// An inline JWK Set (RFC 7517 §5) of public keys: an object whose `keys`
/// holds 1..100 keys of type `RSA`, `EC` or `OKP`, none with private
/// members, at most 64 KiB as JSON. Whether each key decodes is the
/// server's JOSE library's call.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "serde_json::Value")]
pub struct Jwks(serde_json::Value);

impl Jwks {
    /// Most keys in a set.
    pub const MAX_KEYS: usize = 100;
    /// Largest set, as JSON.
    pub const MAX_BYTES: usize = 64 * 1024;

    /// Parses, naming `field` (and the offending key) in errors.
    pub fn parse_field(field: &str, v: &serde_json::Value) -> Result<Self, DomainError> {
        let Some(obj) = v.as_object() else {
            return Err(invalid(field, "must be a JWK Set: an object with `keys`"));
        };
        let Some(keys) = obj.get("keys").and_then(|k| k.as_array()) else {
            return Err(invalid(
                &format!("{field}.keys"),
                "must be an array of JWKs",
            ));
        };
        if keys.is_empty() || keys.len() > Self::MAX_KEYS {
            return Err(invalid(
                &format!("{field}.keys"),
                format!("must hold 1..{} keys", Self::MAX_KEYS),
            ));
        }
        for (i, key) in keys.iter().enumerate() {
            let at = format!("{field}.keys[{i}]");
            let Some(key) = key.as_object() else {
                return Err(invalid(&at, "must be a JWK object"));
            };
            match key.get("kty").and_then(|k| k.as_str()) {
                Some("RSA" | "EC" | "OKP") => {}
                Some("oct") => {
                    return Err(invalid(
                        &format!("{at}.kty"),
                        "symmetric keys (`oct`) are not accepted: tokens must be signed with a private key only the provider holds",
                    ))
                }
                Some(other) => {
                    return Err(invalid(
                        &format!("{at}.kty"),
                        format!("`{}` is not one of `RSA`, `EC`, `OKP`", truncate(other)),
                    ))
                }
                None => return Err(invalid(&format!("{at}.kty"), "is required")),
            }
            if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| key.contains_key(**m)) {
                return Err(invalid(
                    &format!("{at}.{m}"),
                    "private key material is not accepted: publish the public key only",
                ));
            }
        }
        if v.to_string().len() > Self::MAX_BYTES {
            return Err(invalid(
                field,
                format!("must be at most {} bytes as JSON", Self::MAX_BYTES),
            ));
        }
        Ok(Self(v.clone()))
    }
    /// The set as JSON.
    pub fn as_json(&self) -> &serde_json::Value {
        &self.0
    }
}
impl TryFrom<serde_json::Value> for Jwks {
    type Error = DomainError;
    fn try_from(v: serde_json::Value) -> Result<Self, Self::Error> {
        Self::parse_field("jwks", &v)
    }
}
impl From<Jwks> for serde_json::Value {
    fn from(v: Jwks) -> Self {
        v.0
    }
}
impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0["keys"].as_array().map_or(0, Vec::len);
        write!(f, "Jwks({n} keys)")
    }
}

/// Where a provider's public keys come from: exactly one of a URL Roster
/// fetches (and caches) or a set given inline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// Fetched from this URL.
    JwksUri(JwksUri),
    /// Given inline.
    Jwks(Jwks),
}

/// An asymmetric JWS algorithm (RFC 7518 §3.1, RFC 8037) a provider may
/// sign with. HMAC and `none` are not among them: a key a provider
/// publishes must not be able to sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum JwsAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// Ed25519.
    EdDsa,
}

impl JwsAlgorithm {
    /// Every accepted algorithm.
    pub const ALL: [Self; 9] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::EdDsa,
    ];
    /// What a provider may sign with when its registration names nothing.
    pub const DEFAULT: [Self; 3] = [Self::Rs256, Self::Es256, Self::EdDsa];

    /// The JOSE name (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
        }
    }
    /// The algorithm a JOSE name names, if it is an accepted one.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
    /// Parses, naming `field` in errors.
    pub fn parse_field(field: &str, s: &str) -> Result<Self, DomainError> {
        if let Some(a) = Self::from_name(s) {
            return Ok(a);
        }
        let why = if s.eq_ignore_ascii_case("none") {
            "`none` is never accepted: tokens must be signed".to_owned()
        } else if s.starts_with("HS") {
            format!("`{}` is a symmetric (HMAC) algorithm, never accepted: a provider signs with a private key and publishes the public one", truncate(s))
        } else {
            format!(
                "`{}` is not one of {}",
                truncate(s),
                Self::ALL.map(|a| format!("`{}`", a.as_str())).join(", ")
            )
        };
        Err(invalid(field, why))
    }
    /// The key type (`kty`) that verifies it, and the curve (`crv`) where
    /// the type has several.
    pub fn key_type(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512 => {
                ("RSA", None)
            }
            Self::Es256 => ("EC", Some("P-256")),
            Self::Es384 => ("EC", Some("P-384")),
            Self::EdDsa => ("OKP", Some("Ed25519")),
        }
    }
}
impl TryFrom<String> for JwsAlgorithm {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse_field("algorithms", &s)
    }
}
impl From<JwsAlgorithm> for String {
    fn from(v: JwsAlgorithm) -> Self {
        v.as_str().to_owned()
    }
}
impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The algorithms a provider's tokens may use: a non-empty set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeSet<JwsAlgorithm>", into = "BTreeSet<JwsAlgorithm>")]
pub struct Algorithms(BTreeSet<JwsAlgorithm>);

impl Algorithms {
    /// Parses a list of JOSE names, naming `field[i]` in errors.
    pub fn parse_field(field: &str, names: &[String]) -> Result<Self, DomainError> {
        if names.is_empty() {
            return Err(invalid(field, "must name at least one algorithm"));
        }
        if names.len() > JwsAlgorithm::ALL.len() {
            return Err(invalid(
                field,
                format!("must name at most {} algorithms", JwsAlgorithm::ALL.len()),
            ));
        }
        names
            .iter()
            .enumerate()
            .map(|(i, n)| JwsAlgorithm::parse_field(&format!("{field}[{i}]"), n))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }
    /// Whether `alg` is allowed.
    pub fn allows(&self, alg: JwsAlgorithm) -> bool {
        self.0.contains(&alg)
    }
    /// The algorithms, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = JwsAlgorithm> + '_ {
        self.0.iter().copied()
    }
}
impl Default for Algorithms {
    fn default() -> Self {
        Self(JwsAlgorithm::DEFAULT.into_iter().collect())
    }
}
impl TryFrom<BTreeSet<JwsAlgorithm>> for Algorithms {
    type Error = DomainError;
    fn try_from(s: BTreeSet<JwsAlgorithm>) -> Result<Self, Self::Error> {
        if s.is_empty() {
            return Err(invalid("algorithms", "must name at least one algorithm"));
        }
        Ok(Self(s))
    }
}
impl From<Algorithms> for BTreeSet<JwsAlgorithm> {
    fn from(v: Algorithms) -> Self {
        v.0
    }
}

/// Which claim of a verified token names the user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserClaim {
    /// `sub`: the user of the provider's organization whose `external_ids`
    /// entry named after the provider equals it.
    #[default]
    Sub,
    /// `email`: the user of the provider's organization with that email,
    /// only when the token's `email_verified` is true.
    Email,
}

impl UserClaim {
    /// Parses `sub` or `email`.
    pub fn parse(field: &str, s: &str) -> Result<Self, DomainError> {
        match s {
            "sub" => Ok(Self::Sub),
            "email" => Ok(Self::Email),
            _ => Err(invalid(
                field,
                format!("`{}` is not one of `sub`, `email`", truncate(s)),
            )),
        }
    }
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sub => "sub",
            Self::Email => "email",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn algorithms_refuse_hmac_and_none() {
        for bad in ["HS256", "HS512", "none", "None", "RS1", ""] {
            assert!(JwsAlgorithm::parse_field("a", bad).is_err(), "{bad}");
        }
        assert_eq!(
            JwsAlgorithm::parse_field("a", "EdDSA"),
            Ok(JwsAlgorithm::EdDsa)
        );
        assert!(Algorithms::parse_field("algorithms", &[]).is_err());
        let err = Algorithms::parse_field("algorithms", &["RS256".into(), "HS256".into()]);
        assert_eq!(
            err.err()
                .and_then(|e| e.field().map(str::to_owned))
                .as_deref(),
            Some("algorithms[1]")
        );
    }

    #[test]
    fn jwks_must_hold_public_keys() {
        let ok = json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "1"}]});
        assert!(Jwks::parse_field("jwks", &ok).is_ok());
        let private =
            json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}]});
        let e = Jwks::parse_field("jwks", &private).err();
        assert_eq!(e.as_ref().and_then(|e| e.field()), Some("jwks.keys[0].d"));
        let oct = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]});
        assert_eq!(
            Jwks::parse_field("jwks", &oct)
                .err()
                .as_ref()
                .and_then(|e| e.field()),
            Some("jwks.keys[0].kty")
        );
        assert!(Jwks::parse_field("jwks", &json!({"keys": []})).is_err());
        assert!(Jwks::parse_field("jwks", &json!([1])).is_err());
    }

    #[test]
    fn jwks_uri_is_http_with_a_host_and_no_credentials() {
        assert!(JwksUri::parse("https://idp.example/.well-known/jwks.json").is_ok());
        assert!(JwksUri::parse("http://127.0.0.1:8080/jwks").is_ok());
        for bad in [
            "ftp://idp.example/jwks",
            "https://user:pw@idp.example/jwks",
            "https://idp.example/jwks#x",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(JwksUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn issuers_are_exact_text() {
        assert!(Issuer::parse("https://idp.example").is_ok());
        assert!(Issuer::parse("").is_err());
        assert!(Issuer::parse("a b").is_err());
    }
}
