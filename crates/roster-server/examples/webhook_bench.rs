//! Webhook delivery benchmarks (docs/benchmarks.md, "Webhooks").
//!
//! `webhook_bench deliver N`: a SQLite database in a temporary directory,
//! N `user.created` events committed first, then one subscription (`*`)
//! to a receiver on 127.0.0.1 started and timed until every event has
//! arrived: events delivered per second by one subscription, its
//! signatures, its cursor and log writes included.
//!
//! `webhook_bench receive ADDR`: a receiver answering `204` to every POST,
//! printing how many it got each second (for the load script's runs with
//! active subscriptions).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark")]

use axum::routing::post;
use axum::Router;
use roster_server::{bootstrap, AppState, Config};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

async fn receiver(addr: &str) -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, count)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("receive") => {
            let (url, count) =
                receiver(args.get(2).map_or("127.0.0.1:18181", String::as_str)).await;
            println!("receiving at {url}");
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = count.load(Ordering::Relaxed);
                println!("{now} received, {} in the last second", now - last);
                last = now;
            }
        }
        Some("deliver") => {
            let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
            deliver(n).await;
        }
        _ => eprintln!("usage: webhook_bench deliver N | receive ADDR"),
    }
}

async fn deliver(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = roster_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let config = Config {
        allow_private_targets: true,
        ..Config::default()
    };
    let state = AppState::start(store, config).await.unwrap();
    let b = bootstrap::bootstrap(&state, "Bench", "owner@bench.example")
        .await
        .unwrap();
    let router = roster_server::router(state.clone());
    let (hook, count) = receiver("127.0.0.1:0").await;
    let key = b.api_key.clone();
    let call = move |method: &str, path: String, body: serde_json::Value| {
        let req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        router.clone().oneshot(req)
    };
    let r = call(
        "POST",
        format!("/v1/organizations/{}/webhooks", b.organization_id),
        serde_json::json!({"url": hook, "event_types": ["user.created"]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    // The events first (16 writers at a time), then delivery alone is timed.
    eprintln!("committing {n} events ...");
    let next = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for _ in 0..16 {
        let next = next.clone();
        let call = call.clone();
        let org = b.organization_id.clone();
        writers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n as u64 {
                    return;
                }
                let r = call(
                    "POST",
                    "/v1/users".into(),
                    serde_json::json!({"organization_id": org, "email": format!("u{i}@bench.example")}),
                )
                .await
                .unwrap();
                assert_eq!(r.status(), 201);
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    eprintln!("delivering ...");
    let started = Instant::now();
    let worker = roster_server::webhooks::spawn(&state);
    while count.load(Ordering::Relaxed) < n as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    println!(
        "delivered {n} events in {:.2} s: {:.0} events/s (one subscription, SQLite)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    worker.abort();
}
