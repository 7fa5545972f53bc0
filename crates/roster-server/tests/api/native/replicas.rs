//! Several replicas on one PostgreSQL database (SPEC §4): two independent
//! app states (each its own pool, writer, engine and follower) share one
//! database. A write on one is visible to checks on the other with
//! `min_revision`, the follower waking on NOTIFY (polling is set far too
//! slow to be what wakes it), and concurrent writes on both replicas never
//! lose an update: the loser of a race catches up and plans again.
//!
//! Needs `ROSTER_TEST_DATABASE_URL`; skipped with a note otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use roster_server::{bootstrap, AppState, Config};
use roster_store::testing::{TestDatabase, TEST_DATABASE_URL_VAR};
use serde_json::{json, Value};
use std::time::Duration;
use tower::ServiceExt;

/// Longest a replica may take to hear of another's commit before the test
/// gives up (a liveness bound, not a measurement).
const FOLLOW_BOUND: Duration = Duration::from_secs(30);

struct Replica {
    state: AppState,
    router: Router,
}

impl Replica {
    async fn start(db: &TestDatabase) -> Self {
        let store = db.open().await.expect("open store");
        let config = Config {
            follow_interval: Duration::from_secs(3600),
            ..Config::default()
        };
        let state = AppState::start(store, config).await.expect("start");
        state.spawn_follower();
        let router = roster_server::router(state.clone());
        Self { state, router }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Option<u64>, Value) {
        let b = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let rev = resp
            .headers()
            .get("roster-revision")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, rev, body)
    }

    /// Waits (bounded) until this replica's engine has published `rev`,
    /// without asking it to look (only its follower may wake it).
    async fn reaches(&self, rev: u64) -> bool {
        let mut rx = self.state.revisions.clone();
        tokio::time::timeout(FOLLOW_BOUND, rx.wait_for(|r| *r >= rev))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

async fn database() -> Option<TestDatabase> {
    match std::env::var(TEST_DATABASE_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(
            TestDatabase::postgres(url.trim())
                .await
                .expect("create test database"),
        ),
        _ => {
            eprintln!("note: {TEST_DATABASE_URL_VAR} not set; the replica tests need PostgreSQL and were skipped");
            None
        }
    }
}

#[tokio::test]
async fn a_write_on_one_replica_is_visible_on_the_other() {
    let Some(db) = database().await else { return };
    let a = Replica::start(&db).await;
    let b = Replica::start(&db).await;
    let boot = bootstrap::bootstrap(&a.state, "Replicated", "owner@replicas.example")
        .await
        .expect("bootstrap");
    let owner = boot.api_key.clone();
    let boot_rev = a.state.engine.revision();
    assert!(
        b.reaches(boot_rev).await,
        "replica B never heard of the bootstrap (NOTIFY)"
    );
    // B authenticates the key A created.
    let (status, _, body) = b
        .call(
            Method::GET,
            &format!("/v1/users/{}", boot.user_id),
            &owner,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, _, user) = a
        .call(
            Method::POST,
            "/v1/users",
            &owner,
            Some(json!({ "organization_id": boot.organization_id, "email": "u@replicas.example" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let uid = user["id"].as_str().expect("id").to_owned();
    let (status, granted_at, grant) = a
        .call(
            Method::POST,
            &format!("/v1/users/{uid}/grants"),
            &owner,
            Some(
                json!({ "role_id": "viewer", "scope": {"type": "account", "id": boot.account_id} }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let granted_at = granted_at.expect("revision header");
    let q = |rev: u64| json!({ "user_id": uid, "permission": "users:read", "account_id": boot.account_id, "min_revision": rev });

    // Asked with min_revision, B answers at a revision that includes A's write.
    let (status, _, body) = b
        .call(Method::POST, "/v1/check", &owner, Some(q(granted_at)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allowed"], json!(true), "{body}");
    assert!(body["revision"].as_u64().expect("revision") >= granted_at);

    // B's follower alone (NOTIFY) brings later writes in, unasked.
    let gid = grant["id"].as_str().expect("grant id");
    let (status, revoked_at, _) = a
        .call(
            Method::DELETE,
            &format!("/v1/users/{uid}/grants/{gid}"),
            &owner,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let revoked_at = revoked_at.expect("revision header");
    assert!(
        b.reaches(revoked_at).await,
        "replica B never heard of the revocation (NOTIFY)"
    );
    let (status, _, body) = b
        .call(Method::POST, "/v1/check", &owner, Some(q(revoked_at)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["allowed"],
        json!(false),
        "a grant revoked on A is denied on B at the next revision: {body}"
    );

    // And the other way round.
    let (status, at, grant) = b
        .call(
            Method::POST,
            &format!("/v1/users/{uid}/grants"),
            &owner,
            Some(json!({ "role_id": "member", "scope": {"type": "organization", "id": boot.organization_id} })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let (status, _, body) = a
        .call(
            Method::POST,
            "/v1/check",
            &owner,
            Some(q(at.expect("revision"))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allowed"], json!(true), "{body}");
}

#[tokio::test]
async fn concurrent_writes_on_both_replicas_never_lose_an_update() {
    let Some(db) = database().await else { return };
    let a = Replica::start(&db).await;
    let b = Replica::start(&db).await;
    let boot = bootstrap::bootstrap(&a.state, "Racing", "owner@race.example")
        .await
        .expect("bootstrap");
    let owner = boot.api_key.clone();
    assert!(b.reaches(a.state.engine.revision()).await);

    // Accounts to grant on, and one user both replicas race to change.
    let mut accounts = Vec::new();
    for i in 0..6 {
        let (status, _, acc) = a
            .call(
                Method::POST,
                &format!("/v1/organizations/{}/accounts", boot.organization_id),
                &owner,
                Some(json!({ "name": format!("Acc {i}"), "type": "client" })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{acc}");
        accounts.push(acc["id"].as_str().expect("id").to_owned());
    }
    let (status, at, user) = a
        .call(
            Method::POST,
            "/v1/users",
            &owner,
            Some(
                json!({ "organization_id": boot.organization_id, "email": "target@race.example" }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let uid = user["id"].as_str().expect("id").to_owned();
    assert!(b.reaches(at.expect("revision")).await);

    // Each replica, concurrently: grants on the shared user (one per account
    // and role) and new users of its own.
    let roles = ["viewer", "member"];
    let mut tasks = Vec::new();
    let owner = &owner;
    for (r, replica) in [&a, &b].into_iter().enumerate() {
        for (i, acc) in accounts.iter().enumerate() {
            let path = format!("/v1/users/{uid}/grants");
            let body = json!({ "role_id": roles[r], "scope": {"type": "account", "id": acc} });
            tasks.push(Box::pin(async move {
                replica.call(Method::POST, &path, owner, Some(body)).await
            })
                as std::pin::Pin<
                    Box<dyn std::future::Future<Output = (StatusCode, Option<u64>, Value)>>,
                >);
            let body = json!({ "organization_id": boot.organization_id, "email": format!("r{r}u{i}@race.example") });
            tasks.push(Box::pin(async move {
                replica
                    .call(Method::POST, "/v1/users", owner, Some(body))
                    .await
            }));
        }
    }
    let results = futures::future::join_all(tasks).await;
    let mut last = 0;
    for (status, rev, body) in &results {
        assert_eq!(
            *status,
            StatusCode::CREATED,
            "a concurrent write failed: {body}"
        );
        last = last.max(rev.expect("revision header"));
    }
    // Every write produced its own revision.
    let mut revs: Vec<u64> = results.iter().filter_map(|r| r.1).collect();
    revs.sort_unstable();
    revs.dedup();
    assert_eq!(revs.len(), results.len(), "two writes claimed one revision");

    // Both replicas converge on everything.
    assert!(a.reaches(last).await && b.reaches(last).await);
    for replica in [&a, &b] {
        let (status, _, grants) = replica
            .call(Method::GET, &format!("/v1/users/{uid}/grants"), owner, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{grants}");
        assert_eq!(
            grants["items"].as_array().map(Vec::len),
            Some(accounts.len() * roles.len()),
            "{grants}"
        );
        let m = replica.state.engine.snapshot();
        let org_id: roster_domain::OrganizationId =
            boot.organization_id.parse().expect("organization id");
        assert_eq!(m.revision(), last.max(m.revision()));
        for r in 0..2 {
            for i in 0..accounts.len() {
                assert!(m
                    .user_by_email(org_id, &format!("r{r}u{i}@race.example"))
                    .is_some());
            }
        }
    }
}
