//! The expiry sweeper: the background task that removes grants and group
//! memberships once they have expired.
//!
//! Checks ignore what has expired from its expiry on, with no write (SPEC
//! §2.1); the sweeper then removes it within about a second, as ordinary
//! writes through the [`Writer`] (`ops::expire_due`, as the system with
//! reason `expired`: audit events `grant.expire` and `group_member.expire`
//! with a `null` actor), so that stored state, lookups and the audit trail
//! agree. It sleeps until the next expiry (at most [`TICK`]) or until the
//! model changes, and removes at most [`BATCH`] per write.
//!
//! One process sweeps per deployment: replicas sharing PostgreSQL compete
//! for [`Singleton::ExpirySweep`] (an advisory lock, see
//! [`Store::try_lead`]); when the leader dies the lock is released and the
//! next replica that finds something expired takes over. Two sweepers
//! would still be harmless: a sweep decides what to remove inside its own
//! draft, so one planned on a stale model is planned again by the writer
//! and finds nothing left to remove.

use crate::error::ApiError;
use crate::state::AppState;
use crate::writer::Writer;
use roster_authz::Engine;
use roster_domain::{ops, Context, Moment, Revision};
use roster_store::{Leadership, Singleton, Store};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Most grants and memberships removed in one write.
pub const BATCH: usize = 500;

/// The `reason` of the sweeper's audit events.
pub const REASON: &str = "expired";

/// Longest the sweeper sleeps before it looks again; also how often a
/// replica that does not lead retries while something expired is left.
pub const TICK: Duration = Duration::from_secs(1);

/// Longest pause after failed sweeps (doubling from [`TICK`]).
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Starts the sweeper of `state`'s writer (`roster serve` does, unless
/// `--no-expiry-sweep`). It runs until the returned task is aborted or the
/// runtime ends.
pub fn spawn(state: &AppState) -> JoinHandle<()> {
    let sweeper = Sweeper {
        store: state.store.clone(),
        engine: state.engine.clone(),
        writer: state.writer.clone(),
        revisions: state.revisions.clone(),
        leadership: None,
    };
    tokio::spawn(sweeper.run())
}

struct Sweeper {
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    writer: Writer,
    revisions: watch::Receiver<Revision>,
    /// Held while this process is the one that sweeps.
    leadership: Option<Box<dyn Leadership>>,
}

impl Sweeper {
    async fn run(mut self) {
        let mut backoff = TICK;
        loop {
            if !self.wait_for_due().await {
                tracing::info!("expiry sweeper stopped: the writer has stopped");
                return;
            }
            if !self.lead().await {
                // Another process sweeps; its removals arrive through the
                // change log. Look again after a while.
                tokio::time::sleep(TICK).await;
                continue;
            }
            match self.sweep().await {
                Ok(removed) => {
                    backoff = TICK;
                    if removed == 0 {
                        // Nothing was due in the writer's model after
                        // all: look again later rather than spin.
                        tokio::time::sleep(TICK).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis(), "removing expired grants and memberships failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Waits until the published model holds something that has expired:
    /// sleeps until the next expiry (at most [`TICK`]), and looks again
    /// whenever the model changes (a new grant may expire sooner). `false`
    /// when the writer has stopped.
    async fn wait_for_due(&mut self) -> bool {
        loop {
            self.revisions.borrow_and_update();
            let now = OffsetDateTime::now_utc();
            let wait = match self.engine.snapshot().next_expiry() {
                Some(at) if at <= Moment::of(now) => return true,
                Some(at) => Duration::try_from(at.to_time() - now)
                    .unwrap_or(Duration::ZERO)
                    .min(TICK),
                None => TICK,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                changed = self.revisions.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                }
            }
        }
    }

    /// Whether this process sweeps: it keeps the leadership it has while
    /// the database says it holds it, else tries to take it.
    async fn lead(&mut self) -> bool {
        if let Some(held) = self.leadership.as_mut() {
            if held.held().await {
                return true;
            }
            tracing::warn!("the expiry sweeper lost its leadership (its database connection)");
            self.leadership = None;
        }
        match self.store.try_lead(Singleton::ExpirySweep).await {
            Ok(Some(l)) => {
                tracing::info!("this process sweeps expired grants and memberships");
                self.leadership = Some(l);
                true
            }
            Ok(None) => {
                tracing::debug!("another process sweeps expired grants and memberships");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "the expiry sweeper could not ask for leadership");
                false
            }
        }
    }

    /// One write removing what is due (at most [`BATCH`]); how many it removed.
    async fn sweep(&self) -> Result<usize, ApiError> {
        let ctx = Context {
            reason: Some(REASON),
            ..Context::system(OffsetDateTime::now_utc())
        };
        // What to remove is decided inside the draft: a retry after another
        // process's commit plans again on the newer model.
        let (removed, revision) = self
            .writer
            .write(ctx, |d| ops::expire_due(d, BATCH))
            .await?;
        if removed > 0 {
            tracing::info!(
                removed,
                revision,
                "removed expired grants and group memberships"
            );
        }
        Ok(removed)
    }
}
