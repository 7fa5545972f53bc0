//! Prometheus metrics: one registry per server (no process-global
//! recorder, so each test's server counts only its own requests), served as
//! the text exposition format at `GET /metrics` (or on the listener of
//! `--metrics-listen`). Labels are bounded: surfaces, route templates (never
//! a raw path), methods, status codes, fixed reasons; never an id.
//! docs/operations.md lists every metric.
//!
//! Counters and histograms move where things happen (the HTTP layer
//! [`track`], the check routes, the writer, authentication); gauges that
//! describe state (the model, the writer's queue, the process, the replica's
//! lag) are read when a scrape asks ([`render`]).

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};
use roster_domain::WebhookId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use time::OffsetDateTime;

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `native`, or a dialect (`yuno`, `crux`, …), or `other`.
    pub surface: &'static str,
    /// The route template, parameters as `:name` (`/v1/users/:id`: braces
    /// trip some exposition parsers), `unmatched` when none.
    pub route: String,
    /// The method (`GET`, …, `other`).
    pub method: &'static str,
    /// The status code.
    pub status: u16,
}

/// Labels of a request's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// See [`RequestLabels::surface`].
    pub surface: &'static str,
    /// See [`RequestLabels::route`].
    pub route: String,
    /// See [`RequestLabels::method`].
    pub method: &'static str,
}

/// Labels of a decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `check` (one question) or `batch` (one question of a batch).
    pub kind: &'static str,
    /// `allowed` or `denied`.
    pub decision: &'static str,
}

/// Labels of a lookup.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// What kind (a fixed set per metric).
    pub kind: &'static str,
}

/// Labels of a failed authentication.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why (a fixed set of codes).
    pub reason: &'static str,
}

/// Labels of a webhook delivery attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `delivered` (a `2xx`) or `failed` (any other answer, or none).
    pub result: &'static str,
}

/// The events webhook tasks are working on: per subscription, when the
/// event it is sending (or waiting to send again) occurred, and whether it
/// has failed before. Read at scrape into the backlog gauges.
#[derive(Debug, Default)]
pub struct WebhookPending(Mutex<HashMap<WebhookId, (OffsetDateTime, bool)>>);

impl WebhookPending {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<WebhookId, (OffsetDateTime, bool)>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Subscription `id` is sending an event that occurred at `occurred_at`
    /// (`retrying`: it failed before).
    pub fn sending(&self, id: WebhookId, occurred_at: OffsetDateTime, retrying: bool) {
        self.with(|m| m.insert(id, (occurred_at, retrying)));
    }

    /// Subscription `id` has nothing in flight.
    pub fn done(&self, id: WebhookId) {
        self.with(|m| m.remove(&id));
    }

    /// The age of the oldest event in flight (0 when none) and how many
    /// subscriptions are retrying.
    fn read(&self, now: OffsetDateTime) -> (f64, i64) {
        self.with(|m| {
            let oldest = m.values().map(|(at, _)| *at).min();
            let age = oldest.map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
            let retrying = m.values().filter(|(_, r)| *r).count();
            (age, i64::try_from(retrying).unwrap_or(i64::MAX))
        })
    }
}

/// Clears a subscription's entry in [`WebhookPending`] when its task ends,
/// however it ends (an abort drops it too).
#[derive(Debug)]
pub struct PendingGuard {
    metrics: Arc<Metrics>,
    id: WebhookId,
}

impl PendingGuard {
    /// Guards subscription `id`'s entry.
    pub fn new(metrics: Arc<Metrics>, id: WebhookId) -> Self {
        Self { metrics, id }
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.metrics.webhook_pending.done(self.id);
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Registers `metric` (a handle sharing its value) and returns it.
fn add<M: Metric + Clone>(r: &mut Registry, name: &str, help: &str, metric: M) -> M {
    r.register(name, help, metric.clone());
    metric
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~26 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

/// Every metric of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by surface, route, method and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by surface, route and method.
    pub request_seconds: HistogramFamily<RouteLabels>,
    /// Authorization decisions.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Lookups and effective-permission listings.
    pub lookups: Family<KindLabels, Counter>,
    /// Jobs per committed batch.
    pub writer_batch_size: Histogram,
    /// Time to commit a batch.
    pub commit_seconds: Histogram,
    /// Batches refused because another replica committed first.
    pub writer_conflicts: Counter,
    /// Batches planned again (after a conflict) or split (after a failure).
    pub writer_retries: Counter,
    /// Commits that failed.
    pub writer_failures: Counter,
    /// Failed authentications by reason.
    pub auth_failures: Family<ReasonLabels, Counter>,
    /// Requests refused because their key id or address was locked out.
    pub throttled: Counter,
    /// Open client connections.
    pub connections: Gauge,
    /// Webhook delivery attempts, by result.
    pub webhook_deliveries: Family<ResultLabels, Counter>,
    /// Subscriptions disabled because their endpoint failed past the horizon.
    pub webhook_disabled: Counter,
    /// Webhook attempts that waited for their turn behind saturated writes.
    pub webhook_paced: Counter,
    /// What webhook tasks are sending (read at scrape).
    pub webhook_pending: WebhookPending,
    /// Age of the oldest event a subscription is sending (read at scrape).
    webhook_backlog: Gauge<f64, AtomicU64>,
    /// Subscriptions retrying an event (read at scrape).
    webhook_retrying: Gauge,
    /// Jobs waiting for the writer (read at scrape).
    writer_queue: Gauge,
    /// The model's revision (read at scrape).
    model_revision: Gauge,
    /// The database's committed revision (read at scrape).
    database_revision: Gauge,
    /// Revisions the model is behind the database (read at scrape).
    lag: Gauge,
    /// Users in the model (read at scrape).
    users: Gauge,
    /// Grants in the model (read at scrape).
    grants: Gauge,
    /// Resident memory of the process (read at scrape).
    rss: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered, at zero.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("roster");
        let latency: fn() -> Histogram = latency_histogram;
        Self {
            requests: add(
                &mut r,
                "http_requests",
                "HTTP requests answered, by surface, route template, method and status",
                Family::default(),
            ),
            request_seconds: add(
                &mut r,
                "http_request_duration_seconds",
                "Time to answer an HTTP request, by surface, route template and method",
                Family::new_with_constructor(latency),
            ),
            decisions: add(
                &mut r,
                "decisions",
                "Authorization decisions taken, by kind (check, batch) and decision",
                Family::default(),
            ),
            lookups: add(
                &mut r,
                "lookups",
                "Lookups answered, by kind (accounts, users, effective_permissions)",
                Family::default(),
            ),
            writer_batch_size: add(
                &mut r,
                "writer_batch_size",
                "Write jobs committed in one transaction",
                Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            ),
            commit_seconds: add(
                &mut r,
                "writer_commit_duration_seconds",
                "Time to commit one batch of writes",
                latency_histogram(),
            ),
            writer_conflicts: add(
                &mut r,
                "writer_conflicts",
                "Batches refused because another replica committed first",
                Counter::default(),
            ),
            writer_retries: add(
                &mut r,
                "writer_retries",
                "Batches planned again after a conflict, or split after a failed commit",
                Counter::default(),
            ),
            writer_failures: add(
                &mut r,
                "writer_failed_commits",
                "Commits that failed (their jobs were answered with an error)",
                Counter::default(),
            ),
            auth_failures: add(
                &mut r,
                "auth_failures",
                "Failed authentications, by reason",
                Family::default(),
            ),
            throttled: add(
                &mut r,
                "auth_throttled",
                "Requests refused (429) because their key id or client address failed too often",
                Counter::default(),
            ),
            connections: add(
                &mut r,
                "open_connections",
                "Client connections open",
                Gauge::default(),
            ),
            webhook_deliveries: add(
                &mut r,
                "webhook_deliveries",
                "Webhook delivery attempts by this process, by result (delivered: a 2xx; failed: any other answer, or none)",
                Family::default(),
            ),
            webhook_disabled: add(
                &mut r,
                "webhook_disabled",
                "Webhook subscriptions disabled because their endpoint kept failing past the horizon",
                Counter::default(),
            ),
            webhook_paced: add(
                &mut r,
                "webhook_paced",
                "Webhook delivery attempts that waited for their turn because writes were saturated (--webhook-rate-under-load)",
                Counter::default(),
            ),
            webhook_pending: WebhookPending::default(),
            webhook_backlog: add(
                &mut r,
                "webhook_backlog_seconds",
                "Age of the oldest event a webhook subscription is sending or waiting to send again (0 when every subscription is caught up); on the delivering process",
                Gauge::default(),
            ),
            webhook_retrying: add(
                &mut r,
                "webhook_retrying_subscriptions",
                "Webhook subscriptions waiting to send an event again after a failed attempt; on the delivering process",
                Gauge::default(),
            ),
            writer_queue: add(
                &mut r,
                "writer_queue_depth",
                "Write jobs waiting for the writer",
                Gauge::default(),
            ),
            model_revision: add(
                &mut r,
                "model_revision",
                "The revision of the model this process answers from",
                Gauge::default(),
            ),
            database_revision: add(
                &mut r,
                "database_revision",
                "The revision committed in the database",
                Gauge::default(),
            ),
            lag: add(
                &mut r,
                "replica_lag_revisions",
                "Revisions this process's model is behind the database",
                Gauge::default(),
            ),
            users: add(
                &mut r,
                "model_users",
                "Users in the model",
                Gauge::default(),
            ),
            grants: add(
                &mut r,
                "model_grants",
                "Grants in the model",
                Gauge::default(),
            ),
            rss: add(
                &mut r,
                "process_resident_memory_bytes",
                "Resident memory of the process",
                Gauge::default(),
            ),
            registry: r,
        }
    }

    /// Counts one decision.
    pub fn decided(&self, kind: &'static str, allowed: bool) {
        self.decisions
            .get_or_create(&DecisionLabels {
                kind,
                decision: if allowed { "allowed" } else { "denied" },
            })
            .inc();
    }

    /// Counts one lookup of `kind`.
    pub fn looked_up(&self, kind: &'static str) {
        self.lookups.get_or_create(&KindLabels { kind }).inc();
    }

    /// Counts one webhook delivery attempt.
    pub fn webhook_attempted(&self, delivered: bool) {
        self.webhook_deliveries
            .get_or_create(&ResultLabels {
                result: if delivered { "delivered" } else { "failed" },
            })
            .inc();
    }
}

/// Resident memory of this process, from `/proc/self/statm` (Linux).
fn resident_bytes() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0)
}

fn as_gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Reads the state gauges and encodes every metric.
async fn encoded(s: &AppState) -> Result<String, std::fmt::Error> {
    let m = &s.metrics;
    let model = s.engine.snapshot();
    let revision = model.revision();
    m.model_revision.set(as_gauge(revision));
    m.users.set(as_gauge(model.user_count() as u64));
    m.grants.set(as_gauge(model.grant_count() as u64));
    if let Ok(db) = s.store.current_revision().await {
        m.database_revision.set(as_gauge(db));
        m.lag.set(as_gauge(db.saturating_sub(revision)));
    }
    m.writer_queue.set(as_gauge(s.writer.queued() as u64));
    let (backlog, retrying) = m.webhook_pending.read(OffsetDateTime::now_utc());
    m.webhook_backlog.set(backlog);
    m.webhook_retrying.set(retrying);
    if let Some(b) = resident_bytes() {
        m.rss.set(b);
    }
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &m.registry)?;
    Ok(out)
}

/// `GET /metrics`: every metric in the text exposition format.
pub async fn render(State(s): State<AppState>) -> Response {
    match encoded(&s).await {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            )],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The surface a path belongs to.
fn surface(path: &str) -> &'static str {
    const DIALECTS: &[&str] = &["yuno", "crux", "softwareone", "lexful", "fynn"];
    if let Some(rest) = path.strip_prefix("/compat/") {
        let name = rest.split('/').next().unwrap_or_default();
        return DIALECTS
            .iter()
            .find(|d| name.eq_ignore_ascii_case(d))
            .copied()
            .unwrap_or("other");
    }
    if path.starts_with("/scim/") {
        return "scim";
    }
    "native"
}

fn method(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A route template as a label: `/v1/users/{id}` → `/v1/users/:id`.
fn template(path: &str) -> String {
    path.replace('{', ":").replace('}', "")
}

/// The HTTP layer: counts every answered request and its latency, by route
/// template. A sandbox's requests (what-if) are not counted: they are
/// parts of the one what-if request.
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if s.sandbox().is_some() {
        return next.run(req).await;
    }
    let started = Instant::now();
    let surface = surface(req.uri().path());
    let method = method(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| template(p.as_str()));
    let resp = next.run(req).await;
    let m = &s.metrics;
    m.request_seconds
        .get_or_create(&RouteLabels {
            surface,
            route: route.clone(),
            method,
        })
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&RequestLabels {
            surface,
            route,
            method,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}

/// Keeps [`Metrics::connections`] counting one open connection.
#[derive(Debug)]
pub struct ConnectionGuard(Gauge<i64, AtomicI64>);

impl ConnectionGuard {
    /// Counts a connection until the guard is dropped.
    pub fn open(g: &Gauge) -> Self {
        g.inc();
        Self(g.clone())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::{surface, template};

    #[test]
    fn surfaces_and_templates_are_bounded_labels() {
        assert_eq!(surface("/v1/users/1"), "native");
        assert_eq!(surface("/compat/yuno/v1/users"), "yuno");
        assert_eq!(surface("/compat/SoftwareOne/x"), "softwareone");
        assert_eq!(surface("/compat/nobody/x"), "other");
        assert_eq!(
            template("/v1/users/{id}/grants/{grant_id}"),
            "/v1/users/:id/grants/:grant_id"
        );
    }
}
