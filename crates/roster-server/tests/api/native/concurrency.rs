//! Concurrent writers through the native API lose no update (SPEC §2.8;
//! issue 2, "Done means"): 24 clients at once on the same user, on every
//! backend, through a multi-threaded runtime.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::support::common;
use crate::support::native_support;

use axum::http::Method;
use common::each_backend;
use native_support::{audit_events, etag, send};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const CLIENTS: usize = 24;

/// Each client adds its own key to the user's `external_ids` by
/// read-modify-write with `If-Match`, retrying on `412`. Every key must
/// survive, and every successful write must be one audited revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn read_modify_write_with_if_match_loses_nothing() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let path = format!("/v1/users/{}", a.target);
        let tokens = [app.owner.clone(), a.org_admin.1.clone()];
        let start = app.state.store.current_revision().await.expect("revision");
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let router = app.router.clone();
            let path = path.clone();
            let token = tokens[i % tokens.len()].clone();
            tasks.push(tokio::spawn(async move {
                let mut conflicts = 0usize;
                loop {
                    let r = send(&router, Method::GET, &path, Some(&token), None, &[]).await;
                    assert_eq!(r.status, 200, "{}", r.body);
                    let tag = etag(&r);
                    let mut ids: BTreeMap<String, Value> =
                        serde_json::from_value(r.body["external_ids"].clone())
                            .expect("external_ids");
                    ids.insert(format!("client-{i:02}"), json!(format!("value-{i}")));
                    let body = json!({ "external_ids": ids });
                    let w = send(
                        &router,
                        Method::PATCH,
                        &path,
                        Some(&token),
                        Some(&body),
                        &[("if-match", format!("\"{tag}\""))],
                    )
                    .await;
                    match w.status.as_u16() {
                        200 => return conflicts,
                        412 => conflicts += 1,
                        other => panic!("client {i}: unexpected {other}: {}", w.body),
                    }
                    assert!(conflicts < 10_000, "client {i} starved");
                }
            }));
        }
        let mut conflicts = 0;
        for t in tasks {
            conflicts += t.await.expect("client task");
        }
        eprintln!(
            "[{}] {CLIENTS} clients, {conflicts} retries after 412",
            app.backend()
        );

        let r = app.get(&path, &app.owner).await;
        let ids = r.body["external_ids"].as_object().expect("external_ids");
        for i in 0..CLIENTS {
            assert_eq!(
                ids.get(&format!("client-{i:02}")),
                Some(&json!(format!("value-{i}"))),
                "client {i}'s update was lost: {ids:?}"
            );
        }
        assert_eq!(ids.len(), CLIENTS);
        // One revision and one audit event per successful write, nothing more.
        let end = app.state.store.current_revision().await.expect("revision");
        assert_eq!(end, start + CLIENTS as u64);
        let updates = audit_events(&app)
            .await
            .into_iter()
            .filter(|e| e.action == "user.update" && e.target_id == a.target)
            .count();
        assert_eq!(updates, CLIENTS);
        // The model the server answers from agrees with the database.
        assert_eq!(app.state.engine.revision(), end);
    })
    .await;
}

/// Each client adds a distinct grant to the same user at once: all land.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_grants_all_land() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let mut accounts = Vec::new();
        for i in 0..CLIENTS {
            accounts.push(app.account(&a.org_a, &format!("C{i}"), "client").await);
        }
        // One write at a time: none waited behind another's commit.
        let contention = app.state.writer.contention();
        let ever = std::time::Duration::from_secs(3600);
        assert!(!contention.within(ever), "sequential writes never queue");
        let tokens = [app.owner.clone(), a.org_admin.1.clone()];
        let mut tasks = Vec::new();
        for (i, acc) in accounts.iter().enumerate() {
            let router = app.router.clone();
            let path = format!("/v1/users/{}/grants", a.target);
            let token = tokens[i % tokens.len()].clone();
            let body = json!({"role_id": if i % 2 == 0 { "viewer" } else { "member" }, "scope": {"type": "account", "id": acc}});
            tasks.push(tokio::spawn(async move {
                let r = send(&router, Method::POST, &path, Some(&token), Some(&body), &[]).await;
                assert_eq!(r.status, 201, "{}", r.body);
                r.revision().expect("revision")
            }));
        }
        let mut revisions = Vec::new();
        for t in tasks {
            revisions.push(t.await.expect("client task"));
        }
        revisions.sort_unstable();
        revisions.dedup();
        assert_eq!(revisions.len(), CLIENTS, "two writes claimed the same revision");
        // 24 at once queue behind each other's commits: the saturation
        // webhook deliveries yield to (webhooks::pace).
        assert!(contention.within(ever), "concurrent writes queued behind a commit");
        let r = app.get(&format!("/v1/users/{}/grants", a.target), &app.owner).await;
        let scopes: Vec<String> = r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|g| g["scope"]["id"].as_str().map(str::to_owned))
            .collect();
        for acc in &accounts {
            assert!(scopes.contains(acc), "the grant at {acc} was lost");
            assert!(app.check(&a.target, "users:read", acc).await);
        }
    })
    .await;
}

/// Many clients race to create a user with the same email (in different
/// cases): exactly one wins, the others get 409, and one user exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_duplicate_emails_create_one_user() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let router = app.router.clone();
            let token = app.owner.clone();
            let email = if i % 2 == 0 {
                "Race@A.example"
            } else {
                "race@a.EXAMPLE"
            };
            let body = json!({"organization_id": a.org_a, "email": email});
            tasks.push(tokio::spawn(async move {
                send(
                    &router,
                    Method::POST,
                    "/v1/users",
                    Some(&token),
                    Some(&body),
                    &[],
                )
                .await
                .status
                .as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.expect("client task"));
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            CLIENTS - 1,
            "{statuses:?}"
        );
        let r = app.get("/v1/users?email=RACE@a.example", &app.owner).await;
        assert_eq!(
            r.body["items"].as_array().expect("items").len(),
            1,
            "{}",
            r.body
        );
    })
    .await;
}

/// Unconditional concurrent patches of different fields of one user (no
/// `If-Match`): every one is answered 200, each field ends with one of the
/// values written, and every change is one audited revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn unconditional_patches_of_one_user_all_apply() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let path = format!("/v1/users/{}", a.target);
        let start = app.state.store.current_revision().await.expect("revision");
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let router = app.router.clone();
            let path = path.clone();
            let token = app.owner.clone();
            let body = if i % 2 == 0 {
                json!({"first_name": format!("First{i}")})
            } else {
                json!({"phone": {"number": format!("{i}")}})
            };
            tasks.push(tokio::spawn(async move {
                let r = send(
                    &router,
                    Method::PATCH,
                    &path,
                    Some(&token),
                    Some(&body),
                    &[],
                )
                .await;
                assert_eq!(r.status, 200, "{}", r.body);
            }));
        }
        for t in tasks {
            t.await.expect("client task");
        }
        let r = app.get(&path, &app.owner).await;
        let first = r.body["first_name"].as_str().expect("first_name");
        let number = r.body["phone"]["number"].as_str().expect("number");
        assert!(
            (0..CLIENTS)
                .step_by(2)
                .any(|i| first == format!("First{i}")),
            "{first}"
        );
        assert!(
            (1..CLIENTS).step_by(2).any(|i| number == format!("{i}")),
            "{number}"
        );
        let end = app.state.store.current_revision().await.expect("revision");
        assert_eq!(end, start + CLIENTS as u64, "one revision per change");
        let updates = audit_events(&app)
            .await
            .into_iter()
            .filter(|e| e.action == "user.update" && e.target_id == a.target)
            .count();
        assert_eq!(updates, CLIENTS);
    })
    .await;
}
