//! The operator's signing-key commands: the key a server makes sure of on
//! start, and `roster keys rotate | list | revoke`. Each is one system
//! write through the writer, so it commits to the change log and every
//! replica following the database learns of it (SPEC §4).

use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::new_signing_key;
use roster_domain::ops::{self, Rotation};
use roster_domain::{Context, PublicSigningKey, SigningAlgorithm, SigningKey, SigningKeyId};
use std::sync::Arc;
use time::OffsetDateTime;

/// The key new tokens are signed with, creating one (`algorithm`) when none
/// signs: what `roster serve` does on start, and the token endpoint when
/// every key has been revoked.
pub async fn ensure(
    state: &AppState,
    algorithm: SigningAlgorithm,
) -> Result<Arc<SigningKey>, ApiError> {
    if let Some(k) = state.engine.snapshot().current_signing_key() {
        return Ok(k.clone());
    }
    let new = new_signing_key(algorithm)?;
    let ctx = Context::system(OffsetDateTime::now_utc());
    let (k, _) = state
        .writer
        .write(ctx, move |d| ops::ensure_signing_key(d, new.clone()))
        .await?;
    Ok(k)
}

/// `roster keys rotate`: a new signing key (`algorithm`); the keys it
/// replaces verify until every token they signed has expired.
pub async fn rotate(state: &AppState, algorithm: SigningAlgorithm) -> Result<Rotation, ApiError> {
    let new = new_signing_key(algorithm)?;
    let ctx = Context::system(OffsetDateTime::now_utc());
    let (r, _) = state
        .writer
        .write(ctx, move |d| ops::rotate_signing_keys(d, new.clone()))
        .await?;
    Ok(r)
}

/// `roster keys revoke KID`: tokens the key signed are refused from now
/// on; when it was the signing key, a new one (`algorithm`) takes its place.
pub async fn revoke(
    state: &AppState,
    kid: SigningKeyId,
    algorithm: SigningAlgorithm,
) -> Result<Arc<SigningKey>, ApiError> {
    let replacement = new_signing_key(algorithm)?;
    let ctx = Context::system(OffsetDateTime::now_utc());
    let (k, _) = state
        .writer
        .write(ctx, move |d| {
            ops::revoke_signing_key(d, kid, replacement.clone())
        })
        .await?;
    Ok(k)
}

/// `roster keys list`: every signing key, oldest first, without private keys.
pub fn list(state: &AppState) -> Vec<PublicSigningKey> {
    state
        .engine
        .snapshot()
        .signing_keys()
        .map(|k| k.public())
        .collect()
}
