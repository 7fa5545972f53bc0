//! Authentication: from a presented credential to the user it acts as, in
//! one place for every surface. A surface says where its callers present
//! their credential ([`Credentials`], its `Surface::CREDENTIALS`);
//! [`resolve`] reads it there and resolves it. A new kind of credential
//! (say, bearer JWTs) is a change to this file alone.
//!
//! Failed attempts are throttled per key id and client address
//! ([`throttle`]), logged and recorded in the audit trail (`auth.failed`,
//! naming the key id, never the secret).
//!
//! Roster's secrets look like `roster_<key_id>_<secret>`: the key id is
//! looked up and the SHA-256 of the whole token compared in constant time.
//! Tokens of another shape (imported or demo keys, e.g. Crux's example
//! token) are found by the hash of the token itself. Either way the key must
//! be neither revoked nor expired and its user active.
//!
//! A bearer JWT whose `iss` is Roster's own issuer is a token Roster issued
//! (`POST /v1/oauth/token`): [`crate::tokens::verify`] checks it, and it
//! acts as the user of the API key it was issued to. Any other bearer token
//! shaped like a JWT (and not a key's secret) is an organization's identity
//! provider's ([`crate::idp`]): it acts as the user of that organization it
//! maps to, with that user's full power.

pub mod throttle;

use crate::error::ApiError;
use crate::idp::{self, TokenRejection};
use crate::state::{AppState, AuthFailed};
use crate::tokens::{self, TokenRefused, VerifiedToken};
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use rand::RngCore;
use roster_domain::ops::{hash_secret, secret_matches};
use roster_domain::{Actor, ApiKey, Model, PermissionId, SigningKeyId, UserId};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
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

/// The authenticated caller of a request: who acts (its user and its
/// credential's scopes) and through what.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user and the scopes the credential narrows it to.
    pub actor: Actor,
    /// The credential presented.
    pub via: Via,
}

impl Caller {
    /// The user the credential acts as.
    pub fn user_id(&self) -> UserId {
        self.actor.user
    }
}

/// The kind of credential a caller presented.
#[derive(Debug, Clone)]
pub enum Via {
    /// An API key's secret.
    ApiKey(Arc<ApiKey>),
    /// A token Roster issued (`POST /v1/oauth/token`) to this API key,
    /// signed by signing key `kid`.
    RosterToken {
        /// The API key the token was issued to.
        key: Arc<ApiKey>,
        /// The key that signed it.
        kid: SigningKeyId,
    },
    /// A JWT of one of its organization's identity providers.
    ProviderToken(idp::VerifiedToken),
}

/// Why a presented credential was refused. Never holds the secret: what it
/// says may be logged and audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not a credential this server could have issued (empty, too long).
    Malformed,
    /// No key has this key id or secret.
    UnknownKey,
    /// The key id exists but the secret does not match.
    WrongSecret,
    /// The key is revoked.
    Revoked,
    /// The key has expired.
    Expired,
    /// The key's user is disabled or deleted.
    UserInactive,
    /// A bearer JWT naming Roster as its issuer was refused.
    Token(TokenRefused),
    /// An identity provider's JWT was refused.
    Provider(TokenRejection),
}

impl Failure {
    /// A stable code for logs and the audit trail.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::WrongSecret => "wrong_secret",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::UserInactive => "user_inactive",
            Self::Token(t) => t.code(),
            Self::Provider(_) => "provider_token_refused",
        }
    }

    /// The `401` a client sees. Unknown key and wrong secret read the same,
    /// so that a key id's existence is not revealed by the message.
    fn into_error(self) -> ApiError {
        match &self {
            Self::Token(t) => return ApiError::Unauthorized(t.to_string()),
            // INVARIANT: the rejection's message names claims, never the token.
            Self::Provider(e) => return ApiError::Unauthorized(e.to_string()),
            _ => {}
        }
        ApiError::Unauthorized(
            match self {
                Self::Malformed | Self::UnknownKey | Self::WrongSecret => {
                    "invalid or unknown API key"
                }
                Self::Revoked => "the API key is revoked",
                Self::Expired => "the API key has expired",
                Self::UserInactive => "the key's user is not active",
                Self::Token(_) | Self::Provider(_) => "the token is refused",
            }
            .into(),
        )
    }
}

/// A refused attempt: why, and what it named (for throttling and audit).
#[derive(Debug)]
struct Refusal {
    failure: Failure,
    /// The key it was for, when the key exists.
    key: Option<Arc<ApiKey>>,
}

impl From<Failure> for Refusal {
    fn from(failure: Failure) -> Self {
        Self { failure, key: None }
    }
}

/// The key id a presented secret names, if it names one: Roster's own
/// secrets carry it, Yuno's header pair sends it.
fn named_key_id<'t>(key_id: Option<&'t str>, token: &'t str) -> Option<&'t str> {
    key_id.or_else(|| {
        token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| id)
    })
}

/// Finds the key for a token.
fn key_for_token(model: &Model, token: &str) -> Result<Arc<ApiKey>, Refusal> {
    if let Some(rest) = token.strip_prefix(TOKEN_PREFIX) {
        let (key_id, _) = rest.split_once('_').ok_or(Failure::Malformed)?;
        return key_matching(model, key_id, token);
    }
    // INVARIANT: lookup by the hash of a high-entropy secret reveals nothing
    // an attacker could time; the map is keyed by a one-way function.
    model
        .api_key_by_hash(&hash_secret(token))
        .cloned()
        .ok_or_else(|| Failure::UnknownKey.into())
}

/// The key `key_id` if `token` is its secret.
fn key_matching(model: &Model, key_id: &str, token: &str) -> Result<Arc<ApiKey>, Refusal> {
    let key = model
        .api_key_by_key_id(key_id)
        .cloned()
        .ok_or(Failure::UnknownKey)?;
    if secret_matches(token, &key.secret_hash) {
        Ok(key)
    } else {
        Err(Refusal {
            failure: Failure::WrongSecret,
            key: Some(key),
        })
    }
}

/// Authenticates a secret token; with `key_id` also given (Yuno's header
/// pair), the token must belong to that key id.
fn authenticate(state: &AppState, key_id: Option<&str>, token: &str) -> Result<Caller, Refusal> {
    if token.is_empty() || token.len() > 512 {
        return Err(Failure::Malformed.into());
    }
    let model = state.engine.snapshot();
    let key = match key_id {
        Some(kid) => key_matching(&model, kid, token)?,
        None => key_for_token(&model, token)?,
    };
    let now = OffsetDateTime::now_utc();
    let refuse = |failure| Refusal {
        failure,
        key: Some(key.clone()),
    };
    if key.revoked_at.is_some() {
        return Err(refuse(Failure::Revoked));
    }
    if key.expires_at.is_some_and(|e| e <= now) {
        return Err(refuse(Failure::Expired));
    }
    if !model.user(key.user_id).is_some_and(|u| u.is_effective()) {
        return Err(refuse(Failure::UserInactive));
    }
    touch(state, &key, now);
    Ok(Caller {
        actor: key.actor(),
        via: Via::ApiKey(key),
    })
}

/// `429` while the key id an attempt names (of a key that exists) or the
/// client address is locked out, whatever the credential: a right guess
/// during a lock-out learns nothing.
pub(crate) fn locked_out(
    state: &AppState,
    key_id: Option<&str>,
    address: Option<IpAddr>,
) -> Result<(), ApiError> {
    match state.throttle.locked(key_id, address, Instant::now()) {
        Some(wait) => {
            if state.sandbox().is_none() {
                state.metrics.throttled.inc();
            }
            Err(ApiError::TooManyRequests {
                retry_after: wait.as_secs().saturating_add(1),
            })
        }
        None => Ok(()),
    }
}

/// Counts, logs and audits a refused attempt, and says what the client
/// sees. Only the key ids of keys that exist are counted: a guesser cycling
/// through made-up ids is held back by its address instead, and the counter
/// cannot be filled with ids nobody owns.
fn refused(
    state: &AppState,
    key_id: Option<&str>,
    address: Option<IpAddr>,
    r: Refusal,
) -> ApiError {
    let known = r.key.as_ref().map(|k| k.key_id.as_str());
    state.throttle.fail(known, address, Instant::now());
    let org = r.key.as_ref().and_then(|k| {
        state
            .engine
            .snapshot()
            .user(k.user_id)
            .map(|u| u.organization_id)
    });
    let issuer = match &r.failure {
        Failure::Token(_) => Some(state.config.issuer.clone()),
        Failure::Provider(e) => e.issuer().map(roster_domain::truncate),
        _ => None,
    };
    tracing::info!(
        reason = r.failure.code(),
        key_id = known.or(key_id).unwrap_or(""),
        issuer = issuer.as_deref().unwrap_or(""),
        client = %address.map(|a| a.to_string()).unwrap_or_default(),
        "authentication failed"
    );
    if state.sandbox().is_none() {
        state
            .metrics
            .auth_failures
            .get_or_create(&crate::metrics::ReasonLabels {
                reason: r.failure.code(),
            })
            .inc();
    }
    state.auth_failed(AuthFailed {
        reason: r.failure.code(),
        key_id: known.or(key_id).map(roster_domain::truncate),
        issuer,
        organization_id: org,
        client_address: address,
    });
    r.failure.into_error()
}

/// Authenticates an API key by its key id and secret, as a client of the
/// token endpoint does: locked-out ids and addresses are `429`, failures are
/// counted and audited like every credential's.
pub(crate) fn authenticate_key(
    state: &AppState,
    address: Option<IpAddr>,
    key_id: &str,
    secret: &str,
) -> Result<Arc<ApiKey>, ApiError> {
    locked_out(state, Some(key_id), address)?;
    match authenticate(state, Some(key_id), secret) {
        Ok(Caller {
            via: Via::ApiKey(key),
            ..
        }) => Ok(key),
        Ok(_) => Err(ApiError::Unauthorized("invalid or unknown API key".into())),
        Err(r) => Err(refused(state, Some(key_id), address, r)),
    }
}

/// The client address of a request (the TCP peer's; see [`throttle`]).
pub(crate) fn client_address(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The caller a verified Roster-issued token stands for: its API key's
/// user, narrowed to the token's scope (and to the key's scopes, if any).
fn token_caller(state: &AppState, v: VerifiedToken, now: OffsetDateTime) -> Caller {
    touch(state, &v.key, now);
    let actor = match v.scope.as_deref() {
        None => v.key.actor(),
        Some(scope) => {
            let within: Vec<PermissionId> = match v.key.scopes.as_deref() {
                None => scope.to_vec(),
                Some(key) => scope.iter().filter(|p| key.contains(p)).copied().collect(),
            };
            Actor::scoped(v.user_id, Some(&within))
        }
    };
    Caller {
        actor,
        via: Via::RosterToken {
            key: v.key,
            kid: v.kid,
        },
    }
}

/// Records `last_used_at` at most once a minute per key, off the request
/// path (not in a sandbox: the request that opened it was recorded).
fn touch(state: &AppState, key: &ApiKey, now: OffsetDateTime) {
    if state.sandbox().is_some() {
        return;
    }
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

/// A credential as a request presented it: what [`resolve`] reads from
/// the request, before it is resolved. A sandbox's requests carry their
/// opening request's in their extensions (see [`crate::sandbox`]). Its
/// `Debug` never shows the secret.
#[derive(Clone)]
pub enum Presented {
    /// `Authorization: <scheme> <token>`.
    Token {
        /// Whether the scheme is `Bearer` (which also takes JWTs).
        bearer: bool,
        /// The token.
        token: String,
    },
    /// A key id and its secret, each in a header of its own.
    KeyPair {
        /// The key id.
        key_id: String,
        /// The secret.
        secret: String,
    },
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token { bearer, .. } => f
                .debug_struct("Token")
                .field("bearer", bearer)
                .finish_non_exhaustive(),
            Self::KeyPair { key_id, .. } => f
                .debug_struct("KeyPair")
                .field("key_id", key_id)
                .finish_non_exhaustive(),
        }
    }
}

/// The credential `headers` present where `at` says; a missing one is a
/// `401` naming what is missing.
pub fn presented(headers: &HeaderMap, at: Credentials) -> Result<Presented, ApiError> {
    match at {
        Credentials::Authorization {
            scheme,
            token: what,
        } => {
            let token = scheme_token(headers, scheme).ok_or_else(|| {
                ApiError::Unauthorized(format!("missing `Authorization: {scheme} <{what}>`"))
            })?;
            Ok(Presented::Token {
                bearer: scheme.eq_ignore_ascii_case("Bearer"),
                token: token.to_owned(),
            })
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
            Ok(Presented::KeyPair {
                key_id: get(key_id).ok_or_else(|| missing(key_id))?.to_owned(),
                secret: get(secret).ok_or_else(|| missing(secret))?.to_owned(),
            })
        }
    }
}

/// In a sandbox, a request acts as the caller that opened it, with the
/// credential that caller presented; one that presents a credential of its
/// own is refused (`400` naming the header), so that it can never act as
/// someone else.
fn sandboxed_credential(parts: &Parts, at: Credentials) -> Result<Presented, ApiError> {
    let own = match at {
        Credentials::Authorization { .. } => vec![header::AUTHORIZATION.as_str()],
        Credentials::KeyPair { key_id, secret } => vec![key_id, secret],
    };
    if let Some(name) = own.into_iter().find(|h| parts.headers.contains_key(*h)) {
        return Err(ApiError::bad_request(
            name,
            "a previewed request acts as the caller of the what-if; it cannot present credentials",
        ));
    }
    parts
        .extensions
        .get::<Presented>()
        .cloned()
        .ok_or_else(|| ApiError::Unauthorized("no credential reached the sandbox".into()))
}

/// Reads the credential a request presents where `at` says and resolves it
/// to its caller; a missing one is a `401` naming what is missing, a wrong
/// one a `401` that is counted against its key id and client address
/// ([`throttle`]), and one from a locked-out key id or address a `429`. A
/// `Bearer` JWT is Roster's own token when its `iss` says so, else an
/// identity provider's (unless it is some key's secret); every other token
/// is an API key's secret. In a sandbox, the credential is the one its
/// opening request presented ([`Presented`]), on every surface.
pub async fn resolve(state: &AppState, parts: &Parts, at: Credentials) -> Result<Caller, ApiError> {
    let presented = if state.sandbox().is_some() {
        sandboxed_credential(parts, at)?
    } else {
        presented(&parts.headers, at)?
    };
    resolve_presented(state, client_address(parts), &presented).await
}

/// Resolves a presented credential to its caller (see [`resolve`]).
async fn resolve_presented(
    state: &AppState,
    address: Option<IpAddr>,
    presented: &Presented,
) -> Result<Caller, ApiError> {
    match presented {
        Presented::Token { bearer, token } => {
            let token = token.as_str();
            if *bearer {
                let now = OffsetDateTime::now_utc();
                let model = state.engine.snapshot();
                // A token Roster issued; another issuer's token, or an API
                // key, goes on below.
                if let Some(verdict) = tokens::verify(state, &model, token, now) {
                    locked_out(state, None, address)?;
                    return verdict
                        .map(|v| token_caller(state, v, now))
                        .map_err(|e| refused(state, None, address, Failure::Token(e).into()));
                }
                if idp::looks_like_jwt(token)
                    && model.api_key_by_hash(&hash_secret(token)).is_none()
                {
                    locked_out(state, None, address)?;
                    return match state.identity_providers.verify(&model, token).await {
                        Ok(v) => Ok(Caller {
                            actor: Actor::user(v.user_id),
                            via: Via::ProviderToken(v),
                        }),
                        Err(e) => Err(refused(state, None, address, Failure::Provider(e).into())),
                    };
                }
            }
            let kid = named_key_id(None, token);
            locked_out(state, kid, address)?;
            authenticate(state, None, token).map_err(|r| refused(state, kid, address, r))
        }
        Presented::KeyPair { key_id, secret } => {
            let kid = Some(key_id.as_str());
            locked_out(state, kid, address)?;
            authenticate(state, kid, secret).map_err(|r| refused(state, kid, address, r))
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
