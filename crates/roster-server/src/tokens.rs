//! Roster as a token issuer (SPEC §3.3): key material for the signing keys
//! the domain keeps ([`new_signing_key`]), minting access tokens for an API
//! key ([`mint`]) and verifying them ([`verify`]).
//!
//! A token is a JWS (compact JWT) signed by the model's current signing
//! key, `kid` naming it. Verification is in two parts. The cryptographic
//! one (header, signature, `iss`, `aud`, `exp`, `nbf`, `iat`) is done once
//! per token and cached ([`TokenCache`], keyed by the token's SHA-256,
//! bounded, an entry dropped at the token's expiry). The other one is done
//! at every request, from the published model: the signing key is not
//! revoked, the API key the token came from is neither revoked nor expired,
//! and its user is active. So revoking any of them refuses the token on
//! the next request, not at its expiry.

use crate::error::ApiError;
use crate::state::AppState;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use roster_domain::ops::{NewSigningKey, TOKEN_CLOCK_LEEWAY};
use roster_domain::{
    ApiKey, ApiKeyId, Model, PermissionId, PrivateKey, SigningAlgorithm, SigningKey, SigningKeyId,
    UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// The claim naming the API key a token was issued to (its record id).
pub const KEY_CLAIM: &str = "roster:key";

/// The default lifetime of an issued token.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The longest token Roster reads (a token of ours is about 500 bytes).
const MAX_TOKEN_LEN: usize = 4096;

/// Generates a key pair for a new signing key with aws-lc-rs: PKCS#8 DER
/// and the public JWK (`kid`, `alg`, `use: sig`).
pub fn new_signing_key(algorithm: SigningAlgorithm) -> Result<NewSigningKey, ApiError> {
    let failed =
        |what: &str| ApiError::Internal(format!("generating a signing key: {what}").into());
    let rng = SystemRandom::new();
    let id = SigningKeyId::new();
    let (der, mut jwk) = match algorithm {
        SigningAlgorithm::EdDSA => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| failed("Ed25519"))?;
            let pair =
                Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| failed("Ed25519 PKCS#8"))?;
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            (
                doc.as_ref().to_vec(),
                json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
            )
        }
        SigningAlgorithm::ES256 => {
            let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
            let doc = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| failed("P-256"))?;
            let pair =
                EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).map_err(|_| failed("P-256 PKCS#8"))?;
            // An uncompressed point: 0x04, then X and Y, 32 bytes each.
            let point = pair.public_key().as_ref();
            let (x, y) = match point {
                [4, rest @ ..] if rest.len() == 64 => rest.split_at(32),
                _ => return Err(failed("P-256 public key")),
            };
            (
                doc.as_ref().to_vec(),
                json!({"kty": "EC", "crv": "P-256",
                       "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)}),
            )
        }
    };
    if let Value::Object(m) = &mut jwk {
        m.insert("kid".into(), id.to_string().into());
        m.insert("alg".into(), algorithm.as_str().into());
        m.insert("use".into(), "sig".into());
    }
    let Value::Object(public_jwk) = jwk else {
        return Err(failed("JWK"));
    };
    Ok(NewSigningKey {
        id,
        algorithm,
        private_key: PrivateKey::from_pkcs8_der(der),
        public_jwk,
    })
}

/// The JOSE algorithm of a signing key.
fn jose(alg: SigningAlgorithm) -> Algorithm {
    match alg {
        SigningAlgorithm::EdDSA => Algorithm::EdDSA,
        SigningAlgorithm::ES256 => Algorithm::ES256,
    }
}

/// The claims of a Roster-issued token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Roster's issuer URL.
    pub iss: String,
    /// The user the token acts as (empty when absent: refused as missing).
    #[serde(default)]
    pub sub: String,
    /// Roster's issuer URL again: the token is for Roster's APIs.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// The token's id.
    pub jti: String,
    /// The API key (record id) the token was issued to (empty when
    /// absent: refused as missing).
    #[serde(rename = "roster:key", default)]
    pub key: String,
    /// The permission codes the token is limited to, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// An issued token.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The compact JWS.
    pub token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
}

/// Signs a token for `key` (acting as its user) with signing key `with`,
/// valid `lifetime` from `now`, limited to `scope` when given.
pub fn mint(
    issuer: &str,
    with: &SigningKey,
    key: &ApiKey,
    scope: Option<String>,
    lifetime: Duration,
    now: OffsetDateTime,
) -> Result<Minted, ApiError> {
    let iat = now.unix_timestamp();
    let secs = lifetime.as_secs();
    let claims = Claims {
        iss: issuer.to_owned(),
        sub: key.user_id.to_string(),
        aud: issuer.to_owned(),
        exp: iat.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)),
        iat,
        nbf: iat,
        jti: uuid::Uuid::new_v4().to_string(),
        key: key.id.to_string(),
        scope,
    };
    let alg = jose(with.algorithm);
    let mut header = Header::new(alg);
    header.kid = Some(with.id.to_string());
    let der = with.private_key.pkcs8_der();
    let encoding = match with.algorithm {
        SigningAlgorithm::EdDSA => EncodingKey::from_ed_der(der),
        SigningAlgorithm::ES256 => EncodingKey::from_ec_der(der),
    };
    let token = jsonwebtoken::encode(&header, &claims, &encoding)
        .map_err(|e| ApiError::Internal(format!("signing a token: {e}").into()))?;
    Ok(Minted {
        token,
        expires_in: secs,
    })
}

/// Why a bearer JWT that names Roster as its issuer was refused. The
/// message never holds the token or any secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    /// Not a JWS in compact form, or its header or claims do not parse.
    #[error("the token is malformed")]
    Malformed,
    /// The header names no `kid`.
    #[error("the token's header names no `kid`")]
    MissingKid,
    /// The header has a `crit` member (no extension is understood).
    #[error("the token's header has a `crit` member")]
    CriticalHeader,
    /// No signing key of Roster has the token's `kid`.
    #[error("the token's `kid` names no Roster signing key")]
    UnknownKey,
    /// The header's `alg` is not the one its key is pinned to.
    #[error("the token's `alg` is not its key's")]
    WrongAlgorithm,
    /// The signature does not verify.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// The signing key is revoked.
    #[error("the token's signing key is revoked")]
    KeyRevoked,
    /// The signing key was retired and no longer verifies.
    #[error("the token's signing key no longer verifies")]
    KeyRetired,
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `aud` is not Roster.
    #[error("the token is not for this audience")]
    WrongAudience,
    /// A required claim is absent or malformed.
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    /// The API key the token was issued to is gone, or not its subject's.
    #[error("the token's API key is unknown")]
    UnknownApiKey,
    /// The API key the token was issued to is revoked.
    #[error("the token's API key is revoked")]
    ApiKeyRevoked,
    /// The API key the token was issued to has expired.
    #[error("the token's API key has expired")]
    ApiKeyExpired,
    /// The token's user is disabled, invited or deleted.
    #[error("the token's user is not active")]
    UserInactive,
}

impl TokenRefused {
    /// A stable code for logs and the audit trail (`auth.failed`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "token_malformed",
            Self::MissingKid => "token_missing_kid",
            Self::CriticalHeader => "token_crit",
            Self::UnknownKey => "token_unknown_key",
            Self::WrongAlgorithm => "token_wrong_alg",
            Self::BadSignature => "token_bad_signature",
            Self::KeyRevoked => "token_key_revoked",
            Self::KeyRetired => "token_key_retired",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::WrongAudience => "token_wrong_audience",
            Self::MissingClaim(_) => "token_missing_claim",
            Self::UnknownApiKey => "token_unknown_api_key",
            Self::ApiKeyRevoked => "token_api_key_revoked",
            Self::ApiKeyExpired => "token_api_key_expired",
            Self::UserInactive => "token_user_inactive",
        }
    }
}

/// What a verified token stands for, as checked at this request.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The user it acts as.
    pub user_id: UserId,
    /// The API key it was issued to.
    pub key: Arc<ApiKey>,
    /// The key that signed it.
    pub kid: SigningKeyId,
    /// The permissions it is limited to, from its `scope` claim (`None`:
    /// no claim, its key's).
    pub scope: Option<Arc<[PermissionId]>>,
    /// When it expires.
    pub expires_at: OffsetDateTime,
}

/// What the cache keeps of a token whose signature and times verified.
#[derive(Debug)]
struct Verified {
    user_id: UserId,
    key: ApiKeyId,
    kid: SigningKeyId,
    scope: Option<Arc<[PermissionId]>>,
    exp: i64,
    /// Unix time after which the entry is dropped (`exp` + leeway).
    until: i64,
}

/// Shards of the cache (so that concurrent requests rarely meet on a lock).
const SHARDS: usize = 32;

/// The most tokens the cache holds.
pub const CACHE_CAPACITY: usize = 64 * 1024;

/// The signature verifications of tokens, by the token's SHA-256: bounded
/// (at most [`CACHE_CAPACITY`] entries: a full shard first drops what has
/// expired, then declines new entries, which are then verified each time),
/// an entry dropped at its token's expiry. Only tokens that verified are
/// cached.
#[derive(Debug)]
pub struct TokenCache {
    shards: Box<[Shard]>,
}

/// One shard of the [`TokenCache`]: verified tokens by their SHA-256.
type Shard = Mutex<HashMap<[u8; 32], Arc<Verified>>>;

impl Default for TokenCache {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl TokenCache {
    fn shard(&self, hash: &[u8; 32]) -> Option<&Shard> {
        self.shards.get(usize::from(hash[0]) % SHARDS)
    }

    fn get(&self, hash: &[u8; 32], now: i64) -> Option<Arc<Verified>> {
        let mut shard = self.shard(hash)?.lock().ok()?;
        match shard.get(hash) {
            Some(v) if v.until >= now => Some(v.clone()),
            Some(_) => {
                shard.remove(hash);
                None
            }
            None => None,
        }
    }

    fn insert(&self, hash: [u8; 32], v: Arc<Verified>, now: i64) {
        let Some(Ok(mut shard)) = self.shard(&hash).map(Mutex::lock) else {
            return;
        };
        let room = CACHE_CAPACITY / SHARDS;
        if shard.len() >= room {
            shard.retain(|_, e| e.until >= now);
        }
        if shard.len() < room {
            shard.insert(hash, v);
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|m| m.len()))
            .sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `iss` of a JWT, read without verifying anything (to tell Roster's
/// tokens from other issuers'); `None` when `token` is not a JWT with a
/// string `iss`.
pub fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok().map(|c| c.iss)
}

/// Whether `token` has the shape of a JWS in compact form (three base64url
/// segments, the first a JSON object).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Verifies a bearer token if it is one of Roster's (a JWT whose `iss` is
/// Roster's issuer; `None` otherwise: an API key, or another issuer's
/// token): the signature and times once (then cached), the signing key,
/// the API key and its user at every call.
pub fn verify(
    state: &AppState,
    model: &Model,
    token: &str,
    now: OffsetDateTime,
) -> Option<Result<VerifiedToken, TokenRefused>> {
    if !looks_like_jwt(token) || token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let unix = now.unix_timestamp();
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let v = match state.tokens.get(&hash, unix) {
        Some(v) => v,
        None => {
            if unverified_issuer(token).as_deref() != Some(state.config.issuer.as_str()) {
                return None;
            }
            match verify_signature(model, &state.config.issuer, token, unix) {
                Ok(v) => {
                    let v = Arc::new(v);
                    state.tokens.insert(hash, v.clone(), unix);
                    v
                }
                Err(e) => return Some(Err(e)),
            }
        }
    };
    Some(still_valid(model, &v, now))
}

/// The part of [`verify`] done at every request, from the model.
fn still_valid(
    model: &Model,
    v: &Verified,
    now: OffsetDateTime,
) -> Result<VerifiedToken, TokenRefused> {
    // From here on, what may have changed since the token was issued.
    let signer = model.signing_key(v.kid).ok_or(TokenRefused::UnknownKey)?;
    usable_signer(signer, now)?;
    let key = model.api_key(v.key).ok_or(TokenRefused::UnknownApiKey)?;
    if key.user_id != v.user_id {
        return Err(TokenRefused::UnknownApiKey);
    }
    if key.revoked_at.is_some() {
        return Err(TokenRefused::ApiKeyRevoked);
    }
    if key.expires_at.is_some_and(|e| e <= now) {
        return Err(TokenRefused::ApiKeyExpired);
    }
    if !model.user(v.user_id).is_some_and(|u| u.is_effective()) {
        return Err(TokenRefused::UserInactive);
    }
    Ok(VerifiedToken {
        user_id: v.user_id,
        key: key.clone(),
        kid: v.kid,
        scope: v.scope.clone(),
        expires_at: OffsetDateTime::from_unix_timestamp(v.exp).unwrap_or(now),
    })
}

/// A signing key that may verify at `now`.
fn usable_signer(k: &SigningKey, now: OffsetDateTime) -> Result<(), TokenRefused> {
    if k.revoked_at.is_some() {
        return Err(TokenRefused::KeyRevoked);
    }
    if !k.verifies(now) {
        return Err(TokenRefused::KeyRetired);
    }
    Ok(())
}

/// The cryptographic part of [`verify`]: header (`kid` required, `alg`
/// pinned to the key, no `crit`), signature, `iss`, `aud`, `exp`, `nbf`
/// and `iat` (with [`TOKEN_CLOCK_LEEWAY`]), and the claims' shapes.
fn verify_signature(
    model: &Model,
    issuer: &str,
    token: &str,
    now: i64,
) -> Result<Verified, TokenRefused> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRefused::Malformed)?;
    if header.crit.is_some() {
        return Err(TokenRefused::CriticalHeader);
    }
    let kid = header.kid.as_deref().ok_or(TokenRefused::MissingKid)?;
    let kid: SigningKeyId = kid.parse().map_err(|_| TokenRefused::UnknownKey)?;
    let signer = model.signing_key(kid).ok_or(TokenRefused::UnknownKey)?;
    let alg = jose(signer.algorithm);
    if header.alg != alg {
        return Err(TokenRefused::WrongAlgorithm);
    }
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(Value::Object(signer.public_jwk.clone()))
            .map_err(|_| TokenRefused::UnknownKey)?;
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| TokenRefused::UnknownKey)?;
    let leeway = TOKEN_CLOCK_LEEWAY.whole_seconds();
    let mut validation = Validation::new(alg);
    validation.leeway = u64::try_from(leeway).unwrap_or(0);
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[issuer]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(token, &decoding, &validation)
        .map_err(|e| refusal(e.kind()))?
        .claims;
    if claims.iat > now + leeway {
        return Err(TokenRefused::NotYetValid);
    }
    let user_id: UserId = claims
        .sub
        .parse()
        .map_err(|_| TokenRefused::MissingClaim("sub"))?;
    let key: ApiKeyId = claims
        .key
        .parse()
        .map_err(|_| TokenRefused::MissingClaim(KEY_CLAIM))?;
    // The codes as permissions of the user's organization; a code that
    // names none (a custom permission since deleted) only narrows more.
    let home = model.user(user_id).map(|u| u.organization_id);
    let scope = claims.scope.map(|s| {
        s.split(' ')
            .filter_map(|code| model.permission_by_code(home, code))
            .collect()
    });
    Ok(Verified {
        user_id,
        key,
        kid,
        scope,
        exp: claims.exp,
        until: claims.exp.saturating_add(leeway),
    })
}

/// The refusal a jsonwebtoken error stands for.
fn refusal(kind: &ErrorKind) -> TokenRefused {
    match kind {
        ErrorKind::InvalidSignature => TokenRefused::BadSignature,
        ErrorKind::ExpiredSignature => TokenRefused::Expired,
        ErrorKind::ImmatureSignature => TokenRefused::NotYetValid,
        ErrorKind::InvalidAudience => TokenRefused::WrongAudience,
        ErrorKind::InvalidAlgorithm => TokenRefused::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(c) => TokenRefused::MissingClaim(match c.as_str() {
            "exp" => "exp",
            "nbf" => "nbf",
            "iss" => "iss",
            "aud" => "aud",
            _ => "sub",
        }),
        _ => TokenRefused::Malformed,
    }
}

/// The public keys of every signing key that still verifies at `now`, as
/// a JWK Set.
pub fn jwks(model: &Model, now: OffsetDateTime) -> Value {
    let keys: Vec<Value> = model
        .signing_keys()
        .filter(|k| k.verifies(now))
        .map(|k| Value::Object(k.public_jwk.clone()))
        .collect();
    json!({ "keys": keys })
}

/// The algorithms of the signing keys that verify at `now` (for the
/// discovery document), in a stable order.
pub fn algorithms(model: &Model, now: OffsetDateTime) -> Vec<&'static str> {
    let mut algs: Vec<&'static str> = model
        .signing_keys()
        .filter(|k| k.verifies(now))
        .map(|k| k.algorithm.as_str())
        .collect();
    algs.sort_unstable();
    algs.dedup();
    algs
}
