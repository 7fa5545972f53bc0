//! The writer: the one task per process that changes the model.
//!
//! Handlers send it jobs (closures over a [`Draft`]). It drains whatever jobs
//! are waiting, plans each on top of the previous one, commits them all in
//! ONE database transaction (group commit: many durable writes for one
//! fsync), and only then publishes the new model to the engine and answers
//! each caller with the revision its change produced. A job that breaks a
//! rule is answered with its error and contributes nothing to the batch.
//!
//! If another replica committed first, the store refuses the batch as stale;
//! the writer catches up from the change log and plans the batch again.
//!
//! A writer may instead be a [`Sandbox`]'s: it plans each job on the
//! sandbox's private model and keeps the outcome there, committing nothing
//! (what-if and `?dry_run=true`, see [`crate::sandbox`]).

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::sandbox::Sandbox;
use roster_authz::Engine;
use roster_domain::{Context, DomainError, Draft, Model, Revision};
use roster_store::{Commit, Store, StoreError};
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

type Output = Box<dyn Any + Send>;
type JobFn = Box<dyn FnMut(&mut Draft<'_>) -> Result<Output, DomainError> + Send>;
type Reply = oneshot::Sender<Result<(Output, Revision), ApiError>>;

enum Job {
    Write {
        ctx: Context,
        run: JobFn,
        reply: Reply,
    },
    /// Catch up with changes committed by other processes.
    Sync {
        reply: Option<oneshot::Sender<Revision>>,
    },
}

/// Most jobs waiting for the writer; more wait to be accepted.
const QUEUE: usize = 4096;
/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 256;
/// How often a batch is re-planned after other replicas' commits.
const MAX_ATTEMPTS: usize = 8;

/// Handle to the writer task, or to a sandbox. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    inner: Inner,
    contention: Contention,
}

/// When jobs last queued behind a commit: the write path is saturated.
/// Webhook deliveries yield to it ([`crate::webhooks::pace`]). Cheap to
/// clone; on the tokio clock.
#[derive(Clone, Debug)]
pub struct Contention(Arc<ContentionClock>);

#[derive(Debug)]
struct ContentionClock {
    since: tokio::time::Instant,
    /// Milliseconds after `since` plus one; `0`: never contended.
    last: AtomicU64,
}

impl Default for Contention {
    fn default() -> Self {
        Self(Arc::new(ContentionClock {
            since: tokio::time::Instant::now(),
            last: AtomicU64::new(0),
        }))
    }
}

impl Contention {
    fn now(&self) -> u64 {
        u64::try_from(self.0.since.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Notes that jobs are queued behind a commit now.
    pub fn note(&self) {
        self.0.last.store(self.now(), Ordering::Relaxed);
    }

    /// Whether jobs queued behind a commit within the last `window`.
    pub fn within(&self, window: std::time::Duration) -> bool {
        let last = self.0.last.load(Ordering::Relaxed);
        last > 0
            && self.now().saturating_sub(last)
                <= u64::try_from(window.as_millis()).unwrap_or(u64::MAX)
    }
}

#[derive(Clone, Debug)]
enum Inner {
    /// The process's writer task: plans, commits, publishes.
    Task(mpsc::Sender<Job>),
    /// A sandbox: plans on its private model, commits nothing.
    Sandbox(Arc<Sandbox>),
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Write { .. } => "Job::Write",
            Self::Sync { .. } => "Job::Sync",
        })
    }
}

impl Writer {
    /// Starts the writer task on `model` (the latest committed state).
    pub fn start(
        store: Arc<dyn Store>,
        engine: Arc<Engine>,
        model: Model,
        revisions: watch::Sender<Revision>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let contention = Contention::default();
        tokio::spawn(run(
            store,
            engine,
            model,
            revisions,
            rx,
            metrics,
            contention.clone(),
        ));
        Self {
            inner: Inner::Task(tx),
            contention,
        }
    }

    /// A writer that plans on `sandbox` and commits nothing.
    pub fn sandbox(sandbox: Arc<Sandbox>) -> Self {
        Self {
            inner: Inner::Sandbox(sandbox),
            contention: Contention::default(),
        }
    }

    /// Runs `op` as one atomic write and returns its output and the revision
    /// it produced (the current revision when it changed nothing). `op` may
    /// run more than once (after a stale conflict), always on a fresh draft.
    pub async fn write<T, F>(&self, ctx: Context, mut op: F) -> Result<(T, Revision), ApiError>
    where
        T: Send + 'static,
        F: FnMut(&mut Draft<'_>) -> Result<T, DomainError> + Send + 'static,
    {
        let tx = match &self.inner {
            Inner::Task(tx) => tx,
            Inner::Sandbox(s) => return s.write(&ctx, op),
        };
        let (reply, rx) = oneshot::channel();
        let run: JobFn = Box::new(move |d| op(d).map(|t| Box::new(t) as Output));
        tx.send(Job::Write { ctx, run, reply })
            .await
            .map_err(|_| ApiError::Unavailable("the writer has stopped".into()))?;
        let (out, rev) = rx
            .await
            .map_err(|_| ApiError::Unavailable("the writer has stopped".into()))??;
        let out = out
            .downcast::<T>()
            .map_err(|_| ApiError::Internal("writer returned an unexpected type".into()))?;
        Ok((*out, rev))
    }

    /// Asks the writer to catch up with other processes' commits; returns
    /// the revision it reached (a sandbox's: its own, as it follows nobody).
    pub async fn sync(&self) -> Option<Revision> {
        let tx = match &self.inner {
            Inner::Task(tx) => tx,
            Inner::Sandbox(s) => return Some(s.revision()),
        };
        let (reply, rx) = oneshot::channel();
        tx.send(Job::Sync { reply: Some(reply) }).await.ok()?;
        rx.await.ok()
    }

    /// Jobs waiting for the writer task (none for a sandbox).
    pub fn queued(&self) -> usize {
        match &self.inner {
            Inner::Task(tx) => tx.max_capacity() - tx.capacity(),
            Inner::Sandbox(_) => 0,
        }
    }

    /// When jobs last queued behind this writer's commits (never for a
    /// sandbox).
    pub fn contention(&self) -> Contention {
        self.contention.clone()
    }

    /// Fire-and-forget [`Writer::sync`].
    pub fn nudge(&self) {
        if let Inner::Task(tx) = &self.inner {
            let _ = tx.try_send(Job::Sync { reply: None });
        }
    }
}

struct WriteJob {
    ctx: Context,
    run: JobFn,
    reply: Reply,
}

async fn run(
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    mut model: Model,
    revisions: watch::Sender<Revision>,
    mut rx: mpsc::Receiver<Job>,
    metrics: Arc<Metrics>,
    contention: Contention,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut sync_replies = Vec::new();
        let mut want_sync = false;
        let mut push = |job: Job, batch: &mut Vec<WriteJob>| match job {
            Job::Write { ctx, run, reply } => batch.push(WriteJob { ctx, run, reply }),
            Job::Sync { reply } => {
                want_sync = true;
                sync_replies.extend(reply);
            }
        };
        push(first, &mut batch);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => push(job, &mut batch),
                Err(_) => break,
            }
        }
        if batch.len() > 1 {
            contention.note();
        }
        if want_sync {
            if let Err(e) = catch_up(&*store, &mut model).await {
                tracing::warn!(error = %e, "catching up with the change log failed");
            }
            publish(&engine, &revisions, &model);
            for r in sync_replies {
                let _ = r.send(model.revision());
            }
        }
        if !batch.is_empty() {
            process(&*store, &engine, &revisions, &metrics, &mut model, batch).await;
        }
    }
    tracing::info!("writer stopped");
}

fn publish(engine: &Engine, revisions: &watch::Sender<Revision>, model: &Model) {
    engine.publish(Arc::new(model.clone()));
    revisions.send_if_modified(|r| {
        if model.revision() > *r {
            *r = model.revision();
            true
        } else {
            false
        }
    });
}

/// Applies every change committed after the model's revision.
async fn catch_up(store: &dyn Store, model: &mut Model) -> Result<(), StoreError> {
    loop {
        let changes = store.changes_since(model.revision(), 1000).await?;
        if changes.is_empty() {
            return Ok(());
        }
        for (rev, list) in changes {
            for c in &list {
                model.apply(c);
            }
            model.set_revision(rev);
        }
    }
}

async fn process(
    store: &dyn Store,
    engine: &Engine,
    revisions: &watch::Sender<Revision>,
    metrics: &Metrics,
    model: &mut Model,
    mut batch: Vec<WriteJob>,
) {
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            metrics.writer_retries.inc();
        }
        let base = model.revision();
        let mut next = model.clone();
        let mut commits = Vec::new();
        let mut results: Vec<Result<(Output, Revision), DomainError>> =
            Vec::with_capacity(batch.len());
        for job in batch.iter_mut() {
            let mut d = Draft::new(&next, &job.ctx);
            let out = (job.run)(&mut d).and_then(|out| d.finish().map(|o| (out, o)));
            match out {
                Ok((out, outcome)) => {
                    if !outcome.changes.is_empty() {
                        next = outcome.model;
                        commits.push(Commit {
                            revision: outcome.revision,
                            changes: outcome.changes,
                            audit: outcome.audit,
                            events: outcome.events,
                        });
                    }
                    results.push(Ok((out, outcome.revision)));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let committed = if commits.is_empty() {
            Ok(())
        } else {
            let started = std::time::Instant::now();
            let done = store.commit(base, &commits).await.map(|_| ());
            metrics
                .commit_seconds
                .observe(started.elapsed().as_secs_f64());
            match &done {
                Ok(()) => metrics.writer_batch_size.observe(commits.len() as f64),
                Err(StoreError::Stale { .. }) => {
                    metrics.writer_conflicts.inc();
                }
                Err(_) => {
                    metrics.writer_failures.inc();
                }
            }
            done
        };
        match committed {
            Ok(()) => {
                *model = next;
                publish(engine, revisions, model);
                for (job, res) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(res.map_err(ApiError::from));
                }
                return;
            }
            Err(StoreError::Stale { .. }) => {
                if let Err(e) = catch_up(store, model).await {
                    fail_all(batch, e);
                    return;
                }
                publish(engine, revisions, model);
            }
            Err(e) if batch.len() > 1 => {
                // One job's rows broke a database constraint the rules did not
                // foresee; commit the jobs one by one so the others succeed.
                tracing::warn!(error = %e, jobs = batch.len(), "group commit failed; retrying jobs one by one");
                if let Err(e2) = catch_up(store, model).await {
                    fail_all(batch, e2);
                    return;
                }
                metrics.writer_retries.inc();
                for job in batch {
                    Box::pin(process(store, engine, revisions, metrics, model, vec![job])).await;
                }
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; nothing applied");
                // Resynchronize: the database is the truth.
                if let Err(e2) = catch_up(store, model).await {
                    tracing::error!(error = %e2, "resynchronizing after a failed commit failed");
                }
                fail_all(batch, e);
                return;
            }
        }
    }
    fail_all(
        batch,
        StoreError::Corrupt("too many conflicting writers; retry".into()),
    );
}

fn fail_all(batch: Vec<WriteJob>, e: StoreError) {
    let msg = e.to_string();
    for job in batch {
        let _ = job.reply.send(Err(ApiError::Internal(msg.clone().into())));
    }
}
