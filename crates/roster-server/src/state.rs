//! The application state shared by every handler.

use crate::auth::throttle::Throttle;
use crate::error::ApiError;
use crate::idp::jwks::JwksCache;
use crate::idp::IdentityProviders;
use crate::outbound::Outbound;
use crate::request::RequestInfo;
use crate::sandbox::Sandbox;
use crate::writer::Writer;
use roster_authz::Engine;
use roster_domain::draft::to_micros;
use roster_domain::{AuditEvent, Model, OrganizationId, Revision};
use roster_store::Store;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

/// The issuer URL when none is configured: the default listen address.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8080";

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
    /// Roster's issuer URL: the `iss` (and `aud`) of the tokens it issues,
    /// and the base of the discovery document's URLs (`--public-url`),
    /// without a trailing `/`.
    pub issuer: String,
    /// Lifetime of the tokens `POST /v1/oauth/token` issues (at most
    /// [`roster_domain::ops::MAX_TOKEN_LIFETIME`]).
    pub token_lifetime: Duration,
    /// Whether addresses a tenant registers (identity providers' JWKS,
    /// webhooks) may be `http` and private, loopback or link-local
    /// (`--allow-private-targets`: development and tests only; see
    /// [`crate::outbound`]).
    pub allow_private_targets: bool,
    /// Failed authentications allowed per key id, and per client address,
    /// within a minute before further attempts are `429`
    /// (`--auth-failures-per-key`, `--auth-failures-per-address`).
    pub auth_failure_limits: (u32, u32),
    /// At most one JWKS fetch per identity provider per this interval
    /// (a token naming an unknown key, an expired cache, a failed fetch).
    pub jwks_refresh_interval: Duration,
    /// Webhook delivery: retries, give-up horizon, log retention.
    pub webhooks: crate::webhooks::WebhookConfig,
    /// How long the event feed keeps events (`--event-retention`; see
    /// [`crate::retention`]).
    pub event_retention: Duration,
    /// Whether `GET /metrics` is answered on the API's own port (off when
    /// the operator gives metrics a listener of their own,
    /// `--metrics-listen`).
    pub metrics_on_public_port: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_revision_wait: Duration::from_secs(5),
            follow_interval: Duration::from_millis(500),
            body_read_timeout: crate::surface::body::BODY_READ_TIMEOUT,
            issuer: DEFAULT_ISSUER.to_owned(),
            token_lifetime: crate::tokens::DEFAULT_LIFETIME,
            allow_private_targets: false,
            auth_failure_limits: (
                crate::auth::throttle::KEY_ID_LIMIT,
                crate::auth::throttle::ADDRESS_LIMIT,
            ),
            jwks_refresh_interval: Duration::from_secs(30),
            webhooks: crate::webhooks::WebhookConfig::default(),
            event_retention: crate::retention::DEFAULT_EVENT_RETENTION,
            metrics_on_public_port: true,
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
    /// Signature verifications of Roster-issued tokens (see [`crate::tokens`]).
    pub tokens: Arc<crate::tokens::TokenCache>,
    /// Failed authentications per key id and client address.
    pub throttle: Arc<Throttle>,
    /// Failed authentications on their way to the audit trail.
    auth_failures: mpsc::Sender<AuditEvent>,
    /// This server's metrics (shared with its sandboxes, which count nothing).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The sandbox this state plans in, if it is one's (see
    /// [`AppState::sandboxed`]): nothing is committed or stored then.
    sandbox: Option<Arc<Sandbox>>,
}

/// A failed authentication, as the audit trail records it (`auth.failed`).
#[derive(Debug, Clone)]
pub struct AuthFailed {
    /// Why (a [`crate::auth::Failure`] code).
    pub reason: &'static str,
    /// The key id it named (never the secret).
    pub key_id: Option<String>,
    /// The issuer of a refused token.
    pub issuer: Option<String>,
    /// The organization of the key or issuer, when known.
    pub organization_id: Option<OrganizationId>,
    /// The client's address.
    pub client_address: Option<IpAddr>,
}

/// Failed authentications waiting for the audit trail at most; more are
/// logged and dropped (an attacker must not grow memory or the write load
/// without bound: throttling already caps what each key id and address
/// can add).
const AUTH_FAILURE_BACKLOG: usize = 4096;

/// Writes failed authentications to the audit trail in batches, off the
/// request path.
fn spawn_auth_failure_writer(store: Arc<dyn Store>) -> mpsc::Sender<AuditEvent> {
    let (tx, mut rx) = mpsc::channel::<AuditEvent>(AUTH_FAILURE_BACKLOG);
    tokio::spawn(async move {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 256).await > 0 {
            if let Err(e) = store.append_audit(&batch).await {
                tracing::warn!(error = %e, events = batch.len(), "recording failed authentications failed");
            }
            batch.clear();
        }
    });
    tx
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
        let (per_key_id, per_address) = config.auth_failure_limits;
        let throttle = Arc::new(Throttle::new(per_key_id, per_address));
        let engine = Arc::new(Engine::new(model.clone()));
        let (tx, rx) = watch::channel(model.revision());
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let writer = Writer::start(store.clone(), engine.clone(), model, tx, metrics.clone());
        Ok(Self {
            store: store.clone(),
            engine,
            writer,
            revisions: rx,
            config: Arc::new(config),
            outbound,
            identity_providers,
            key_touches: Default::default(),
            tokens: Default::default(),
            throttle,
            auth_failures: spawn_auth_failure_writer(store),
            metrics,
            sandbox: None,
        })
    }

    /// This state in a new sandbox on `base` (a committed model): the same
    /// configuration and caches, with the sandbox's writer and engine, and a
    /// throttle of its own (every request in it acts as the caller that
    /// opened it, already authenticated here). What it writes stays in the
    /// sandbox; it records no key use and no failed authentication.
    pub fn sandboxed(&self, base: Arc<Model>) -> (Self, Arc<Sandbox>) {
        let sandbox = Sandbox::new(base);
        let (per_key_id, per_address) = self.config.auth_failure_limits;
        let state = Self {
            engine: sandbox.engine().clone(),
            writer: Writer::sandbox(sandbox.clone()),
            revisions: sandbox.revisions(),
            throttle: Arc::new(Throttle::new(per_key_id, per_address)),
            sandbox: Some(sandbox.clone()),
            ..self.clone()
        };
        (state, sandbox)
    }

    /// The sandbox this state plans in, if any.
    pub fn sandbox(&self) -> Option<&Arc<Sandbox>> {
        self.sandbox.as_ref()
    }

    /// Records a failed authentication in the audit trail (asynchronously;
    /// dropped with a warning when the backlog is full).
    pub fn auth_failed(&self, f: AuthFailed) {
        if self.sandbox.is_some() {
            return;
        }
        let (target_type, target_id) = match (&f.key_id, &f.issuer) {
            (Some(k), _) => ("api_key", k.clone()),
            (None, Some(i)) => ("token", i.clone()),
            (None, None) => ("credential", String::new()),
        };
        let id = RequestInfo::current().request_id;
        let event = AuditEvent {
            seq: 0,
            at: to_micros(OffsetDateTime::now_utc()),
            actor_id: None,
            action: "auth.failed".into(),
            reason: None,
            subject_id: None,
            target_type: target_type.into(),
            target_id,
            organization_id: f.organization_id,
            account_id: None,
            before: None,
            after: Some(serde_json::json!({
                "reason": f.reason,
                "key_id": f.key_id,
                "issuer": f.issuer,
                "client_address": f.client_address.map(|a| a.to_string()),
            })),
            request_id: (!id.is_empty()).then_some(id),
            revision: self.engine.revision(),
        };
        if self.auth_failures.try_send(event).is_err() {
            tracing::warn!(
                "failed-authentication backlog is full; an `auth.failed` event was not recorded"
            );
        }
    }

    /// The audit trail of one object (by target id), oldest first: what a
    /// surface renders an object's history from (SoftwareOne's `audit`).
    /// Surfaces read the trail through here, never from the store. In a
    /// sandbox: the trail up to its base, then what its writes would add.
    pub async fn audit_trail(&self, target_id: &str) -> Result<Vec<AuditEvent>, ApiError> {
        let mut events = self.store.audit_for_target(target_id).await?;
        if let Some(sandbox) = &self.sandbox {
            let base = sandbox.base().revision();
            events.retain(|e| e.revision <= base);
            let last = events.iter().map(|e| e.seq).max().unwrap_or(0);
            events.extend(
                sandbox
                    .audit_for(target_id)
                    .into_iter()
                    .zip(1..)
                    .map(|(e, n)| AuditEvent { seq: last + n, ..e }),
            );
        }
        Ok(events)
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
        if self.sandbox.is_some() {
            // Nothing else writes a sandbox: a revision it has not reached
            // it never will.
            return Err(ApiError::RevisionNotReached {
                wanted: min,
                current: self.engine.revision(),
            });
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
