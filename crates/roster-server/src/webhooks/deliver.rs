//! One subscription's delivery task: reads the feed after its cursor, a
//! page at a time, and sends each event until a `2xx`, strictly in `seq`
//! order. Changes to the subscription (URL, types, secrets) apply from the
//! next attempt on: each attempt reads the subscription from the published
//! model. The task ends when the subscription is disabled or removed.

use super::pace::Pace;
use super::record::{Record, Recorder};
use super::{sign, WebhookConfig};
use crate::metrics::{Metrics, PendingGuard};
use crate::outbound::Outbound;
use crate::state::AppState;
use crate::writer::Writer;
use rand::Rng;
use roster_authz::Engine;
use roster_domain::{ops, Context, Event, Revision, Webhook, WebhookId};
use roster_store::{EventFilter, Store, WebhookDelivery, WebhookProgress, WebhookReplay};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

/// At most this much of an answer is read.
pub const MAX_ANSWER: usize = 64 * 1024;

/// Shortest pause between two looks at the feed while caught up: under a
/// steady stream of commits a task reads one page every 200 ms rather than
/// one small page per commit (a look after a quiet spell is immediate).
/// From 25 ms to 200 ms lifted Yuno writes with 10 subscriptions from
/// about 81 % to 84–92 % of the run without (docs/benchmarks.md).
const POLL_MIN: Duration = Duration::from_millis(200);

/// Longest wait for a new revision before the feed is read anyway.
const POLL_MAX: Duration = Duration::from_secs(1);

/// Longest pause after a failure of the database.
const STORE_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What the supervisor tells a task.
#[derive(Debug)]
pub enum Control {
    /// Start again after this event.
    Replay(WebhookReplay),
}

/// Where the task stands.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    last_seq: i64,
    attempts: u32,
    next_attempt_at: Option<OffsetDateTime>,
    first_failure_at: Option<OffsetDateTime>,
}

/// Why the task stops or starts over.
enum Stop {
    /// The subscription is disabled or gone.
    Done,
    /// A replay moved the cursor: read the feed again from it.
    Restart,
}

/// One subscription's task.
#[derive(Debug)]
pub struct Task {
    id: WebhookId,
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    writer: Writer,
    outbound: Outbound,
    revisions: watch::Receiver<Revision>,
    config: WebhookConfig,
    recorder: Recorder,
    pace: Arc<Pace>,
    control: mpsc::Receiver<Control>,
    metrics: Arc<Metrics>,
}

impl Task {
    /// The task of subscription `id`.
    pub(super) fn new(
        state: &AppState,
        recorder: Recorder,
        pace: Arc<Pace>,
        id: WebhookId,
        control: mpsc::Receiver<Control>,
    ) -> Self {
        Self {
            id,
            store: state.store.clone(),
            engine: state.engine.clone(),
            writer: state.writer.clone(),
            outbound: state.outbound.clone(),
            revisions: state.revisions.clone(),
            config: state.config.webhooks.clone(),
            recorder,
            pace,
            control,
            metrics: state.metrics.clone(),
        }
    }

    /// The subscription, while it is enabled.
    fn webhook(&self) -> Option<Arc<Webhook>> {
        self.engine
            .snapshot()
            .webhook(self.id)
            .filter(|w| w.enabled)
            .cloned()
    }

    /// Runs until the subscription is disabled or removed.
    pub async fn run(mut self) {
        let _pending = PendingGuard::new(self.metrics.clone(), self.id);
        let Some(mut cursor) = self.start().await else {
            return;
        };
        loop {
            match self.deliver_from(&mut cursor).await {
                Stop::Done => return,
                Stop::Restart => continue,
            }
        }
    }

    /// Reads (or makes) the subscription's cursor, retrying the database.
    async fn start(&mut self) -> Option<Cursor> {
        let mut backoff = Duration::from_millis(100);
        loop {
            let w = self.webhook()?;
            match self
                .store
                .start_webhook_cursor(self.id, w.created_revision, w.created_at)
                .await
            {
                Ok(c) => {
                    let mut cursor = Cursor {
                        last_seq: c.last_seq,
                        attempts: c.attempts,
                        next_attempt_at: c.next_attempt_at,
                        first_failure_at: c.first_failure_at,
                    };
                    // Changed (enabled again, its URL fixed) since it
                    // started failing: the give-up horizon starts over.
                    if cursor.first_failure_at.is_some_and(|f| w.updated_at > f) {
                        cursor.attempts = 0;
                        cursor.first_failure_at = None;
                        cursor.next_attempt_at = None;
                    }
                    return Some(cursor);
                }
                Err(e) => {
                    tracing::warn!(webhook = %self.id, error = %e, "reading a webhook's cursor failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(STORE_BACKOFF_MAX);
                }
            }
        }
    }

    /// Delivers every event after the cursor, reading the feed a page at a
    /// time and waiting for new events when caught up.
    async fn deliver_from(&mut self, cursor: &mut Cursor) -> Stop {
        let mut store_backoff = Duration::from_millis(100);
        loop {
            let Some(w) = self.webhook() else {
                return Stop::Done;
            };
            let filter = EventFilter {
                after: cursor.last_seq,
                organization_ids: Some(vec![w.organization_id]),
                types: w.event_types.types().map(<[String]>::to_vec),
                limit: self.config.page.max(1),
            };
            // Note the revision before reading, so a commit after the read
            // wakes the wait below.
            self.revisions.borrow_and_update();
            let page = match self.store.events(&filter).await {
                Ok(p) => {
                    store_backoff = Duration::from_millis(100);
                    p
                }
                Err(e) => {
                    tracing::warn!(webhook = %self.id, error = %e, "reading the event feed failed");
                    if let Some(stop) = self.pause(store_backoff, cursor).await {
                        return stop;
                    }
                    store_backoff = (store_backoff * 2).min(STORE_BACKOFF_MAX);
                    continue;
                }
            };
            if page.is_empty() {
                if let Some(stop) = self.wait_for_events(cursor).await {
                    return stop;
                }
                continue;
            }
            for event in page {
                if let Some(stop) = self.deliver_one(&event, cursor).await {
                    return stop;
                }
            }
        }
    }

    /// Waits for a commit (at most [`POLL_MAX`], at least [`POLL_MIN`]),
    /// or a replay.
    async fn wait_for_events(&mut self, cursor: &mut Cursor) -> Option<Stop> {
        let started = Instant::now();
        tokio::select! {
            changed = self.revisions.changed() => {
                if changed.is_err() {
                    return Some(Stop::Done);
                }
            }
            () = tokio::time::sleep(POLL_MAX) => {}
            c = self.control.recv() => return Some(self.control(c, cursor).await),
        }
        let rest = POLL_MIN.saturating_sub(started.elapsed());
        if !rest.is_zero() {
            return self.pause(rest, cursor).await;
        }
        None
    }

    /// Sleeps `d`, or less when a replay comes.
    async fn pause(&mut self, d: Duration, cursor: &mut Cursor) -> Option<Stop> {
        tokio::select! {
            () = tokio::time::sleep(d) => None,
            c = self.control.recv() => Some(self.control(c, cursor).await),
        }
    }

    /// Acts on a message of the supervisor (`None`: it has gone).
    async fn control(&mut self, c: Option<Control>, cursor: &mut Cursor) -> Stop {
        match c {
            Some(Control::Replay(r)) => {
                *cursor = Cursor {
                    last_seq: r.after,
                    attempts: 0,
                    next_attempt_at: None,
                    first_failure_at: None,
                };
                self.recorder
                    .send(Record::Progress(self.progress(cursor, Some(r.id))))
                    .await;
                tracing::info!(webhook = %self.id, after = r.after, "webhook replay");
                Stop::Restart
            }
            None => Stop::Done,
        }
    }

    fn progress(&self, c: &Cursor, took_replay: Option<uuid::Uuid>) -> WebhookProgress {
        WebhookProgress {
            webhook_id: self.id,
            last_seq: c.last_seq,
            attempts: c.attempts,
            next_attempt_at: c.next_attempt_at,
            first_failure_at: c.first_failure_at,
            took_replay,
        }
    }

    /// Sends `event` until it gets a `2xx` (`None`), or the subscription
    /// is given up, disabled or removed, or a replay moves the cursor.
    async fn deliver_one(&mut self, event: &Event, cursor: &mut Cursor) -> Option<Stop> {
        let body = match serde_json::to_vec(event) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(webhook = %self.id, seq = event.seq, error = %e, "an event could not be serialized; skipped");
                cursor.last_seq = event.seq;
                return None;
            }
        };
        let id = event.id.to_string();
        loop {
            if let Some(at) = cursor.next_attempt_at {
                let wait = at - OffsetDateTime::now_utc();
                if wait.is_positive() {
                    let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
                    if let Some(stop) = self.pause(wait, cursor).await {
                        return Some(stop);
                    }
                }
            }
            let Some(w) = self.webhook() else {
                return Some(Stop::Done);
            };
            if !w.event_types.matches(&event.kind) {
                // Its types changed since the page was read.
                cursor.last_seq = event.seq;
                return None;
            }
            self.metrics
                .webhook_pending
                .sending(self.id, event.occurred_at, cursor.attempts > 0);
            if self.pace.turn().await {
                self.metrics.webhook_paced.inc();
            }
            let outcome = self.attempt(&w, &id, &body).await;
            let delivered = outcome.status.is_some_and(|s| (200..300).contains(&s));
            self.metrics.webhook_attempted(delivered);
            let now = OffsetDateTime::now_utc();
            let attempt = cursor.attempts.saturating_add(1);
            let mut delivery = WebhookDelivery {
                id: 0,
                webhook_id: self.id,
                attempted_at: outcome.at,
                event_seq: event.seq,
                event_id: event.id,
                event_type: event.kind.clone(),
                attempt,
                status: outcome.status,
                error: outcome.error.clone(),
                duration_ms: outcome.took.as_millis().try_into().unwrap_or(u64::MAX),
                next_retry_at: None,
            };
            if delivered {
                self.metrics.webhook_pending.done(self.id);
                *cursor = Cursor {
                    last_seq: event.seq,
                    attempts: 0,
                    next_attempt_at: None,
                    first_failure_at: None,
                };
                self.recorder
                    .send(Record::Attempt(
                        Box::new(delivery),
                        self.progress(cursor, None),
                    ))
                    .await;
                return None;
            }
            let first = *cursor.first_failure_at.get_or_insert(outcome.at);
            cursor.attempts = attempt;
            let horizon =
                time::Duration::try_from(self.config.give_up_after).unwrap_or(time::Duration::DAY);
            if now - first >= horizon {
                // Given up: the subscription is disabled; its cursor stays
                // on this event, which is sent first if it is enabled again.
                cursor.next_attempt_at = None;
                self.recorder
                    .send(Record::Attempt(
                        Box::new(delivery),
                        self.progress(cursor, None),
                    ))
                    .await;
                self.give_up(event).await;
                return Some(Stop::Done);
            }
            let delay = backoff(&self.config, attempt);
            let next = now + time::Duration::try_from(delay).unwrap_or(time::Duration::SECOND);
            cursor.next_attempt_at = Some(next);
            delivery.next_retry_at = Some(next);
            self.recorder
                .send(Record::Attempt(
                    Box::new(delivery),
                    self.progress(cursor, None),
                ))
                .await;
        }
    }

    /// One POST of `body` to the subscription's URL.
    async fn attempt(&self, w: &Webhook, id: &str, body: &[u8]) -> Outcome {
        let at = roster_domain::draft::to_micros(OffsetDateTime::now_utc());
        let started = Instant::now();
        let secrets = w.live_secrets(at).map(|s| &s.secret);
        let result = match sign::headers(id, at.unix_timestamp(), body, secrets) {
            Ok(headers) => match url::Url::parse(w.url.as_str()) {
                Ok(url) => self
                    .outbound
                    .post_webhook(&url, headers, body.to_vec(), MAX_ANSWER)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("not a URL: {e}")),
            },
            Err(e) => Err(e.to_string()),
        };
        let took = started.elapsed();
        match result {
            Ok(status) => Outcome {
                at,
                took,
                status: Some(status),
                error: (!(200..300).contains(&status))
                    .then(|| format!("the endpoint answered {status}")),
            },
            Err(error) => Outcome {
                at,
                took,
                status: None,
                error: Some(error),
            },
        }
    }

    /// Disables the subscription through the writer (`webhook.disable`,
    /// reason `failing`), retrying while the writer fails.
    async fn give_up(&self, event: &Event) {
        tracing::warn!(webhook = %self.id, seq = event.seq, "webhook endpoint failing past the horizon: disabling the subscription");
        let id = self.id;
        let mut backoff = Duration::from_millis(100);
        for _ in 0..20 {
            let ctx = Context {
                reason: Some(ops::FAILING),
                ..Context::system(OffsetDateTime::now_utc())
            };
            match self
                .writer
                .write(ctx, move |d| ops::disable_failing_webhook(d, id))
                .await
            {
                Ok(_) => {
                    self.metrics.webhook_disabled.inc();
                    return;
                }
                Err(e) => {
                    tracing::warn!(webhook = %id, error = %e, "disabling a failing webhook failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(STORE_BACKOFF_MAX);
                }
            }
        }
    }
}

/// What one attempt came to.
#[derive(Debug)]
struct Outcome {
    at: OffsetDateTime,
    took: Duration,
    status: Option<u16>,
    error: Option<String>,
}

/// The delay before attempt `failed + 1`: `initial · 2^(failed-1)`, at
/// most `max`, with jitter (a random point in its upper half).
pub fn backoff(config: &WebhookConfig, failed: u32) -> Duration {
    let exp = failed.saturating_sub(1).min(30);
    let full = config
        .backoff_initial
        .saturating_mul(1u32 << exp)
        .min(config.backoff_max);
    let half = full / 2;
    let jitter =
        rand::thread_rng().gen_range(0..=half.as_millis().min(u128::from(u64::MAX)) as u64);
    half + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_max_with_jitter() {
        let c = WebhookConfig {
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            ..WebhookConfig::default()
        };
        for (failed, full) in [(1, 1), (2, 2), (3, 4), (7, 60), (40, 60)] {
            let d = backoff(&c, failed);
            let full = Duration::from_secs(full);
            assert!(d >= full / 2 && d <= full, "{failed}: {d:?}");
        }
    }
}
