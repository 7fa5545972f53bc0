//! Time-bound group access (issue 11 §2) through the group routes (§1), on
//! every backend: a membership and a group's grant that expire are ignored
//! by checks with no write (`expired`, the revision unmoved), then the
//! expiry sweeper removes them as the system (`group_member.expire`,
//! `grant.expire`, actor `null`, reason `expired`).
//!
//! Needs the group routes (`POST /v1/organizations/{id}/groups`,
//! `/v1/groups/{id}/members`, `/v1/groups/{id}/grants`); registered in
//! `native/mod.rs` once they are in. No timed assertions: waits poll with
//! a generous deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::common;
use crate::support::native_support;

use axum::http::StatusCode;
use common::{each_backend, Resp, TestApp};
use native_support::fingerprint;
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How long a test waits for what must happen before it fails (a liveness
/// bound, not a measurement).
const DEADLINE: Duration = Duration::from_secs(30);

/// `1.5 s` from now, as RFC 3339, and the instant itself.
fn soon() -> (String, OffsetDateTime) {
    let t = OffsetDateTime::now_utc() + Duration::from_millis(1500);
    (t.format(&Rfc3339).expect("format"), t)
}

/// Polls `f` until it holds; fails after [`DEADLINE`].
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn created(r: Resp) -> Value {
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    r.body
}

/// `POST /v1/check` with `explain`, as the owner.
async fn check(app: &TestApp, user: &str, account: &str) -> Value {
    let r = app
        .post(
            "/v1/check",
            &app.owner,
            json!({"user_id": user, "permission": "grants:write", "account_id": account, "explain": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// Whether a list answer names `id` (as an item's `user_id` or `id`).
async fn lists(app: &TestApp, path: &str, id: &str) -> bool {
    let r = app.get(path, &app.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|x| x["user_id"] == json!(id) || x["id"] == json!(id))
}

/// The audit events about `target_id` with `action`, as the owner reads them.
async fn events(app: &TestApp, target_id: &str, action: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/v1/audit-events?target_id={target_id}"),
            &app.owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == json!(action))
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_expiring_membership_is_ignored_then_swept() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let group = created(
            app.post(
                &format!("/v1/organizations/{}/groups", a.org_a),
                &app.owner,
                json!({"name": "On call"}),
            )
            .await,
        );
        let g = group["id"].as_str().expect("id").to_owned();
        created(
            app.post(
                &format!("/v1/groups/{g}/grants"),
                &app.owner,
                json!({"role_id": "admin", "scope": {"type": "account", "id": a.acc_a1}}),
            )
            .await,
        );
        let u = app.user(&a.org_a, "on.call@a.example").await;
        let (expires_at, expires) = soon();
        created(
            app.post(
                &format!("/v1/groups/{g}/members"),
                &app.owner,
                json!({"user_id": u, "expires_at": expires_at}),
            )
            .await,
        );
        let members = format!("/v1/groups/{g}/members");
        let before = fingerprint(&app, Some(&members)).await;

        let early = check(&app, &u, &a.acc_a1).await;
        if OffsetDateTime::now_utc() < expires {
            assert_eq!(early["allowed"], json!(true), "{early}");
            assert_eq!(early["explanation"]["group_id"], json!(g), "{early}");
        }
        // Expired: denied as such, with no write.
        eventually("a check to observe the membership's expiry", || async {
            check(&app, &u, &a.acc_a1).await["allowed"] == json!(false)
        })
        .await;
        let c = check(&app, &u, &a.acc_a1).await;
        assert_eq!(c["explanation"]["reason"], json!("expired"), "{c}");
        assert_eq!(c["revision"].as_u64(), Some(before.revision), "{c}");
        assert_eq!(fingerprint(&app, Some(&members)).await, before);
        assert!(lists(&app, &members, &u).await, "still stored");

        // The sweeper removes it as the system.
        let sweeper = roster_server::expiry::spawn(&app.state);
        eventually("the sweeper to remove the membership", || async {
            !lists(&app, &members, &u).await
        })
        .await;
        assert!(!lists(&app, &format!("/v1/users/{u}/groups"), &g).await);
        let expired = events(&app, &format!("{g}:{u}"), "group_member.expire").await;
        assert_eq!(expired.len(), 1, "{expired:?}");
        assert_eq!(expired[0]["actor_id"], Value::Null, "{}", expired[0]);
        assert_eq!(expired[0]["reason"], json!("expired"), "{}", expired[0]);
        assert_eq!(
            expired[0]["organization_id"],
            json!(a.org_a),
            "{}",
            expired[0]
        );
        let c = check(&app, &u, &a.acc_a1).await;
        assert_eq!(c["allowed"], json!(false), "{c}");
        assert_eq!(c["explanation"]["reason"], json!("no_grant"), "{c}");
        sweeper.abort();
    })
    .await;
}

#[tokio::test]
async fn an_expiring_group_grant_is_ignored_then_swept() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let group = created(
            app.post(
                &format!("/v1/organizations/{}/groups", a.org_a),
                &app.owner,
                json!({"name": "Auditors", "description": "for the audit"}),
            )
            .await,
        );
        let g = group["id"].as_str().expect("id").to_owned();
        let u = app.user(&a.org_a, "auditor@a.example").await;
        created(
            app.post(
                &format!("/v1/groups/{g}/members"),
                &app.owner,
                json!({"user_id": u}),
            )
            .await,
        );
        let (expires_at, expires) = soon();
        let grant = created(
            app.post(
                &format!("/v1/groups/{g}/grants"),
                &app.owner,
                json!({"role_id": "admin", "scope": {"type": "account", "id": a.acc_a1}, "expires_at": expires_at}),
            )
            .await,
        );
        let gid = grant["id"].as_str().expect("id").to_owned();
        let grants = format!("/v1/groups/{g}/grants");
        let before = fingerprint(&app, Some(&grants)).await;

        let early = check(&app, &u, &a.acc_a1).await;
        if OffsetDateTime::now_utc() < expires {
            assert_eq!(early["allowed"], json!(true), "{early}");
            assert_eq!(early["explanation"]["grant_id"], json!(gid), "{early}");
        }
        eventually("a check to observe the group grant's expiry", || async {
            check(&app, &u, &a.acc_a1).await["allowed"] == json!(false)
        })
        .await;
        let c = check(&app, &u, &a.acc_a1).await;
        assert_eq!(c["explanation"]["reason"], json!("expired"), "{c}");
        assert_eq!(fingerprint(&app, Some(&grants)).await, before);

        let sweeper = roster_server::expiry::spawn(&app.state);
        eventually("the sweeper to remove the group's grant", || async {
            !lists(&app, &grants, &gid).await
        })
        .await;
        let expired = events(&app, &gid, "grant.expire").await;
        assert_eq!(expired.len(), 1, "{expired:?}");
        assert_eq!(expired[0]["actor_id"], Value::Null, "{}", expired[0]);
        assert_eq!(expired[0]["reason"], json!("expired"), "{}", expired[0]);
        // The membership itself was permanent and stays.
        assert!(lists(&app, &format!("/v1/groups/{g}/members"), &u).await);
        sweeper.abort();
    })
    .await;
}
