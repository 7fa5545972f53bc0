//! Decisions over HTTP, on every backend: a revoked grant is denied at the
//! revision its removal produced (asked with `min_revision`), a disabled
//! account and a deleted user take effect at their revision, and a batch
//! answers exactly what the same checks asked one by one answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::common;

use axum::http::StatusCode;
use common::{each_backend, TestApp};
use serde_json::{json, Value};

async fn check_at(app: &TestApp, body: Value) -> (bool, u64, Value) {
    let r = app.post("/v1/check", &app.owner, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rev = r.body["revision"].as_u64().expect("revision");
    assert_eq!(
        r.revision(),
        Some(rev),
        "the header names the answer's revision"
    );
    (r.body["allowed"].as_bool().expect("allowed"), rev, r.body)
}

#[tokio::test]
async fn revocation_and_status_changes_take_effect_at_their_revision() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let u = app.user(&a.org_a, "decider@a.example").await;
        let r = app.post(&format!("/v1/users/{u}/grants"), &app.owner, json!({ "role_id": "admin", "scope": {"type": "account", "id": a.acc_a1} })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let granted_at = r.revision().expect("a write answers its revision");
        let grant_id = r.str("id");
        let q = |rev: u64| json!({ "user_id": u, "permission": "grants:write", "account_id": a.acc_a1, "min_revision": rev, "explain": true });

        let (allowed, rev, body) = check_at(&app, q(granted_at)).await;
        assert!(allowed, "{body}");
        assert!(rev >= granted_at);
        assert_eq!(body["explanation"]["grant_id"], json!(grant_id));
        assert_eq!(body["explanation"]["role_id"], json!("admin"));

        // Revoke: denied at exactly the revision the removal produced.
        let r = app.delete(&format!("/v1/users/{u}/grants/{grant_id}"), &app.owner).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        let revoked_at = r.revision().expect("a delete answers its revision");
        assert!(revoked_at > granted_at);
        let (allowed, rev, body) = check_at(&app, q(revoked_at)).await;
        assert!(!allowed, "a revoked grant must be denied at the next revision: {body}");
        assert!(rev >= revoked_at);
        assert_eq!(body["explanation"]["reason"], json!("no_grant"));

        // A revision nobody has committed yet is refused at once, naming the field.
        let far = app.post("/v1/check", &app.owner, q(revoked_at + 1_000_000)).await;
        assert_eq!(far.status, StatusCode::BAD_REQUEST, "{}", far.body);
        assert_eq!(far.body["errors"][0]["field"], json!("min_revision"), "{}", far.body);

        // A disabled account denies from the revision that disabled it.
        let r = app.post(&format!("/v1/users/{u}/grants"), &app.owner, json!({ "role_id": "admin", "scope": {"type": "organization", "id": a.org_a} })).await;
        assert!(r.status.is_success(), "{}", r.body);
        let (allowed, _, body) = check_at(&app, q(r.revision().expect("revision"))).await;
        assert!(allowed, "{body}");
        let r = app.patch(&format!("/v1/accounts/{}", a.acc_a1), &app.owner, json!({ "status": "disabled" })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let (allowed, _, body) = check_at(&app, q(r.revision().expect("revision"))).await;
        assert!(!allowed);
        assert_eq!(body["explanation"]["reason"], json!("account_disabled"));
        let r = app.patch(&format!("/v1/accounts/{}", a.acc_a1), &app.owner, json!({ "status": "active" })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let (allowed, _, _) = check_at(&app, q(r.revision().expect("revision"))).await;
        assert!(allowed);

        // A deleted user is denied from the revision that deleted it.
        let r = app.delete(&format!("/v1/users/{u}"), &app.owner).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        let (allowed, _, body) = check_at(&app, q(r.revision().expect("revision"))).await;
        assert!(!allowed);
        assert_eq!(body["explanation"]["reason"], json!("user_inactive"));
    })
    .await;
}

#[tokio::test]
async fn batch_answers_what_single_checks_answer() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let users = [&a.org_admin.0, &a.account_admin.0, &a.viewer.0, &a.nobody.0, &a.target];
        let perms = ["grants:write", "users:read", "organizations:write", "authz:check"];
        let mut checks = Vec::new();
        for u in users {
            for p in perms {
                for acc in [&a.acc_a1, &a.acc_a2] {
                    checks.push(json!({ "user_id": u, "permission": p, "account_id": acc, "explain": true }));
                }
                checks.push(json!({ "user_id": u, "permission": p, "organization_id": a.org_a, "explain": true }));
            }
        }
        let r = app.post("/v1/check/batch", &app.owner, json!({ "checks": checks })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let rev = r.body["revision"].as_u64().expect("revision");
        let results = r.body["results"].as_array().expect("results").clone();
        assert_eq!(results.len(), checks.len());
        let mut allowed = 0;
        for (c, got) in checks.iter().zip(&results) {
            let mut single = c.clone();
            single["min_revision"] = json!(rev);
            let (ok, at, body) = check_at(&app, single).await;
            assert_eq!(at, rev, "nothing was written in between");
            assert_eq!(got["allowed"], json!(ok), "batch and single disagree on {c}");
            assert_eq!(got["explanation"], body["explanation"], "{c}");
            allowed += usize::from(ok);
        }
        assert!(allowed > 0 && allowed < checks.len(), "the cast allows some and denies some");

        // Too large a batch is refused, in the API's error shape.
        let big: Vec<Value> = (0..1001).map(|_| checks[0].clone()).collect();
        let r = app.post("/v1/check/batch", &app.owner, json!({ "checks": big })).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    })
    .await;
}
