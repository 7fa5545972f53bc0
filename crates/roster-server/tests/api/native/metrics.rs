//! Prometheus metrics (issue 13 §1), on every backend: after a known
//! sequence of requests the counters moved by exactly that much; the whole
//! exposition parses with a Prometheus text-format parser; labels carry
//! route templates and fixed codes, never an id; `--metrics-listen` takes
//! `/metrics` off the API's port; `/readyz` reports the replica's lag.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use crate::support::common;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{each_backend, each_backend_with, TestApp};
use http_body_util::BodyExt;
use roster_server::Config;
use serde_json::json;
use std::collections::BTreeMap;
use tower::ServiceExt;

/// One scrape: every sample, by name and sorted labels.
#[derive(Debug)]
struct Scrape(BTreeMap<(String, String), f64>);

impl Scrape {
    /// The value of `name{labels}` (0 when absent: a counter not yet
    /// created is at zero).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        l.sort();
        self.0
            .get(&(name.to_owned(), l.join(",")))
            .copied()
            .unwrap_or(0.0)
    }
}

async fn body_text(router: &axum::Router, path: &str) -> (StatusCode, String, String) {
    let resp = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Scrapes `router`'s `/metrics` and parses the whole exposition.
async fn scrape(router: &axum::Router) -> Scrape {
    let (status, ctype, text) = body_text(router, "/metrics").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(text.ends_with("# EOF\n"), "the exposition is complete");
    // No label value is an id: no UUID anywhere in the exposition.
    for word in text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-')) {
        assert!(
            uuid::Uuid::parse_str(word).is_err() || word.len() != 36,
            "an id in the metrics: {word}"
        );
    }
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("a valid exposition");
    assert!(parsed.samples.len() > 20, "{text}");
    // The parser skips lines it cannot read: every sample line must have
    // been read (a histogram's bucket lines make one sample).
    let sample_lines = text.lines().filter(|l| !l.starts_with('#')).count();
    let read: usize = parsed
        .samples
        .iter()
        .map(|s| match &s.value {
            prometheus_parse::Value::Histogram(h) => h.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(read, sample_lines, "every sample line parsed:\n{text}");
    let mut out = BTreeMap::new();
    for s in parsed.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let v = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(h) => h.last().map_or(0.0, |c| c.count),
            prometheus_parse::Value::Summary(_) => continue,
        };
        out.insert((s.metric, labels.join(",")), v);
    }
    Scrape(out)
}

/// The counters that move, by how much they moved from `before` to `after`.
fn moved(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.get(name, labels) - before.get(name, labels)
}

async fn check(app: &TestApp, user: &str, permission: &str, account: &str) -> bool {
    let r = app
        .post(
            "/v1/check",
            &app.owner,
            json!({ "user_id": user, "permission": permission, "account_id": account }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["allowed"].as_bool().unwrap()
}

#[tokio::test]
async fn counters_move_by_exactly_what_was_done() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let before = scrape(&app.router).await;

        // 2 checks allowed, 1 denied.
        assert!(check(&app, &a.org_admin.0, "users:write", &a.acc_a1).await);
        assert!(check(&app, &a.org_admin.0, "users:read", &a.acc_a2).await);
        assert!(!check(&app, &a.nobody.0, "users:read", &a.acc_a1).await);
        // A batch: 2 allowed, 1 denied.
        let q = |u: &str, acc: &str| json!({"user_id": u, "permission": "users:read", "account_id": acc});
        let r = app
            .post(
                "/v1/check/batch",
                &app.owner,
                json!({"checks": [q(&a.org_admin.0, &a.acc_a1), q(&a.viewer.0, &a.acc_a1), q(&a.nobody.0, &a.acc_a2)]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // One effective-permissions listing.
        let r = app
            .get(
                &format!("/v1/users/{}/effective-permissions?account_id={}", a.viewer.0, a.acc_a1),
                &app.owner,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // Two reads of one user: one route template, never the id.
        for _ in 0..2 {
            let r = app.get(&format!("/v1/users/{}", a.target), &app.owner).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        // A 404 on the same template.
        let r = app
            .get(&format!("/v1/users/{}", uuid::Uuid::new_v4()), &app.owner)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // Two failed authentications with a key that does not exist.
        for _ in 0..2 {
            let r = app.get("/v1/organizations", "roster_nokey_nosecret").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        }
        // One write.
        let r = app
            .post(
                "/v1/users",
                &app.owner,
                json!({"organization_id": a.org_a, "email": "metrics@a.example"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

        let after = scrape(&app.router).await;
        let native = |route: &'static str, method: &'static str, status: &'static str| {
            [("surface", "native"), ("route", route), ("method", method), ("status", status)]
        };
        let req = "roster_http_requests_total";
        assert_eq!(moved(&before, &after, req, &native("/v1/check", "POST", "200")), 3.0);
        assert_eq!(moved(&before, &after, req, &native("/v1/check/batch", "POST", "200")), 1.0);
        assert_eq!(moved(&before, &after, req, &native("/v1/users/:id", "GET", "200")), 2.0, "{:?}", after.0.keys().filter(|(n, _)| n == req).collect::<Vec<_>>());
        assert_eq!(moved(&before, &after, req, &native("/v1/users/:id", "GET", "404")), 1.0);
        assert_eq!(moved(&before, &after, req, &native("/v1/organizations", "GET", "401")), 2.0);
        assert_eq!(moved(&before, &after, req, &native("/v1/users", "POST", "201")), 1.0);
        assert_eq!(moved(&before, &after, req, &native("/metrics", "GET", "200")), 1.0);
        let latency = "roster_http_request_duration_seconds_count";
        assert_eq!(
            moved(&before, &after, latency, &[("surface", "native"), ("route", "/v1/users/:id"), ("method", "GET")]),
            3.0
        );

        let d = "roster_decisions_total";
        assert_eq!(moved(&before, &after, d, &[("kind", "check"), ("decision", "allowed")]), 2.0);
        assert_eq!(moved(&before, &after, d, &[("kind", "check"), ("decision", "denied")]), 1.0);
        assert_eq!(moved(&before, &after, d, &[("kind", "batch"), ("decision", "allowed")]), 2.0);
        assert_eq!(moved(&before, &after, d, &[("kind", "batch"), ("decision", "denied")]), 1.0);
        assert_eq!(
            moved(&before, &after, "roster_lookups_total", &[("kind", "effective_permissions")]),
            1.0
        );
        assert_eq!(
            moved(&before, &after, "roster_auth_failures_total", &[("reason", "unknown_key")]),
            2.0,
            "{:?}",
            after.0.keys().filter(|(n, _)| n.starts_with("roster_auth")).collect::<Vec<_>>()
        );
        assert_eq!(moved(&before, &after, "roster_writer_commit_duration_seconds_count", &[]), 1.0);
        assert_eq!(moved(&before, &after, "roster_writer_batch_size_count", &[]), 1.0);
        assert_eq!(moved(&before, &after, "roster_model_users", &[]), 1.0);
        assert_eq!(moved(&before, &after, "roster_model_revision", &[]), 1.0);
        assert_eq!(after.get("roster_replica_lag_revisions", &[]), 0.0);
        assert_eq!(
            after.get("roster_model_revision", &[]),
            after.get("roster_database_revision", &[])
        );
        assert!(after.get("roster_process_resident_memory_bytes", &[]) > 1e6);
        assert_eq!(after.get("roster_writer_queue_depth", &[]), 0.0);

        // Readiness says how far behind the database this process is.
        let r = app.get("/readyz", &app.owner).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["lag"], 0, "{}", r.body);
        assert_eq!(r.body["database_revision"], r.body["revision"], "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn a_metrics_listener_takes_metrics_off_the_api_port() {
    let config = Config {
        metrics_on_public_port: false,
        ..Config::default()
    };
    each_backend_with(config, |app| async move {
        let (status, _, _) = body_text(&app.router, "/metrics").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let metrics = roster_server::metrics_router(app.state.clone());
        let s = scrape(&metrics).await;
        assert!(s.get("roster_model_users", &[]) >= 1.0);
        let (status, _, _) = body_text(&metrics, "/v1/organizations").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "only /metrics there");
    })
    .await;
}

/// Webhook metrics: attempts by result count exactly what the receiver
/// answered; while an endpoint is down the backlog gauges show it, a
/// subscription given up is counted, and caught up the gauges are back at 0.
#[tokio::test]
async fn webhook_metrics_follow_deliveries_failures_and_the_backlog() {
    use super::webhooks_delivery::{enable, subscribe};
    use crate::support::receiver::{eventually, Receiver};
    use std::time::Duration;
    let config = Config {
        allow_private_targets: true,
        webhooks: roster_server::webhooks::WebhookConfig {
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            give_up_after: Duration::from_secs(4),
            ..Default::default()
        },
        ..Config::default()
    };
    each_backend_with(config, |app| async move {
        const DELIVERED: &str = "roster_webhook_deliveries_total";
        let delivered = [("result", "delivered")];
        let failed = [("result", "failed")];
        let rx = Receiver::start().await;
        rx.set_down(true);
        let (id, secret) = subscribe(&app, &rx.url, json!(["user.created"])).await;
        rx.trust(&secret);
        let before = scrape(&app.router).await;
        assert_eq!(before.get("roster_webhook_backlog_seconds", &[]), 0.0);
        let worker = roster_server::webhooks::spawn(&app.state);
        app.user(&app.org, "hook0@metrics.example").await;
        app.user(&app.org, "hook1@metrics.example").await;
        eventually("a subscription retrying with a backlog", || async {
            let s = scrape(&app.router).await;
            s.get("roster_webhook_retrying_subscriptions", &[]) == 1.0
                && s.get("roster_webhook_backlog_seconds", &[]) > 0.0
                && s.get(DELIVERED, &failed) >= 2.0
        })
        .await;
        eventually("the subscription given up", || async {
            let s = scrape(&app.router).await;
            s.get("roster_webhook_disabled_total", &[]) == 1.0
        })
        .await;
        let s = scrape(&app.router).await;
        assert_eq!(s.get("roster_webhook_retrying_subscriptions", &[]), 0.0);
        assert_eq!(s.get("roster_webhook_backlog_seconds", &[]), 0.0);
        // Enabled again with the endpoint up: both events arrive.
        rx.set_down(false);
        enable(&app, &id).await;
        rx.wait_for("both users", |g| {
            g.iter()
                .filter(|g| g.body["type"] == "user.created")
                .count()
                >= 2
        })
        .await;
        // Caught up: nothing more is attempted, the counters are final.
        eventually("the backlog back at zero", || async {
            let s = scrape(&app.router).await;
            s.get("roster_webhook_backlog_seconds", &[]) == 0.0
                && s.get(DELIVERED, &delivered) >= 2.0
        })
        .await;
        worker.abort();
        let after = scrape(&app.router).await;
        assert_eq!(
            moved(&before, &after, DELIVERED, &delivered),
            rx.got().len() as f64
        );
        assert_eq!(
            moved(&before, &after, DELIVERED, &failed),
            rx.refused() as f64
        );
        assert!(rx.unverified().is_empty());
    })
    .await;
}
