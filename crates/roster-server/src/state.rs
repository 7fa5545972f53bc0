//! The application state shared by every handler.

use crate::error::ApiError;
use crate::idp::jwks::JwksCache;
use crate::idp::IdentityProviders;
use crate::outbound::Outbound;
use crate::writer::Writer;
use roster_authz::Engine;
use roster_domain::{AuditEvent, Model, Revision};
use roster_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Tunables of a running server.
#[derive(Clone, Debug)]
pub struct Config {
    /// Longest a check or read waits for `min_revision`.
    pub max_revision_wait: Duration,
    /// How often replicas poll the change log when no notification arrives.
    pub follow_interval: Duration,
    /// Longest a client may take to send a request body
    /// ([`crate::surface::body::BODY_READ_TIMEOUT`] by default); slower is `408`.
    pub body_read_timeout: Duration,
    /// Whether addresses a tenant registers (identity providers' JWKS, later
    /// webhooks) may be `http` and private, loopback or link-local
    /// (`--allow-private-targets`: development and tests only; see
    /// [`crate::outbound`]).
    pub allow_private_targets: bool,
    /// At most one JWKS fetch per identity provider per this interval
    /// (a token naming an unknown key, an expired cache, a failed fetch).
    pub jwks_refresh_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_revision_wait: Duration::from_secs(5),
            follow_interval: Duration::from_millis(500),
            body_read_timeout: crate::surface::body::BODY_READ_TIMEOUT,
            allow_private_targets: false,
            jwks_refresh_interval: Duration::from_secs(30),
        }
    }
}

/// Everything a handler needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database (durability, audit trail, change log).
    pub store: Arc<dyn Store>,
    /// The published model every read and check answers from.
    pub engine: Arc<Engine>,
    /// The single writer of this process.
    pub writer: Writer,
    /// The revision the engine has published (to wait on).
    pub revisions: watch::Receiver<Revision>,
    /// Tunables.
    pub config: Arc<Config>,
    /// Outbound HTTP to addresses tenants registered, behind the SSRF guard.
    pub outbound: Outbound,
    /// Identity providers' token verification and their cached keys.
    pub identity_providers: Arc<IdentityProviders>,
    /// API keys whose `last_used_at` was recorded recently (throttle).
    pub key_touches: Arc<
        std::sync::Mutex<std::collections::HashMap<roster_domain::ApiKeyId, time::OffsetDateTime>>,
    >,
}

impl AppState {
    /// Loads the model from the store and starts the writer.
    pub async fn start(store: Arc<dyn Store>, config: Config) -> Result<Self, ApiError> {
        let model = store.load_model().await?;
        Self::from_model(store, model, config)
    }

    /// Starts on an already loaded model.
    pub fn from_model(
        store: Arc<dyn Store>,
        model: Model,
        config: Config,
    ) -> Result<Self, ApiError> {
        let outbound = Outbound::new(config.allow_private_targets)
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        let identity_providers = Arc::new(IdentityProviders::new(JwksCache::new(
            outbound.clone(),
            config.jwks_refresh_interval,
        )));
        let engine = Arc::new(Engine::new(model.clone()));
        let (tx, rx) = watch::channel(model.revision());
        let writer = Writer::start(store.clone(), engine.clone(), model, tx);
        Ok(Self {
            store,
            engine,
            writer,
            revisions: rx,
            config: Arc::new(config),
            outbound,
            identity_providers,
            key_touches: Default::default(),
        })
    }

    /// The audit trail of one object (by target id), oldest first: what a
    /// surface renders an object's history from (SoftwareOne's `audit`).
    /// Surfaces read the trail through here, never from the store.
    pub async fn audit_trail(&self, target_id: &str) -> Result<Vec<AuditEvent>, ApiError> {
        Ok(self.store.audit_for_target(target_id).await?)
    }

    /// The current model once it has reached `min` (waiting a bounded time),
    /// else `503` with `Retry-After`.
    pub async fn model_at(&self, min: Option<Revision>) -> Result<Arc<Model>, ApiError> {
        let Some(min) = min else {
            return Ok(self.engine.snapshot());
        };
        if self.engine.revision() >= min {
            return Ok(self.engine.snapshot());
        }
        // Another replica may have written it: look at the change log now.
        self.writer.nudge();
        let mut rx = self.revisions.clone();
        let reached =
            tokio::time::timeout(self.config.max_revision_wait, rx.wait_for(|r| *r >= min))
                .await
                .is_ok_and(|r| r.is_ok());
        if reached {
            Ok(self.engine.snapshot())
        } else {
            Err(ApiError::RevisionNotReached {
                wanted: min,
                current: self.engine.revision(),
            })
        }
    }

    /// Follows other replicas' commits: wakes on a database notification or
    /// every `follow_interval`, and asks the writer to catch up.
    pub fn spawn_follower(&self) {
        let store = self.store.clone();
        let writer = self.writer.clone();
        let interval = self.config.follow_interval;
        let engine = self.engine.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = store.wait_for_change(interval).await {
                    tracing::debug!(error = %e, "waiting for changes failed; polling");
                    tokio::time::sleep(interval).await;
                }
                match store.current_revision().await {
                    Ok(rev) if rev > engine.revision() => {
                        if writer.sync().await.is_none() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "reading the revision failed"),
                }
            }
        });
    }
}
