//! The public keys of each identity provider, cached per provider: an
//! inline set is decoded once per provider revision; a `jwks_uri` is
//! fetched (through [`Outbound`]) on first use and again when the cache
//! expires (the answer's `Cache-Control: max-age`, within bounds) or when a
//! token names a key the cache does not hold — at most one fetch per
//! provider per refresh interval, however many requests ask at once (they
//! wait for the one fetch under way). A failed fetch keeps the keys already
//! cached and is logged.
//!
//! Memory is bounded: one entry per existing provider (entries of removed
//! providers are dropped), at most [`MAX_BODY`] read and [`Jwks::MAX_KEYS`]
//! keys kept per provider.

use crate::outbound::{Outbound, OutboundError};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::DecodingKey;
use roster_domain::{
    IdentityProvider, IdentityProviderId, Jwks, JwsAlgorithm, KeySource, Model, Revision,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Most bytes of a JWKS answer read.
pub const MAX_BODY: usize = 64 * 1024;
/// How long fetched keys are kept when the answer says nothing.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// Bounds on an answer's `max-age`.
pub const MAX_AGE_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(60), Duration::from_secs(24 * 3600));

/// One usable public key.
#[derive(Debug)]
pub struct Key {
    kid: Option<String>,
    kty: String,
    crv: Option<String>,
    alg: Option<String>,
    /// The key, decoded.
    pub decoding: DecodingKey,
}

impl Key {
    /// Decodes one JWK of a set; `None` for a key that cannot verify
    /// signatures (private or symmetric material, `use: enc`, a type the
    /// JOSE library does not know).
    fn decode(v: &Value) -> Option<Self> {
        let o = v.as_object()?;
        let kty = o.get("kty")?.as_str()?;
        if !matches!(kty, "RSA" | "EC" | "OKP")
            || ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
                .iter()
                .any(|m| o.contains_key(*m))
            || o.get("use")
                .and_then(Value::as_str)
                .is_some_and(|u| u != "sig")
        {
            return None;
        }
        let jwk: Jwk = serde_json::from_value(v.clone()).ok()?;
        let decoding = DecodingKey::from_jwk(&jwk).ok()?;
        let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            kid: s("kid"),
            kty: kty.to_owned(),
            crv: s("crv"),
            alg: s("alg"),
            decoding,
        })
    }

    /// Whether this key verifies `alg`: its type (and curve) is the one
    /// `alg` needs, and its own `alg`, when it names one, is `alg`.
    pub fn suits(&self, alg: JwsAlgorithm) -> bool {
        let (kty, crv) = alg.key_type();
        self.kty == kty
            && crv.is_none_or(|c| self.crv.as_deref() == Some(c))
            && self.alg.as_deref().is_none_or(|a| a == alg.as_str())
    }
}

/// A provider's keys at one moment.
#[derive(Debug)]
pub struct Keys {
    keys: Vec<Key>,
    fetched_at: Instant,
    expires_at: Option<Instant>,
}

/// Why no key verifies a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// No key has the token's `kid` (or, without a `kid`, not exactly one
    /// key suits its algorithm).
    Unknown,
    /// The key the `kid` names is not of the type the algorithm needs.
    Mismatch,
}

impl Keys {
    fn from_set(set: &Value, fetched_at: Instant, expires_at: Option<Instant>) -> Self {
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .map(|ks| {
                ks.iter()
                    .filter_map(Key::decode)
                    .take(Jwks::MAX_KEYS)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            keys,
            fetched_at,
            expires_at,
        }
    }

    fn knows(&self, kid: Option<&str>) -> bool {
        match kid {
            Some(k) => self.keys.iter().any(|x| x.kid.as_deref() == Some(k)),
            None => true,
        }
    }

    fn fresh(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }

    /// The key that verifies a token of algorithm `alg` naming `kid`.
    pub fn select(&self, alg: JwsAlgorithm, kid: Option<&str>) -> Result<&Key, KeyError> {
        match kid {
            Some(k) => {
                let key = self
                    .keys
                    .iter()
                    .find(|x| x.kid.as_deref() == Some(k))
                    .ok_or(KeyError::Unknown)?;
                if key.suits(alg) {
                    Ok(key)
                } else {
                    Err(KeyError::Mismatch)
                }
            }
            None => {
                let mut suitable = self.keys.iter().filter(|x| x.suits(alg));
                match (suitable.next(), suitable.next()) {
                    (Some(k), None) => Ok(k),
                    _ => Err(KeyError::Unknown),
                }
            }
        }
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The index of the first key of an inline set that cannot verify
/// signatures (it does not decode as a public key), if any.
pub fn first_unusable(set: &Jwks) -> Option<usize> {
    set.as_json()
        .get("keys")
        .and_then(Value::as_array)?
        .iter()
        .position(|k| Key::decode(k).is_none())
}

/// One provider's cache entry, for one revision of the provider.
#[derive(Debug)]
struct Entry {
    revision: Revision,
    keys: RwLock<Option<Arc<Keys>>>,
    /// Held while fetching; holds when the last fetch was attempted.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl Entry {
    fn current(&self) -> Option<Arc<Keys>> {
        self.keys.read().ok().and_then(|k| k.clone())
    }
    fn set(&self, keys: Arc<Keys>) {
        if let Ok(mut k) = self.keys.write() {
            *k = Some(keys);
        }
    }
}

/// The keys of every provider in use.
#[derive(Debug)]
pub struct JwksCache {
    outbound: Outbound,
    refresh_interval: Duration,
    entries: Mutex<HashMap<IdentityProviderId, Arc<Entry>>>,
}

impl JwksCache {
    /// A cache fetching through `outbound`, at most once per provider per
    /// `refresh_interval`.
    pub fn new(outbound: Outbound, refresh_interval: Duration) -> Self {
        Self {
            outbound,
            refresh_interval,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The entry of `p` at its current revision, made (and the entries of
    /// providers `model` no longer has dropped) when missing.
    fn entry(&self, model: &Model, p: &IdentityProvider) -> Arc<Entry> {
        let Ok(mut entries) = self.entries.lock() else {
            return Arc::new(self.new_entry(p));
        };
        if let Some(e) = entries.get(&p.id).filter(|e| e.revision == p.revision) {
            return e.clone();
        }
        entries.retain(|id, _| model.identity_provider(*id).is_some());
        let e = Arc::new(self.new_entry(p));
        entries.insert(p.id, e.clone());
        e
    }

    fn new_entry(&self, p: &IdentityProvider) -> Entry {
        let keys = match &p.keys {
            KeySource::Jwks(set) => Some(Arc::new(Keys::from_set(
                set.as_json(),
                Instant::now(),
                None,
            ))),
            KeySource::JwksUri(_) => None,
        };
        Entry {
            revision: p.revision,
            keys: RwLock::new(keys),
            fetching: tokio::sync::Mutex::new(None),
        }
    }

    /// The keys of `p` for a token naming `kid`: cached ones while fresh
    /// and holding `kid`; else fetched again, if the last attempt is older
    /// than the refresh interval. `None` when no key was ever obtained.
    pub async fn keys(
        &self,
        model: &Model,
        p: &IdentityProvider,
        kid: Option<&str>,
    ) -> Option<Arc<Keys>> {
        let entry = self.entry(model, p);
        let KeySource::JwksUri(uri) = &p.keys else {
            return entry.current();
        };
        let asked = Instant::now();
        if let Some(k) = entry.current().filter(|k| k.fresh(asked) && k.knows(kid)) {
            return Some(k);
        }
        // One fetch at a time per provider; the others wait for its result.
        let mut last = entry.fetching.lock().await;
        let now = Instant::now();
        let current = entry.current();
        if let Some(k) = current.as_ref() {
            let refreshed_meanwhile = k.fetched_at >= asked;
            if refreshed_meanwhile || (k.fresh(now) && k.knows(kid)) {
                return current;
            }
        }
        if last.is_some_and(|t| now.duration_since(t) < self.refresh_interval) {
            return current;
        }
        *last = Some(now);
        match self.fetch(uri.as_str()).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                entry.set(keys.clone());
                Some(keys)
            }
            Err(e) => {
                tracing::warn!(
                    identity_provider = %p.id,
                    organization = %p.organization_id,
                    error = %e,
                    cached = current.is_some(),
                    "fetching an identity provider's JWKS failed; keeping the cached keys"
                );
                current
            }
        }
    }

    async fn fetch(&self, uri: &str) -> Result<Keys, FetchError> {
        let url = url::Url::parse(uri).map_err(|_| FetchError::NotJwks("not a URL"))?;
        let got = self.outbound.get(&url, MAX_BODY).await?;
        let set: Value =
            serde_json::from_slice(&got.body).map_err(|_| FetchError::NotJwks("not JSON"))?;
        if !set.get("keys").is_some_and(Value::is_array) {
            return Err(FetchError::NotJwks("no `keys` array"));
        }
        let now = Instant::now();
        let max_age = got
            .headers
            .get(axum::http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_MAX_AGE)
            .clamp(MAX_AGE_BOUNDS.0, MAX_AGE_BOUNDS.1);
        Ok(Keys::from_set(&set, now, Some(now + max_age)))
    }
}

/// Why a fetch produced no keys.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Outbound(#[from] OutboundError),
    #[error("the answer is not a JWK Set: {0}")]
    NotJwks(&'static str),
}

/// The `max-age` of a `Cache-Control` value (`no-store`/`no-cache` count as 0).
fn max_age(v: &str) -> Option<Duration> {
    v.split(',').map(str::trim).find_map(|d| {
        let d = d.to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return Some(Duration::ZERO);
        }
        d.strip_prefix("max-age=")
            .and_then(|n| n.trim_matches('"').parse::<u64>().ok())
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        assert_eq!(
            max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=x"), None);
    }

    #[test]
    fn private_symmetric_and_encryption_keys_are_never_used() {
        let set = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "d": "x", "kid": "p"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "use": "enc", "kid": "e"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ok"},
        ]});
        let keys = Keys::from_set(&set, Instant::now(), None);
        assert_eq!(keys.len(), 1);
        assert!(keys.select(JwsAlgorithm::EdDsa, Some("ok")).is_ok());
        assert_eq!(
            keys.select(JwsAlgorithm::EdDsa, Some("h")).err(),
            Some(KeyError::Unknown)
        );
        assert_eq!(
            keys.select(JwsAlgorithm::Rs256, Some("ok")).err(),
            Some(KeyError::Mismatch)
        );
        assert!(keys.select(JwsAlgorithm::EdDsa, None).is_ok());
        assert_eq!(
            keys.select(JwsAlgorithm::Es256, None).err(),
            Some(KeyError::Unknown)
        );
    }
}
