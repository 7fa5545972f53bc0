//! Organizations' identity providers' tokens (SPEC §3.3): from a bearer JWT
//! to the user it acts as, or the typed reason it is refused.
//!
//! A token is tried against the providers whose issuer equals its
//! (unverified) `iss`; several organizations may trust one issuer, and the
//! token is accepted by the first against which it verifies and maps to a
//! user of that provider's organization. Accepted only if: its `alg` is one
//! the provider pins (never `none` or HMAC) and suits the key; the key its
//! `kid` names verifies the signature; `iss` equals the issuer; `aud`
//! contains the audience; `exp` is present and not passed; `nbf` and `iat`
//! are not in the future (60 s leeway); it has no `crit` header. Keys the
//! token itself points at (`jku`, `x5u`, `jwk`, `x5c`) are never fetched or
//! trusted: only the provider's registered keys ([`jwks`]) are.

pub mod jwks;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use jwks::{JwksCache, KeyError};
use roster_domain::ops::{token_user, SubjectError, TokenSubject};
use roster_domain::{
    IdentityProvider, IdentityProviderId, JwsAlgorithm, Model, OrganizationId, UserId,
};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Largest token accepted, in bytes.
pub const MAX_TOKEN: usize = 16 * 1024;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 60;

/// A token that verified and maps to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The user it acts as.
    pub user_id: UserId,
    /// That user's organization, the provider's.
    pub organization_id: OrganizationId,
    /// The provider that vouched for it.
    pub provider_id: IdentityProviderId,
    /// Its issuer.
    pub issuer: String,
}

/// Why a bearer JWT was refused. The message names claims and headers, never
/// the token or a secret; `issuer()` says whose token it was, where known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// Not a well-formed JWS in compact form, or over [`MAX_TOKEN`].
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// A `crit` header: Roster understands no extension, so it must refuse.
    #[error("the token has a `crit` header, which is not supported")]
    CriticalHeader,
    /// `alg` is `none`, HMAC, unknown, or not among the provider's algorithms.
    #[error("the token's algorithm `{alg}` is not accepted")]
    AlgorithmNotAllowed {
        /// The `alg` header, cut short.
        alg: String,
    },
    /// No `iss`, or no identity provider has this issuer.
    #[error("the token's issuer is not a registered identity provider")]
    UnknownIssuer {
        /// The `iss` claim, if any.
        issuer: Option<String>,
    },
    /// The provider's keys could not be obtained (and none are cached).
    #[error("the identity provider's keys are unavailable")]
    KeysUnavailable {
        /// The issuer.
        issuer: String,
    },
    /// No key of the provider has the token's `kid`.
    #[error("no key of the identity provider matches the token's `kid`")]
    UnknownKey {
        /// The issuer.
        issuer: String,
    },
    /// The key named is not of the type the token's algorithm needs.
    #[error("the token's algorithm does not match its key")]
    KeyMismatch {
        /// The issuer.
        issuer: String,
    },
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature {
        /// The issuer.
        issuer: String,
    },
    /// `aud` does not contain the provider's audience.
    #[error("the token's audience is not accepted")]
    WrongAudience {
        /// The issuer.
        issuer: String,
    },
    /// A required claim (`exp`, `iss`, `aud`) is missing or malformed.
    #[error("the token's `{claim}` claim is missing or malformed")]
    BadClaim {
        /// The issuer.
        issuer: String,
        /// The claim.
        claim: String,
    },
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired {
        /// The issuer.
        issuer: String,
    },
    /// `nbf` is in the future.
    #[error("the token is not valid yet")]
    NotYetValid {
        /// The issuer.
        issuer: String,
    },
    /// `iat` is in the future.
    #[error("the token was issued in the future")]
    IssuedInFuture {
        /// The issuer.
        issuer: String,
    },
    /// It verified, but names no (active) user of the provider's organization.
    #[error("{reason}")]
    Subject {
        /// The issuer.
        issuer: String,
        /// Why.
        reason: SubjectError,
    },
}

impl TokenRejection {
    /// The token's issuer, where it got that far (for throttling and audit).
    pub fn issuer(&self) -> Option<&str> {
        match self {
            Self::Malformed | Self::CriticalHeader | Self::AlgorithmNotAllowed { .. } => None,
            Self::UnknownIssuer { issuer } => issuer.as_deref(),
            Self::KeysUnavailable { issuer }
            | Self::UnknownKey { issuer }
            | Self::KeyMismatch { issuer }
            | Self::BadSignature { issuer }
            | Self::WrongAudience { issuer }
            | Self::BadClaim { issuer, .. }
            | Self::Expired { issuer }
            | Self::NotYetValid { issuer }
            | Self::IssuedInFuture { issuer }
            | Self::Subject { issuer, .. } => Some(issuer),
        }
    }

    /// How far verification got: of the refusals by several providers of
    /// one issuer, the furthest is reported.
    fn stage(&self) -> u8 {
        match self {
            Self::Malformed | Self::CriticalHeader | Self::UnknownIssuer { .. } => 0,
            Self::AlgorithmNotAllowed { .. } => 1,
            Self::KeysUnavailable { .. } => 2,
            Self::UnknownKey { .. } | Self::KeyMismatch { .. } => 3,
            Self::BadSignature { .. } => 4,
            Self::WrongAudience { .. }
            | Self::BadClaim { .. }
            | Self::Expired { .. }
            | Self::NotYetValid { .. }
            | Self::IssuedInFuture { .. } => 5,
            Self::Subject { .. } => 6,
        }
    }
}

/// Whether a bearer token has the shape of a JWS in compact form (three
/// base64url segments): such a token is verified here, anything else is an
/// API key secret.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut n = 0;
    for part in token.split('.') {
        n += 1;
        if n > 3
            || !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return false;
        }
    }
    n == 3
}

/// The parts of a token read before any verification.
struct Unverified {
    alg: String,
    kid: Option<String>,
    iss: Option<String>,
}

fn b64_json(part: &str) -> Result<Map<String, Value>, TokenRejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenRejection::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenRejection::Malformed)
}

fn peek(token: &str) -> Result<Unverified, TokenRejection> {
    if token.len() > MAX_TOKEN || !looks_like_jwt(token) {
        return Err(TokenRejection::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p)) = (parts.next(), parts.next()) else {
        return Err(TokenRejection::Malformed);
    };
    let header = b64_json(h)?;
    let payload = b64_json(p)?;
    if header.contains_key("crit") {
        return Err(TokenRejection::CriticalHeader);
    }
    let text =
        |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Unverified {
        alg: text(&header, "alg").ok_or(TokenRejection::Malformed)?,
        kid: text(&header, "kid"),
        iss: text(&payload, "iss"),
    })
}

/// The claims read once the signature verified.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: Value,
    #[serde(default)]
    iat: Value,
}

fn jwt_algorithm(a: JwsAlgorithm) -> Algorithm {
    match a {
        JwsAlgorithm::Rs256 => Algorithm::RS256,
        JwsAlgorithm::Rs384 => Algorithm::RS384,
        JwsAlgorithm::Rs512 => Algorithm::RS512,
        JwsAlgorithm::Ps256 => Algorithm::PS256,
        JwsAlgorithm::Ps384 => Algorithm::PS384,
        JwsAlgorithm::Ps512 => Algorithm::PS512,
        JwsAlgorithm::Es256 => Algorithm::ES256,
        JwsAlgorithm::Es384 => Algorithm::ES384,
        JwsAlgorithm::EdDsa => Algorithm::EdDSA,
    }
}

/// Verifies identity providers' tokens, with their keys cached.
#[derive(Debug)]
pub struct IdentityProviders {
    cache: JwksCache,
}

impl IdentityProviders {
    /// A verifier fetching keys through `cache`.
    pub fn new(cache: JwksCache) -> Self {
        Self { cache }
    }

    /// Verifies `token` against the providers of its issuer in `model`.
    pub async fn verify(
        &self,
        model: &Model,
        token: &str,
    ) -> Result<VerifiedToken, TokenRejection> {
        let u = peek(token)?;
        let Some(alg) = JwsAlgorithm::from_name(&u.alg) else {
            return Err(TokenRejection::AlgorithmNotAllowed {
                alg: u.alg.chars().take(16).collect(),
            });
        };
        let unknown = || TokenRejection::UnknownIssuer {
            issuer: u.iss.as_ref().map(|i| i.chars().take(256).collect()),
        };
        let iss = u.iss.as_deref().ok_or_else(unknown)?;
        let providers: Vec<_> = model.identity_providers_by_issuer(iss).cloned().collect();
        let mut worst: Option<TokenRejection> = None;
        for p in providers {
            match self
                .verify_with(model, &p, token, alg, u.kid.as_deref())
                .await
            {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if worst.as_ref().is_none_or(|w| e.stage() > w.stage()) {
                        worst = Some(e);
                    }
                }
            }
        }
        Err(worst.unwrap_or_else(unknown))
    }

    async fn verify_with(
        &self,
        model: &Model,
        p: &IdentityProvider,
        token: &str,
        alg: JwsAlgorithm,
        kid: Option<&str>,
    ) -> Result<VerifiedToken, TokenRejection> {
        let issuer = || p.issuer.as_str().to_owned();
        if !p.algorithms.allows(alg) {
            return Err(TokenRejection::AlgorithmNotAllowed {
                alg: alg.as_str().to_owned(),
            });
        }
        let keys = self
            .cache
            .keys(model, p, kid)
            .await
            .ok_or_else(|| TokenRejection::KeysUnavailable { issuer: issuer() })?;
        let key = keys.select(alg, kid).map_err(|e| match e {
            KeyError::Unknown => TokenRejection::UnknownKey { issuer: issuer() },
            KeyError::Mismatch => TokenRejection::KeyMismatch { issuer: issuer() },
        })?;
        let mut v = Validation::new(jwt_algorithm(alg));
        v.leeway = LEEWAY_SECS;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.validate_aud = true;
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.set_issuer(&[p.issuer.as_str()]);
        v.set_audience(&[p.audience.as_str()]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &v).map_err(|e| {
            let issuer = issuer();
            match e.into_kind() {
                ErrorKind::InvalidSignature => TokenRejection::BadSignature { issuer },
                ErrorKind::ExpiredSignature => TokenRejection::Expired { issuer },
                ErrorKind::ImmatureSignature => TokenRejection::NotYetValid { issuer },
                ErrorKind::InvalidAudience => TokenRejection::WrongAudience { issuer },
                ErrorKind::InvalidIssuer => TokenRejection::BadClaim {
                    issuer,
                    claim: "iss".into(),
                },
                ErrorKind::MissingRequiredClaim(c) | ErrorKind::InvalidClaimFormat(c) => {
                    TokenRejection::BadClaim { issuer, claim: c }
                }
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    TokenRejection::KeyMismatch { issuer }
                }
                _ => TokenRejection::Malformed,
            }
        })?;
        let c = data.claims;
        let now = jsonwebtoken::get_current_timestamp();
        let iat = match &c.iat {
            Value::Null => None,
            Value::Number(n) => Some(n.as_f64().ok_or_else(|| TokenRejection::BadClaim {
                issuer: issuer(),
                claim: "iat".into(),
            })?),
            _ => {
                return Err(TokenRejection::BadClaim {
                    issuer: issuer(),
                    claim: "iat".into(),
                })
            }
        };
        if iat.is_some_and(|t| t > (now + LEEWAY_SECS) as f64) {
            return Err(TokenRejection::IssuedInFuture { issuer: issuer() });
        }
        // Some providers send `"true"` as a string.
        let email_verified = matches!(&c.email_verified, Value::Bool(true))
            || c.email_verified.as_str() == Some("true");
        let user = token_user(
            model,
            p,
            TokenSubject {
                sub: c.sub.as_deref(),
                email: c.email.as_deref(),
                email_verified,
            },
        )
        .map_err(|reason| TokenRejection::Subject {
            issuer: issuer(),
            reason,
        })?;
        Ok(VerifiedToken {
            user_id: user.id,
            organization_id: user.organization_id,
            provider_id: p.id,
            issuer: issuer(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."));
        assert!(looks_like_jwt("eyJh.eyJp.c2ln"));
        assert!(!looks_like_jwt("roster_0011_aabb"));
        assert!(!looks_like_jwt("47d4yfbwymedhiudj384702984nakju4hajh395d"));
        assert!(!looks_like_jwt("eyJh.eyJp"));
        assert!(!looks_like_jwt("eyJh.eyJp.c2ln.x"));
        assert!(!looks_like_jwt("eyJh.ey+p.c2ln"));
    }

    #[test]
    fn crit_and_unknown_algorithms_are_refused_before_any_key() {
        let enc = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let t = format!(
            "{}.{}.c2ln",
            enc(serde_json::json!({"alg": "RS256", "crit": ["exp"]})),
            enc(serde_json::json!({"iss": "x"}))
        );
        assert_eq!(peek(&t).err(), Some(TokenRejection::CriticalHeader));
    }
}
