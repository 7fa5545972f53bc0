//! A webhook receiver of the tests' own: a real HTTP server on
//! `127.0.0.1:0` that verifies every delivery's signature with the
//! `standardwebhooks` crate against the secrets it is told, records what
//! it got, and answers `503` while it is "down".
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One delivery received while up.
#[derive(Clone, Debug)]
pub struct Got {
    /// `webhook-id`.
    pub id: String,
    /// The body.
    pub body: Value,
    /// How many `v1,` signatures it carried.
    pub signatures: usize,
    /// Which of the secrets (by index) verified it.
    pub verified_by: Vec<usize>,
}

#[derive(Debug, Default)]
struct Inner {
    secrets: Vec<String>,
    got: Vec<Got>,
    /// Attempts answered `503`.
    refused: usize,
    /// Deliveries no secret verified.
    unverified: Vec<String>,
    down: bool,
}

/// A running receiver.
#[derive(Clone, Debug)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// Starts a receiver on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let state = inner.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { receive(&state, &headers, &body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/hook"),
            inner,
        }
    }

    /// Trusts `secret` too.
    pub fn trust(&self, secret: &str) {
        self.inner.lock().unwrap().secrets.push(secret.to_owned());
    }
    /// Answers `503` (down) or `200` from now on.
    pub fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }
    /// Every delivery received while up, in arrival order.
    pub fn got(&self) -> Vec<Got> {
        self.inner.lock().unwrap().got.clone()
    }
    /// How many attempts were answered `503`.
    pub fn refused(&self) -> usize {
        self.inner.lock().unwrap().refused
    }
    /// Deliveries whose signature no trusted secret verified.
    pub fn unverified(&self) -> Vec<String> {
        self.inner.lock().unwrap().unverified.clone()
    }

    /// Waits (polling, generous deadline) until `f` holds of the received deliveries.
    pub async fn wait_for(&self, what: &str, f: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.got();
            if f(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received {} deliveries, {} refused",
                got.len(),
                self.refused()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn receive(state: &Mutex<Inner>, headers: &HeaderMap, body: &[u8]) -> StatusCode {
    let mut s = state.lock().unwrap();
    if s.down {
        s.refused += 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let verified_by: Vec<usize> = s
        .secrets
        .iter()
        .enumerate()
        .filter(|(_, secret)| {
            standardwebhooks::Webhook::new(secret)
                .unwrap()
                .verify(body, headers)
                .is_ok()
        })
        .map(|(i, _)| i)
        .collect();
    if verified_by.is_empty() {
        s.unverified.push(id.clone());
    }
    let signatures = headers
        .get("webhook-signature")
        .and_then(|v| v.to_str().ok())
        .map_or(0, |v| v.split(' ').filter(|x| x.starts_with("v1,")).count());
    s.got.push(Got {
        id,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        signatures,
        verified_by,
    });
    StatusCode::NO_CONTENT
}

/// Waits (polling) until `f` is true.
pub async fn eventually<F, Fut>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
