//! Webhook delivery: the events of each enabled subscription's
//! organization (of its types) are POSTed to its URL, signed per Standard
//! Webhooks ([`sign`]), at least once and in `seq` order per subscription.
//!
//! One process per deployment delivers: the one holding
//! [`Singleton::Webhooks`] ([`Store::try_lead`]; on SQLite, always the one
//! process). Its supervisor ([`spawn`]) runs one task per enabled
//! subscription ([`deliver`]), each reading the feed after its cursor in
//! pages (bounded memory however far behind), sending one event at a time
//! and the next only after a `2xx` (retrying with exponential backoff and
//! jitter, for up to [`WebhookConfig::give_up_after`], then disabling the
//! subscription through the writer: `webhook.disable`, reason `failing`).
//! Attempts and cursors are written in batches by the [`record`]er; a crash
//! repeats what was not yet recorded (same `webhook-id`). The log is
//! trimmed with the event feed's retention ([`delivery_log_trim`]). A slow endpoint
//! holds only its own task: writes, checks and other subscriptions never
//! wait for it. When the leadership is lost, every task stops; another
//! process takes over from the recorded cursors within seconds.

pub mod deliver;
pub mod pace;
pub mod record;
pub mod sign;

use crate::state::AppState;
use pace::Pace;
use record::Recorder;
use roster_domain::WebhookId;
use roster_store::{Leadership, Singleton, WebhookProgress};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often the supervisor looks at leadership, replays and subscriptions.
pub const TICK: Duration = Duration::from_secs(1);

/// Tunables of delivery (`roster serve --webhook-…`).
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Failing this long (since an event's first failed attempt), a
    /// subscription is disabled (default 24 h).
    pub give_up_after: Duration,
    /// The first retry's delay; each next one doubles it (default 1 s).
    pub backoff_initial: Duration,
    /// The longest delay between two attempts (default 1 h).
    pub backoff_max: Duration,
    /// Events read from the feed at a time, per subscription.
    pub page: u32,
    /// Attempts per second, all subscriptions together, while jobs wait
    /// for the writer (default 1,000; `0`: never paced). See [`pace`].
    pub rate_under_load: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            give_up_after: Duration::from_secs(24 * 3600),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(3600),
            page: 200,
            rate_under_load: 1_000,
        }
    }
}

/// The nice value of the delivery threads (Linux): above the API's 0, so
/// that on a saturated CPU the scheduler runs writes and checks first and
/// deliveries in what is left.
pub const DELIVERY_NICE: i32 = 10;

/// The runtime deliveries run on, one per process and never shut down: its
/// own threads, at [`DELIVERY_NICE`]. Connections it opens (to the
/// database, to endpoints) stay valid for every user of their pools.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        #[allow(clippy::expect_used, reason = "no threads: the process cannot work")]
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("roster-webhooks")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .expect("starting the webhook delivery threads")
    })
}

/// Lowers the calling thread's scheduling priority to [`DELIVERY_NICE`]
/// (Linux: `setpriority(PRIO_PROCESS, 0, …)` sets the calling thread's).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, DELIVERY_NICE) {
        tracing::warn!(error = %e, "could not lower the webhook delivery threads' priority");
    }
}

/// Starts delivering webhooks for `state` (`roster serve` does, unless
/// `--no-webhook-delivery`), on the delivery runtime. Runs until the task
/// is aborted (which stops every subscription's task with it).
///
/// Called from the API's runtime (it panics outside one): the [`Recorder`]
/// runs there, at the API's priority, because each of its transactions
/// holds the database's one write connection across several statements.
/// On the delivery threads it would wait for CPU between them, behind the
/// API, while every write waits for the connection (a priority inversion).
pub fn spawn(state: &AppState) -> JoinHandle<()> {
    let state = state.clone();
    let api = tokio::runtime::Handle::current();
    runtime().spawn(async move {
        let recorder = Recorder::start(state.store.clone(), state.engine.clone(), &api);
        let pace = Arc::new(Pace::new(
            state.writer.contention(),
            state.config.webhooks.rate_under_load,
        ));
        let sup = Supervisor {
            state,
            recorder,
            pace,
            leadership: None,
            tasks: HashMap::new(),
        };
        sup.run().await;
    })
}

/// A running subscription task.
#[derive(Debug)]
struct Running {
    handle: JoinHandle<()>,
    control: mpsc::Sender<deliver::Control>,
}

struct Supervisor {
    state: AppState,
    recorder: Recorder,
    pace: Arc<Pace>,
    leadership: Option<Box<dyn Leadership>>,
    tasks: HashMap<WebhookId, Running>,
}

impl Drop for Supervisor {
    /// Stopped (aborted, or its leadership lost): no task goes on alone.
    fn drop(&mut self) {
        self.stop_all();
    }
}

impl Supervisor {
    async fn run(mut self) {
        let mut revisions = self.state.revisions.clone();
        let mut last_tick = tokio::time::Instant::now() - TICK;
        loop {
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                changed = revisions.changed() => {
                    if changed.is_err() {
                        tracing::info!("webhook delivery stopped: the writer has stopped");
                        self.stop_all();
                        return;
                    }
                    // Many commits: look at the subscriptions at most
                    // every 100 ms.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    revisions.borrow_and_update();
                }
            }
            let tick = last_tick.elapsed() >= TICK;
            if tick {
                last_tick = tokio::time::Instant::now();
                if !self.lead().await {
                    self.stop_all();
                    continue;
                }
            } else if self.leadership.is_none() {
                continue;
            }
            self.reconcile();
            if tick {
                self.replays().await;
            }
        }
    }

    /// Whether this process delivers: it keeps the leadership it has while
    /// the database says it holds it, else tries to take it.
    async fn lead(&mut self) -> bool {
        if let Some(held) = self.leadership.as_mut() {
            if held.held().await {
                return true;
            }
            tracing::warn!("webhook delivery lost its leadership (its database connection)");
            self.leadership = None;
        }
        match self.state.store.try_lead(Singleton::Webhooks).await {
            Ok(Some(l)) => {
                tracing::info!("this process delivers webhooks");
                self.leadership = Some(l);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "webhook delivery could not ask for leadership");
                false
            }
        }
    }

    fn stop_all(&mut self) {
        for (_, t) in self.tasks.drain() {
            t.handle.abort();
        }
    }

    /// One task per enabled subscription: starts the missing ones, forgets
    /// the finished ones (a task ends when its subscription is disabled or
    /// gone) and stops those whose subscription is.
    fn reconcile(&mut self) {
        let model = self.state.engine.snapshot();
        self.tasks.retain(|id, t| {
            let live = model.webhook(*id).is_some_and(|w| w.enabled);
            if !live {
                t.handle.abort();
            }
            live && !t.handle.is_finished()
        });
        for w in model.webhooks().filter(|w| w.enabled) {
            if self.tasks.contains_key(&w.id) {
                continue;
            }
            let (tx, rx) = mpsc::channel(16);
            let task = deliver::Task::new(
                &self.state,
                self.recorder.clone(),
                self.pace.clone(),
                w.id,
                rx,
            );
            self.tasks.insert(
                w.id,
                Running {
                    handle: tokio::spawn(task.run()),
                    control: tx,
                },
            );
        }
    }

    /// Hands waiting replays to their tasks; a disabled subscription's
    /// cursor is moved here (its task starts from it when enabled again).
    async fn replays(&mut self) {
        let replays = match self.state.store.webhook_replays().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "reading webhook replays failed");
                return;
            }
        };
        for c in replays {
            let Some(r) = c.replay else { continue };
            match self.tasks.get(&c.webhook_id) {
                Some(t) => {
                    let _ = t.control.try_send(deliver::Control::Replay(r));
                }
                None => {
                    self.recorder
                        .send(record::Record::Progress(WebhookProgress {
                            webhook_id: c.webhook_id,
                            last_seq: r.after,
                            attempts: 0,
                            next_attempt_at: None,
                            first_failure_at: None,
                            took_replay: Some(r.id),
                        }))
                        .await;
                }
            }
        }
    }
}

/// The delivery log's trim, for [`crate::retention::Retention::also`]: the
/// log is kept as long as the event feed.
pub fn delivery_log_trim(state: &AppState) -> crate::retention::TrimFn {
    let store = state.store.clone();
    Arc::new(move |before| {
        let store = store.clone();
        Box::pin(async move { store.trim_webhook_deliveries(before).await })
    })
}
