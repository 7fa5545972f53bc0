//! Authentication: from a presented credential to the user it acts as, in
//! one place for every surface. A surface says where its callers present
//! their credential ([`Credentials`], its `Surface::CREDENTIALS`);
//! [`resolve`] reads it there and resolves it. A new kind of credential
//! is a change to this file alone.
//!
//! Roster's secrets look like `roster_<key_id>_<secret>`: the key id is
//! looked up and the SHA-256 of the whole token compared in constant time.
//! Tokens of another shape (imported or demo keys, e.g. Crux's example
//! token) are found by the hash of the token itself. Either way the key must
//! be neither revoked nor expired and its user active.
//!
//! A bearer token shaped like a JWT (and not a key's secret) is verified as
//! one ([`bearer_jwt`]): an organization's identity provider's token
//! ([`crate::idp`]) acts as the user of that organization it maps to.

use crate::error::ApiError;
use crate::idp::{self, VerifiedToken};
use crate::state::AppState;
use axum::http::{header, HeaderMap};
use rand::RngCore;
use roster_domain::ops::{hash_secret, secret_matches};
use roster_domain::{ApiKey, Model, UserId};
use std::sync::Arc;
use time::OffsetDateTime;

/// Prefix of Roster-issued secrets.
pub const TOKEN_PREFIX: &str = "roster_";

/// A freshly generated key id and secret token.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// Public key id (16 hex characters).
    pub key_id: String,
    /// The secret token (shown once).
    pub token: String,
}

/// Generates a key id and a 256-bit secret from the OS's randomness.
pub fn new_secret() -> NewSecret {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let key_id = hex::encode(id);
    let token = format!("{TOKEN_PREFIX}{key_id}_{}", hex::encode(secret));
    NewSecret { key_id, token }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user the credential acts as.
    pub user_id: UserId,
    /// The credential it presented.
    pub credential: Credential,
}

/// What a caller authenticated with.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An API key's secret.
    ApiKey(Arc<ApiKey>),
    /// A JWT of one of its organization's identity providers.
    ProviderToken(VerifiedToken),
}

/// Finds the key for a token.
fn key_for_token(model: &Model, token: &str) -> Option<Arc<ApiKey>> {
    if let Some(rest) = token.strip_prefix(TOKEN_PREFIX) {
        let (key_id, _) = rest.split_once('_')?;
        let key = model.api_key_by_key_id(key_id)?;
        return secret_matches(token, &key.secret_hash).then(|| key.clone());
    }
    // INVARIANT: lookup by the hash of a high-entropy secret reveals nothing
    // an attacker could time; the map is keyed by a one-way function.
    model.api_key_by_hash(&hash_secret(token)).cloned()
}

/// Authenticates a secret token; with `key_id` also given (Yuno's header
/// pair), the token must belong to that key id.
fn authenticate(state: &AppState, key_id: Option<&str>, token: &str) -> Result<Caller, ApiError> {
    let bad = || ApiError::Unauthorized("invalid or unknown API key".into());
    if token.is_empty() || token.len() > 512 {
        return Err(bad());
    }
    let model = state.engine.snapshot();
    let key = match key_id {
        Some(kid) => {
            let key = model.api_key_by_key_id(kid).cloned().ok_or_else(bad)?;
            if !secret_matches(token, &key.secret_hash) {
                return Err(bad());
            }
            key
        }
        None => key_for_token(&model, token).ok_or_else(bad)?,
    };
    let now = OffsetDateTime::now_utc();
    if key.revoked_at.is_some() {
        return Err(ApiError::Unauthorized("the API key is revoked".into()));
    }
    if key.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::Unauthorized("the API key has expired".into()));
    }
    if !model.user(key.user_id).is_some_and(|u| u.is_effective()) {
        return Err(ApiError::Unauthorized(
            "the key's user is not active".into(),
        ));
    }
    touch(state, &key, now);
    Ok(Caller {
        user_id: key.user_id,
        credential: Credential::ApiKey(key),
    })
}

/// Authenticates a bearer JWT. Which verifier applies depends on who issued
/// it (its unverified `iss`): an issuer some organization registered as an
/// identity provider is verified against that provider's keys and maps to
/// a user of that organization. The caller acts with that user's full power.
async fn bearer_jwt(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let model = state.engine.snapshot();
    match state.identity_providers.verify(&model, token).await {
        Ok(v) => Ok(Caller {
            user_id: v.user_id,
            credential: Credential::ProviderToken(v),
        }),
        Err(e) => {
            // INVARIANT: the rejection's message names claims, never the token.
            tracing::info!(reason = %e, issuer = e.issuer(), "bearer token refused");
            Err(ApiError::Unauthorized(e.to_string()))
        }
    }
}

/// Records `last_used_at` at most once a minute per key, off the request path.
fn touch(state: &AppState, key: &ApiKey, now: OffsetDateTime) {
    let due = match state.key_touches.lock() {
        Ok(mut m) => {
            let due = m
                .get(&key.id)
                .is_none_or(|t| now - *t > time::Duration::minutes(1));
            if due {
                m.insert(key.id, now);
            }
            due
        }
        Err(_) => false,
    };
    if due {
        let store = state.store.clone();
        let id = key.id;
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(id, now).await {
                tracing::debug!(error = %e, "recording last_used_at failed");
            }
        });
    }
}

/// Where a surface's callers present their credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: <scheme> <token>`; `token` names the token in the
    /// message when the header is missing (`missing `Authorization: Bearer
    /// <token>``). A `401` names `scheme` in `WWW-Authenticate`.
    Authorization {
        /// `Bearer`, `Token`, …
        scheme: &'static str,
        /// What the token is called, e.g. `api key`.
        token: &'static str,
    },
    /// A public key id and its secret, each in a header of its own (Yuno's
    /// `PUBLIC-API-KEY` and `PRIVATE-SECRET-KEY`); both are required. A
    /// `401` names no scheme.
    KeyPair {
        /// The header carrying the key id.
        key_id: &'static str,
        /// The header carrying the secret.
        secret: &'static str,
    },
}

impl Credentials {
    /// The scheme a `401` names in `WWW-Authenticate`, if any.
    pub fn scheme(self) -> Option<&'static str> {
        match self {
            Self::Authorization { scheme, .. } => Some(scheme),
            Self::KeyPair { .. } => None,
        }
    }
}

/// Reads the credential a request presents where `at` says and resolves it
/// to its caller; a missing one is a `401` naming what is missing. A
/// `Bearer` token shaped like a JWT that is no key's secret is verified as
/// a JWT; every other token is an API key's secret.
pub async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    at: Credentials,
) -> Result<Caller, ApiError> {
    match at {
        Credentials::Authorization {
            scheme,
            token: what,
        } => {
            let token = scheme_token(headers, scheme).ok_or_else(|| {
                ApiError::Unauthorized(format!("missing `Authorization: {scheme} <{what}>`"))
            })?;
            if scheme.eq_ignore_ascii_case("Bearer")
                && idp::looks_like_jwt(token)
                && state
                    .engine
                    .snapshot()
                    .api_key_by_hash(&hash_secret(token))
                    .is_none()
            {
                return bearer_jwt(state, token).await;
            }
            authenticate(state, None, token)
        }
        Credentials::KeyPair { key_id, secret } => {
            let get = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
            };
            let missing =
                |name: &str| ApiError::Unauthorized(format!("the `{name}` header is required"));
            let kid = get(key_id).ok_or_else(|| missing(key_id))?;
            let token = get(secret).ok_or_else(|| missing(secret))?;
            authenticate(state, Some(kid), token)
        }
    }
}

/// The token of an `Authorization: <scheme> <token>` header (never empty:
/// the header value is trimmed before it is split).
fn scheme_token<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (s, t) = v.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| t.trim())
}
