//! The recorder: delivery attempts and subscriptions' progress reach the
//! database in batches (one transaction every [`FLUSH_EVERY`] or
//! [`MAX_BATCH`] attempts), off the delivery path. Delivery is at least
//! once: progress not yet flushed when the process dies is delivered again.

use roster_authz::Engine;
use roster_store::{Store, WebhookDelivery, WebhookProgress};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// Longest an attempt waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Most attempts written in one transaction.
pub const MAX_BATCH: usize = 2000;
/// Records waiting at most; a task sending more waits (bounded memory).
const BACKLOG: usize = 8192;

/// What a subscription's task reports.
#[derive(Debug)]
pub enum Record {
    /// An attempt, and the progress after it.
    Attempt(Box<WebhookDelivery>, WebhookProgress),
    /// Progress without an attempt (a replay taken up).
    Progress(WebhookProgress),
}

/// Where tasks send their records. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: mpsc::Sender<Record>,
}

impl Recorder {
    /// Starts the recorder writing to `store`, on `runtime`; it ends when
    /// every sender is gone.
    pub fn start(store: Arc<dyn Store>, engine: Arc<Engine>, runtime: &Handle) -> Self {
        let (tx, rx) = mpsc::channel(BACKLOG);
        runtime.spawn(run(store, engine, rx));
        Self { tx }
    }

    /// Sends a record (waits while the backlog is full).
    pub async fn send(&self, r: Record) {
        if self.tx.send(r).await.is_err() {
            tracing::warn!("the webhook recorder has stopped; a delivery record was dropped");
        }
    }
}

async fn run(store: Arc<dyn Store>, engine: Arc<Engine>, mut rx: mpsc::Receiver<Record>) {
    let mut progress: HashMap<roster_domain::WebhookId, WebhookProgress> = HashMap::new();
    let mut deliveries: Vec<WebhookDelivery> = Vec::new();
    let mut buf = Vec::new();
    loop {
        // Wait for the first record, then gather for a while.
        if rx.recv_many(&mut buf, MAX_BATCH).await == 0 {
            flush(&*store, &engine, &mut progress, &mut deliveries).await;
            return;
        }
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        loop {
            for r in buf.drain(..) {
                let p = match r {
                    Record::Attempt(d, p) => {
                        deliveries.push(*d);
                        p
                    }
                    Record::Progress(p) => p,
                };
                let took = p.took_replay;
                let entry = progress.entry(p.webhook_id).or_insert_with(|| p.clone());
                // The latest progress wins; a replay taken up stays noted.
                let took = took.or(entry.took_replay);
                *entry = WebhookProgress {
                    took_replay: took,
                    ..p
                };
            }
            if deliveries.len() >= MAX_BATCH {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut buf, MAX_BATCH)).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        flush(&*store, &engine, &mut progress, &mut deliveries).await;
    }
}

/// Writes what was gathered; on failure, what is left of it is kept for
/// the next flush (bounded: the oldest attempts are dropped first).
async fn flush(
    store: &dyn Store,
    engine: &Engine,
    progress: &mut HashMap<roster_domain::WebhookId, WebhookProgress>,
    deliveries: &mut Vec<WebhookDelivery>,
) {
    if progress.is_empty() && deliveries.is_empty() {
        return;
    }
    // A subscription deleted meanwhile has no row left to refer to.
    let model = engine.snapshot();
    progress.retain(|id, _| model.webhook(*id).is_some());
    deliveries.retain(|d| model.webhook(d.webhook_id).is_some());
    let p: Vec<WebhookProgress> = progress.values().cloned().collect();
    match store.record_webhook_progress(&p, deliveries).await {
        Ok(()) => {
            progress.clear();
            deliveries.clear();
        }
        Err(e) => {
            tracing::warn!(error = %e, attempts = deliveries.len(), "recording webhook deliveries failed; retrying");
            if deliveries.len() > 4 * MAX_BATCH {
                let drop = deliveries.len() - 4 * MAX_BATCH;
                deliveries.drain(..drop);
            }
            tokio::time::sleep(FLUSH_EVERY).await;
        }
    }
}
