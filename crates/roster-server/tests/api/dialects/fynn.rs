//! Fynn's `PUT /compat/fynn/accounts/{id}/role` against SPEC §2 and the
//! seed's documented schema, per backend.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::support::common;
use crate::support::schema;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{each_backend, Actors, Resp, TestApp};
use serde_json::json;

const FRAGMENT_PATH: &str = "/accounts/{id}/role";

fn url(membership: &str) -> String {
    format!("/compat/fynn/accounts/{membership}/role")
}

async fn send_raw(
    app: &TestApp,
    membership: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Resp {
    let mut b = Request::builder().method(Method::PUT).uri(url(membership));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    app.raw(b.body(Body::from(body)).unwrap()).await
}

async fn send(app: &TestApp, membership: &str, token: &str, role: &str) -> Resp {
    send_raw(
        app,
        membership,
        Some(token),
        Some("application/json"),
        json!({ "role": role }).to_string().into_bytes(),
    )
    .await
}

/// API Platform's problem document with the given status.
fn assert_problem(r: &Resp, status: StatusCode) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.headers.get("content-type").map(|v| v.to_str().unwrap()),
        Some("application/problem+json")
    );
    assert_eq!(r.body["status"], status.as_u16(), "{}", r.body);
    assert_eq!(r.body["title"], "An error occurred", "{}", r.body);
    assert!(
        r.body["type"].is_string() && r.body["detail"].is_string(),
        "{}",
        r.body
    );
}

/// A problem whose violations name `path`.
fn assert_violation(r: &Resp, status: StatusCode, path: &str) {
    assert_problem(r, status);
    let v = r.body["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("no violations in {}", r.body));
    assert!(
        v.iter()
            .any(|v| v["propertyPath"] == path && v["message"].is_string()),
        "{}",
        r.body
    );
}

/// The role grants of `user` at `account`.
async fn roles_at(app: &TestApp, user: &str, account: &str) -> Vec<String> {
    let r = app
        .get(&format!("/v1/users/{user}/grants"), &app.owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut out: Vec<String> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| {
            g["scope"]["type"] == "account"
                && g["scope"]["id"] == account
                && g["role_id"].is_string()
        })
        .map(|g| g["role_id"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

/// The cast, and the target's membership id in A1.
async fn setup(app: &TestApp) -> (Actors, String) {
    let a = app.actors().await;
    let r = app
        .get(&format!("/v1/accounts/{}/members", a.acc_a1), &app.owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let m = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == a.target.as_str())
        .expect("membership")
        .clone();
    (a, m["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn unauthenticated_is_401() {
    each_backend(|app| async move {
        let (a, m) = setup(&app).await;
        let body = br#"{"role": "read-only"}"#.to_vec();
        for token in [None, Some("nope"), Some("")] {
            let r = send_raw(&app, &m, token, Some("application/json"), body.clone()).await;
            assert_problem(&r, StatusCode::UNAUTHORIZED);
        }
        // A token under another scheme.
        let req = Request::builder()
            .method(Method::PUT)
            .uri(url(&m))
            .header("authorization", format!("Token {}", a.org_admin.1))
            .header("content-type", "application/json");
        let r = app.raw(req.body(Body::from(body)).unwrap()).await;
        assert_problem(&r, StatusCode::UNAUTHORIZED);
        assert!(roles_at(&app, &a.target, &a.acc_a1).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn caller_without_account_role_write_is_403() {
    each_backend(|app| async move {
        let (a, m) = setup(&app).await;
        for token in [&a.viewer.1, &a.nobody.1] {
            let r = send(&app, &m, token, "read-only").await;
            assert_problem(&r, StatusCode::FORBIDDEN);
        }
        // An admin of another account of the organization.
        let other = app.user(&a.org_a, "a2.admin@a.example").await;
        app.grant(&other, "admin", json!({"type": "account", "id": a.acc_a2}))
            .await;
        let token = app.key(&other).await;
        let r = send(&app, &m, &token, "read-only").await;
        assert_problem(&r, StatusCode::FORBIDDEN);
        assert!(roles_at(&app, &a.target, &a.acc_a1).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn granting_more_than_the_caller_holds_is_403_and_changes_nothing() {
    each_backend(|app| async move {
        let (a, m) = setup(&app).await;
        app.grant(
            &a.target,
            "read-only",
            json!({"type": "account", "id": a.acc_a1}),
        )
        .await;
        // May change roles and holds `read-only`'s permissions, but not
        // `account`'s (`authz:check`) nor `administrator`'s.
        let perms = [
            "account:role:write",
            "grants:write",
            "organizations:read",
            "accounts:read",
            "users:read",
            "roles:read",
            "grants:read",
            "audit:read",
        ];
        let r = app
            .post(
                &format!("/v1/organizations/{}/roles", a.org_a),
                &app.owner,
                json!({"id": "role-setter", "name": "Role setter", "permissions": perms}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let setter = app.user(&a.org_a, "setter@a.example").await;
        app.grant(
            &setter,
            "role-setter",
            json!({"type": "account", "id": a.acc_a1}),
        )
        .await;
        let token = app.key(&setter).await;
        let audit = app.audit_count().await;
        // Replacing `read-only` removes a grant first; the refused new grant
        // must take that removal back with it.
        for role in ["administrator", "account"] {
            let r = send(&app, &m, &token, role).await;
            assert_problem(&r, StatusCode::FORBIDDEN);
            assert!(
                r.body["detail"].as_str().unwrap().contains("escalation"),
                "{}",
                r.body
            );
        }
        assert_eq!(
            roles_at(&app, &a.target, &a.acc_a1).await,
            vec!["read-only"]
        );
        assert_eq!(app.audit_count().await, audit);
        // The account admin of A1 may make the target an administrator of A1.
        let r = send(&app, &m, &a.account_admin.1, "administrator").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn changing_ones_own_role_is_422() {
    each_backend(|app| async move {
        let (a, _) = setup(&app).await;
        let own = app.member(&a.acc_a1, &a.org_admin.0).await;
        let own = own["id"].as_str().unwrap();
        let audit = app.audit_count().await;
        let r = send(&app, own, &a.org_admin.1, "read-only").await;
        assert_violation(&r, StatusCode::UNPROCESSABLE_ENTITY, "role");
        assert_eq!(
            r.body["violations"][0]["message"],
            "You cannot change the role of your own account"
        );
        assert!(roles_at(&app, &a.org_admin.0, &a.acc_a1).await.is_empty());
        assert_eq!(app.audit_count().await, audit);
    })
    .await;
}

#[tokio::test]
async fn another_tenants_membership_is_404() {
    each_backend(|app| async move {
        let (a, m) = setup(&app).await;
        let r = send(&app, &m, &a.other_tenant.1, "read-only").await;
        assert_problem(&r, StatusCode::NOT_FOUND);
        // B's membership, seen from A.
        let b_user = app.user(&a.org_b, "member@b.example").await;
        let bm = app.member(&a.acc_b1, &b_user).await;
        let r = send(
            &app,
            bm["id"].as_str().unwrap(),
            &a.org_admin.1,
            "read-only",
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND);
        for id in [
            "7b7b7b7b-0000-4000-8000-000000000000",
            "01F9Z3ZJXZQZJZJZJZJZJZJZJZ",
        ] {
            let r = send(&app, id, &a.org_admin.1, "read-only").await;
            assert_problem(&r, StatusCode::NOT_FOUND);
        }
        assert!(roles_at(&app, &a.target, &a.acc_a1).await.is_empty());
        assert!(roles_at(&app, &b_user, &a.acc_b1).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_write_is_visible_to_checks_at_once_and_matches_the_schema() {
    each_backend(|app| async move {
        let (a, m) = setup(&app).await;
        assert!(!app.check(&a.target, "account:role:write", &a.acc_a1).await);
        let r = send(&app, &m, &a.org_admin.1, "administrator").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("fynn", FRAGMENT_PATH, "put", 200, &r.body);
        assert!(r.revision().is_some(), "Roster-Revision header");
        assert_eq!(r.body["id"], m.as_str());
        assert_eq!(r.body["role"], "administrator");
        assert_eq!(r.body["deactivated"], false);
        assert_eq!(r.body["user"], json!({"id": a.target, "firstName": "Test", "lastName": "User", "email": "target@a.example"}));
        assert!(app.check(&a.target, "account:role:write", &a.acc_a1).await);
        assert!(!app.check(&a.target, "account:role:write", &a.acc_a2).await);
        // Replaces, never adds: one role at the account.
        let r = send(&app, &m, &a.org_admin.1, "read-only").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("fynn", FRAGMENT_PATH, "put", 200, &r.body);
        assert_eq!(roles_at(&app, &a.target, &a.acc_a1).await, vec!["read-only"]);
        assert!(!app.check(&a.target, "account:role:write", &a.acc_a1).await);
        assert!(app.check(&a.target, "users:read", &a.acc_a1).await);
        // `text/html` is a documented request content type; the body is JSON.
        let r = send_raw(&app, &m, Some(&a.org_admin.1), Some("text/html"), br#"{"role": "account"}"#.to_vec()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("fynn", FRAGMENT_PATH, "put", 200, &r.body);
        assert_eq!(roles_at(&app, &a.target, &a.acc_a1).await, vec!["account"]);
        schema::assert_invalid("fynn", FRAGMENT_PATH, "put", 200, &json!({"user": {"id": "x", "firstName": "J", "lastName": "Doe", "email": "a@b.c"}}));
    })
    .await;
}

#[tokio::test]
async fn short_or_absent_names_still_match_the_schema() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let r = app
            .post(
                "/v1/users",
                &app.owner,
                json!({"organization_id": a.org_a, "email": "j@a.example", "first_name": "J"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let user = r.str("id");
        let m = app.member(&a.acc_a1, &user).await;
        let r = send(&app, m["id"].as_str().unwrap(), &a.org_admin.1, "account").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("fynn", FRAGMENT_PATH, "put", 200, &r.body);
        assert_eq!(r.body["user"]["firstName"], "J.");
        assert_eq!(r.body["user"]["lastName"], "n/a");
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_a_4xx_in_fynns_shape() {
    each_backend(|app| async move {
        let (a, m) = setup(&app).await;
        let t = Some(a.org_admin.1.as_str());
        let json = Some("application/json");
        for body in [
            &b"[]"[..],
            b"{not json",
            b"",
            b"\"administrator\"",
            b"[\"administrator\"]",
        ] {
            let r = send_raw(&app, &m, t, json, body.to_vec()).await;
            assert_problem(&r, StatusCode::BAD_REQUEST);
        }
        for body in [
            &b"{}"[..],
            br#"{"role": "owner"}"#,
            br#"{"role": 1}"#,
            br#"{"role": null}"#,
            br#"{"role": "Administrator"}"#,
        ] {
            let r = send_raw(&app, &m, t, json, body.to_vec()).await;
            assert_violation(&r, StatusCode::BAD_REQUEST, "role");
        }
        let r = send_raw(
            &app,
            &m,
            t,
            json,
            br#"{"role": "account", "extra": 1}"#.to_vec(),
        )
        .await;
        assert_violation(&r, StatusCode::BAD_REQUEST, "extra");
        let r = send_raw(
            &app,
            &m,
            t,
            Some("text/plain"),
            br#"{"role": "account"}"#.to_vec(),
        )
        .await;
        assert_problem(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let r = send_raw(&app, &m, t, None, br#"{"role": "account"}"#.to_vec()).await;
        assert_problem(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let r = send_raw(&app, &m, t, json, vec![b' '; 2 * 1024 * 1024]).await;
        assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE);
        let r = app
            .call(Method::PATCH, &url(&m), t, Some(json!({"role": "account"})))
            .await;
        assert_problem(&r, StatusCode::METHOD_NOT_ALLOWED);
        let r = app
            .call(Method::GET, "/compat/fynn/accounts", None, None)
            .await;
        assert_problem(&r, StatusCode::NOT_FOUND);
        assert!(roles_at(&app, &a.target, &a.acc_a1).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_seeds_example_body_is_400_on_demo_data() {
    each_backend(|app| async move {
        roster_server::demo::load(&app.state).await.expect("demo");
        let m = roster_server::demo::MEMBER_MEMBERSHIP.to_string();
        // The document's cURL sample: `--data '[]'`.
        let req = Request::builder()
            .method("PUT")
            .uri(url(&m))
            .header("Content-Type", "application/json")
            .header(
                "Authorization",
                format!("Bearer {}", roster_server::demo::ADMIN_TOKEN),
            )
            .body(Body::from("[]"))
            .unwrap();
        let r = app.raw(req).await;
        assert_problem(&r, StatusCode::BAD_REQUEST);
        // A valid body on the same membership.
        let r = send(&app, &m, roster_server::demo::ADMIN_TOKEN, "read-only").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("fynn", FRAGMENT_PATH, "put", 200, &r.body);
        // The member cannot change its own role, and lacks the permission anyway.
        let r = send(&app, &m, roster_server::demo::MEMBER_TOKEN, "administrator").await;
        assert_problem(&r, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn a_scoped_credential_needs_account_role_write_among_its_scopes() {
    each_backend(|app| async move {
        let (a, m) = setup(&app).await;
        let reads = [
            "organizations:read",
            "accounts:read",
            "users:read",
            "roles:read",
            "grants:read",
            "audit:read",
        ];
        // The organization admin holds `account:role:write`; its key without
        // that scope does not (the seed: `security: JWT: [account:role:write]`).
        let without: Vec<&str> = reads.iter().copied().chain(["grants:write"]).collect();
        let k = app.scoped_key(&a.org_admin.0, &without).await;
        let r = send(&app, &m, k["key"].as_str().unwrap(), "read-only").await;
        assert_problem(&r, StatusCode::FORBIDDEN);
        assert!(roles_at(&app, &a.target, &a.acc_a1).await.is_empty());
        let with: Vec<&str> = without
            .iter()
            .copied()
            .chain(["account:role:write"])
            .collect();
        let k = app.scoped_key(&a.org_admin.0, &with).await;
        let r = send(&app, &m, k["key"].as_str().unwrap(), "read-only").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(roles_at(&app, &a.target, &a.acc_a1).await, ["read-only"]);
    })
    .await;
}
