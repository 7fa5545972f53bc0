//! A sandbox: the whole application on a private copy of the model, where
//! writes are planned and applied exactly as the writer would, and nothing
//! is committed. `POST /v1/what-if` and `?dry_run=true` run their requests
//! through it.
//!
//! [`AppState::sandboxed`](crate::AppState::sandboxed) clones the state with
//! a sandbox's writer ([`crate::writer::Writer::sandbox`]) and engine; the
//! app built on that state ([`crate::router`]) answers every surface as for
//! real. A write plans a [`Draft`] on the sandbox's model, runs the same
//! rules and `Draft::finish`, and applies the outcome to the sandbox's model
//! and engine, so the next request (and the checks after) see it; its
//! revisions continue from the base as real commits would. Nothing reaches
//! the store: the state knows it is sandboxed, and the two places that
//! write outside the writer (an API key's `last_used_at`, `auth.failed`
//! audit events) stay silent there.
//!
//! Every request in a sandbox acts as the caller of the request that opened
//! it: its credential, as that request presented it, travels in the
//! request's extensions ([`crate::auth::Presented`]) and is resolved against
//! the sandbox's model, whatever the surface.

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use roster_authz::Engine;
use roster_domain::{AuditEvent, Change, Context, DomainError, Draft, Model, Revision};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tower::ServiceExt;

/// A private model that writes are planned on and never committed.
pub struct Sandbox {
    /// The committed model it started from.
    base: Arc<Model>,
    /// What the sandbox's requests read (the planned model, published).
    engine: Arc<Engine>,
    /// The planned model's revision, for `min_revision` waits.
    revisions: watch::Sender<Revision>,
    /// What was planned so far.
    planned: Mutex<Planned>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base", &self.base.revision())
            .field("revision", &self.revision())
            .finish_non_exhaustive()
    }
}

/// The state of a sandbox after its writes.
struct Planned {
    model: Model,
    changes: Vec<Change>,
    audit: Vec<AuditEvent>,
}

impl Sandbox {
    /// A sandbox starting from `base`, a committed model.
    pub fn new(base: Arc<Model>) -> Arc<Self> {
        let model = (*base).clone();
        Arc::new(Self {
            engine: Arc::new(Engine::new(model.clone())),
            revisions: watch::Sender::new(model.revision()),
            planned: Mutex::new(Planned {
                model,
                changes: Vec::new(),
                audit: Vec::new(),
            }),
            base,
        })
    }

    /// The committed model the sandbox started from.
    pub fn base(&self) -> &Arc<Model> {
        &self.base
    }

    /// The engine answering from the planned model.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// A receiver of the planned model's revision.
    pub fn revisions(&self) -> watch::Receiver<Revision> {
        self.revisions.subscribe()
    }

    /// The planned model's revision.
    pub fn revision(&self) -> Revision {
        self.engine.revision()
    }

    /// The planned model: the base and every write so far.
    pub fn model(&self) -> Arc<Model> {
        self.engine.snapshot()
    }

    /// Every change planned so far, in order.
    pub fn changes(&self) -> Vec<Change> {
        self.lock().map(|p| p.changes.clone()).unwrap_or_default()
    }

    /// The audit events the planned writes would append about `target_id`,
    /// in order (numbered from 0: the store numbers real ones).
    pub fn audit_for(&self, target_id: &str) -> Vec<AuditEvent> {
        self.lock()
            .map(|p| {
                p.audit
                    .iter()
                    .filter(|e| e.target_id == target_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Planned>, ApiError> {
        self.planned
            .lock()
            .map_err(|_| ApiError::Internal("a sandbox's lock is poisoned".into()))
    }

    /// Plans `op` as the writer would ([`crate::writer::Writer::write`]):
    /// on a draft of the planned model, with the lockout guard of
    /// `Draft::finish`; a success is applied to the planned model and
    /// published to the sandbox's engine. Returns `op`'s output and the
    /// revision it produced (the current one when it changed nothing).
    pub fn write<T, F>(&self, ctx: &Context, mut op: F) -> Result<(T, Revision), ApiError>
    where
        F: FnMut(&mut Draft<'_>) -> Result<T, DomainError>,
    {
        let mut planned = self.lock()?;
        let mut d = Draft::new(&planned.model, ctx);
        let out = op(&mut d)?;
        let outcome = d.finish()?;
        if !outcome.changes.is_empty() {
            planned.model = outcome.model;
            planned.changes.extend(outcome.changes);
            planned.audit.extend(outcome.audit);
            self.engine.publish(Arc::new(planned.model.clone()));
            self.revisions.send_replace(planned.model.revision());
        }
        Ok((out, outcome.revision))
    }
}

/// The answer to one request in a sandbox.
#[derive(Debug)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: axum::body::Bytes,
}

/// Largest answer body read back from a request in a sandbox. Answers are
/// the server's own (bounded by the data a real request would return).
const ANSWER_LIMIT: usize = 64 * 1024 * 1024;

/// Sends `req` through `app` (an app on a sandboxed state) and reads its
/// whole answer.
pub async fn send(app: &Router, req: Request<Body>) -> Result<Answer, ApiError> {
    let resp = app
        .clone()
        .oneshot(req)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, ANSWER_LIMIT)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}
