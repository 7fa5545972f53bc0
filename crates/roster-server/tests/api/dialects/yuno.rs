//! Yuno's `PATCH /compat/yuno/v1/organizations/users/{user_id}/account-permissions`
//! against SPEC §2 and the seed's documented schema, per backend.
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
use serde_json::{json, Value};

const FRAGMENT_PATH: &str = "/organizations/users/{user_id}/account-permissions";

fn url(user: &str) -> String {
    format!("/compat/yuno/v1/organizations/users/{user}/account-permissions")
}

/// A Yuno key pair `(PUBLIC-API-KEY, PRIVATE-SECRET-KEY)` for `user`.
async fn keys(app: &TestApp, user: &str) -> (String, String) {
    let r = app
        .post(
            "/v1/api-keys",
            &app.owner,
            json!({ "user_id": user, "name": "yuno" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (r.str("key_id"), r.str("key"))
}

/// Sends a raw body with optional key headers and content type.
async fn send_raw(
    app: &TestApp,
    user: &str,
    keys: Option<&(String, String)>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Resp {
    let mut b = Request::builder().method(Method::PATCH).uri(url(user));
    if let Some((id, secret)) = keys {
        b = b
            .header("PUBLIC-API-KEY", id)
            .header("PRIVATE-SECRET-KEY", secret);
    }
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    app.raw(b.body(Body::from(body)).unwrap()).await
}

async fn send(app: &TestApp, user: &str, keys: &(String, String), body: Value) -> Resp {
    send_raw(
        app,
        user,
        Some(keys),
        Some("application/json"),
        body.to_string().into_bytes(),
    )
    .await
}

fn entries(list: &[(&str, &str)]) -> Value {
    json!({ "account_permissions": list.iter().map(|(a, r)| json!({"account_id": a, "role_id": r})).collect::<Vec<_>>() })
}

/// Asserts Yuno's error envelope: exactly `code` and `messages`.
fn assert_yuno_error(r: &Resp, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let obj = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {}", r.body));
    assert_eq!(obj.len(), 2, "exactly code and messages: {}", r.body);
    assert_eq!(r.body["code"], code, "{}", r.body);
    let msgs = r.body["messages"].as_array().expect("messages");
    assert!(
        !msgs.is_empty() && msgs.iter().all(Value::is_string),
        "{}",
        r.body
    );
}

fn message(r: &Resp) -> String {
    r.body["messages"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The role grants of `user` at account scopes, as `(account, role)`, sorted.
async fn account_roles(app: &TestApp, user: &str) -> Vec<(String, String)> {
    let r = app
        .get(&format!("/v1/users/{user}/grants"), &app.owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut out: Vec<_> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["scope"]["type"] == "account" && g["role_id"].is_string())
        .map(|g| {
            (
                g["scope"]["id"].as_str().unwrap().to_owned(),
                g["role_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn setup(app: &TestApp) -> (Actors, (String, String)) {
    let a = app.actors().await;
    let k = keys(app, &a.org_admin.0).await;
    (a, k)
}

#[tokio::test]
async fn unauthenticated_is_401() {
    each_backend(|app| async move {
        let (a, k) = setup(&app).await;
        let body = entries(&[(&a.acc_a1, "viewer")]).to_string().into_bytes();
        let r = send_raw(
            &app,
            &a.target,
            None,
            Some("application/json"),
            body.clone(),
        )
        .await;
        assert_yuno_error(&r, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
        // Only one of the two headers.
        let mut req = Request::builder()
            .method(Method::PATCH)
            .uri(url(&a.target))
            .header("content-type", "application/json");
        req = req.header("PUBLIC-API-KEY", &k.0);
        let r = app.raw(req.body(Body::from(body.clone())).unwrap()).await;
        assert_yuno_error(&r, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
        let req = Request::builder()
            .method(Method::PATCH)
            .uri(url(&a.target))
            .header("content-type", "application/json")
            .header("PRIVATE-SECRET-KEY", &k.1);
        let r = app.raw(req.body(Body::from(body.clone())).unwrap()).await;
        assert_yuno_error(&r, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
        // Both, but of two different keys.
        let other = keys(&app, &a.viewer.0).await;
        let r = send_raw(
            &app,
            &a.target,
            Some(&(k.0.clone(), other.1.clone())),
            Some("application/json"),
            body.clone(),
        )
        .await;
        assert_yuno_error(&r, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
        // A wrong secret, and an unknown key id.
        let r = send_raw(
            &app,
            &a.target,
            Some(&(k.0.clone(), "nope".into())),
            Some("application/json"),
            body.clone(),
        )
        .await;
        assert_yuno_error(&r, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
        let r = send_raw(
            &app,
            &a.target,
            Some(&("0000000000000000".into(), k.1.clone())),
            Some("application/json"),
            body,
        )
        .await;
        assert_yuno_error(&r, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
        assert!(account_roles(&app, &a.target).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn caller_without_permission_is_403() {
    each_backend(|app| async move {
        let a = app.actors().await;
        for user in [&a.viewer.0, &a.nobody.0] {
            let k = keys(&app, user).await;
            let r = send(&app, &a.target, &k, entries(&[(&a.acc_a1, "viewer")])).await;
            assert_yuno_error(&r, StatusCode::FORBIDDEN, "FORBIDDEN");
        }
        assert!(account_roles(&app, &a.target).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn granting_more_than_the_caller_holds_is_403() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let k = keys(&app, &a.account_admin.0).await;
        // `owner` carries `organizations:write`, which an admin lacks.
        let r = send(&app, &a.target, &k, entries(&[(&a.acc_a1, "owner")])).await;
        assert_yuno_error(&r, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(message(&r).contains("escalation"), "{}", r.body);
        // A role at an account the caller does not administer.
        let r = send(&app, &a.target, &k, entries(&[(&a.acc_a2, "viewer")])).await;
        assert_yuno_error(&r, StatusCode::FORBIDDEN, "FORBIDDEN");
        // Within its account and its own permissions: fine.
        let r = send(&app, &a.target, &k, entries(&[(&a.acc_a1, "admin")])).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            account_roles(&app, &a.target).await,
            vec![(a.acc_a1.clone(), "admin".to_owned())]
        );
    })
    .await;
}

#[tokio::test]
async fn changing_ones_own_role_is_403() {
    each_backend(|app| async move {
        let (a, k) = setup(&app).await;
        let r = send(&app, &a.org_admin.0, &k, entries(&[(&a.acc_a1, "viewer")])).await;
        assert_yuno_error(&r, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(account_roles(&app, &a.org_admin.0).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn another_tenants_user_or_account_is_404() {
    each_backend(|app| async move {
        let (a, k) = setup(&app).await;
        let other = keys(&app, &a.other_tenant.0).await;
        let r = send(&app, &a.target, &other, entries(&[(&a.acc_a1, "viewer")])).await;
        assert_yuno_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
        let r = send(&app, &a.target, &other, entries(&[(&a.acc_b1, "viewer")])).await;
        assert_yuno_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
        // Org A's admin naming B's account, and B's user.
        let r = send(&app, &a.target, &k, entries(&[(&a.acc_b1, "viewer")])).await;
        assert_yuno_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
        let r = send(
            &app,
            &a.other_tenant.0,
            &k,
            entries(&[(&a.acc_a1, "viewer")]),
        )
        .await;
        assert_yuno_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
        // Unknown user and unknown account look the same.
        let r = send(
            &app,
            "7b7b7b7b-0000-4000-8000-000000000000",
            &k,
            entries(&[(&a.acc_a1, "viewer")]),
        )
        .await;
        assert_yuno_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert!(account_roles(&app, &a.target).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_invalid_last_entry_leaves_the_earlier_ones_unapplied() {
    each_backend(|app| async move {
        let (a, k) = setup(&app).await;
        // A starting point the request would change.
        let r = send(&app, &a.target, &k, entries(&[(&a.acc_a1, "viewer")])).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let before = account_roles(&app, &a.target).await;
        let audit = app.audit_count().await;
        let cases: Vec<(Value, StatusCode, &str)> = vec![
            (
                entries(&[
                    (&a.acc_a1, "admin"),
                    (&a.acc_a2, "member"),
                    (&a.acc_a1, "no-such-role"),
                ]),
                StatusCode::BAD_REQUEST,
                "account_permissions[2].role_id",
            ),
            (
                entries(&[
                    (&a.acc_a1, "admin"),
                    (&a.acc_a2, "member"),
                    (&a.acc_a2, "owner"),
                ]),
                StatusCode::FORBIDDEN,
                "escalation",
            ),
            (
                entries(&[
                    (&a.acc_a1, "admin"),
                    (&a.acc_a2, "member"),
                    (&a.acc_b1, "viewer"),
                ]),
                StatusCode::NOT_FOUND,
                "not found",
            ),
            (
                entries(&[
                    (&a.acc_a1, "admin"),
                    (&a.acc_a2, "member"),
                    (&a.acc_a2, "Not A Role!"),
                ]),
                StatusCode::BAD_REQUEST,
                "account_permissions[2].role_id",
            ),
            (
                entries(&[
                    (&a.acc_a1, "admin"),
                    (&a.acc_a2, "member"),
                    ("not-a-uuid", "viewer"),
                ]),
                StatusCode::BAD_REQUEST,
                "account_permissions[2].account_id",
            ),
        ];
        for (body, status, needle) in cases {
            let r = send(&app, &a.target, &k, body).await;
            assert_eq!(r.status, status, "{}", r.body);
            assert!(message(&r).contains(needle), "`{needle}` in {}", r.body);
            assert_eq!(
                account_roles(&app, &a.target).await,
                before,
                "nothing of the request applied"
            );
            assert_eq!(app.audit_count().await, audit, "no audit event");
        }
    })
    .await;
}

#[tokio::test]
async fn a_write_is_visible_to_checks_at_once_and_matches_the_schema() {
    each_backend(|app| async move {
        let (a, k) = setup(&app).await;
        assert!(!app.check(&a.target, "users:write", &a.acc_a1).await);
        let r = send(&app, &a.target, &k, entries(&[(&a.acc_a2, "viewer"), (&a.acc_a1, "admin")])).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("yuno", FRAGMENT_PATH, "patch", 200, &r.body);
        assert!(r.revision().is_some(), "Roster-Revision header");
        assert!(app.check(&a.target, "users:write", &a.acc_a1).await);
        assert!(!app.check(&a.target, "users:write", &a.acc_a2).await);
        assert!(app.check(&a.target, "users:read", &a.acc_a2).await);
        // Sorted by account id, with names.
        let perms = r.body["permissions"].as_array().unwrap().clone();
        assert_eq!(perms.len(), 2, "{}", r.body);
        let mut expected = vec![(a.acc_a1.clone(), "A1", "admin", "Admin"), (a.acc_a2.clone(), "A2", "viewer", "Viewer")];
        expected.sort();
        for (p, (acc, acc_name, role, role_name)) in perms.iter().zip(expected) {
            assert_eq!(p, &json!({"account_id": acc, "account_name": acc_name, "role_id": role, "role_name": role_name}));
        }
        // Upsert: A1 changes, A2 (not named) keeps its role.
        let r = send(&app, &a.target, &k, entries(&[(&a.acc_a1, "member")])).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("yuno", FRAGMENT_PATH, "patch", 200, &r.body);
        let mut want = vec![(a.acc_a1.clone(), "member".to_owned()), (a.acc_a2.clone(), "viewer".to_owned())];
        want.sort();
        assert_eq!(account_roles(&app, &a.target).await, want);
        assert!(!app.check(&a.target, "users:write", &a.acc_a1).await);
        assert!(app.check(&a.target, "authz:check", &a.acc_a1).await);
        // The same again changes nothing and writes no audit event.
        let audit = app.audit_count().await;
        let r = send(&app, &a.target, &k, entries(&[(&a.acc_a1, "member")])).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(app.audit_count().await, audit);
        // An empty list changes nothing and lists the current roles.
        let r = send(&app, &a.target, &k, json!({"account_permissions": []})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("yuno", FRAGMENT_PATH, "patch", 200, &r.body);
        assert_eq!(r.body["permissions"].as_array().unwrap().len(), 2);
        // The validator does bite.
        schema::assert_invalid("yuno", FRAGMENT_PATH, "patch", 200, &json!({"permissions": [{"account_id": "x"}]}));
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_a_4xx_in_yunos_shape() {
    each_backend(|app| async move {
        let (a, k) = setup(&app).await;
        let u = &a.target;
        let json = Some("application/json");
        let cases: Vec<(Option<&str>, Vec<u8>, StatusCode, &str)> = vec![
            (
                json,
                b"{not json".to_vec(),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
            ),
            (
                json,
                b"".to_vec(),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
            ),
            (
                json,
                b"[]".to_vec(),
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
            ),
            (
                json,
                b"{}".to_vec(),
                StatusCode::BAD_REQUEST,
                "MISSING_PARAMETERS",
            ),
            (
                json,
                br#"{"account_permissions": {}}"#.to_vec(),
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETERS",
            ),
            (
                json,
                br#"{"account_permissions": [{"account_id": 1, "role_id": "viewer"}]}"#.to_vec(),
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETERS",
            ),
            (
                json,
                br#"{"account_permissions": [{"role_id": "viewer"}]}"#.to_vec(),
                StatusCode::BAD_REQUEST,
                "MISSING_PARAMETERS",
            ),
            (
                json,
                br#"{"account_permissions": [], "extra": 1}"#.to_vec(),
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETERS",
            ),
            (
                Some("text/plain"),
                br#"{"account_permissions": []}"#.to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (
                None,
                br#"{"account_permissions": []}"#.to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (
                json,
                vec![b' '; 2 * 1024 * 1024],
                StatusCode::PAYLOAD_TOO_LARGE,
                "REQUEST_ENTITY_TOO_LARGE",
            ),
        ];
        for (ct, body, status, code) in cases {
            let r = send_raw(&app, u, Some(&k), ct, body).await;
            assert_yuno_error(&r, status, code);
        }
        // Field errors name the field.
        let r = send_raw(
            &app,
            u,
            Some(&k),
            json,
            br#"{"account_permissions": [{"role_id": "viewer"}]}"#.to_vec(),
        )
        .await;
        assert!(
            message(&r).contains("account_permissions[0].account_id"),
            "{}",
            r.body
        );
        let r = send_raw(
            &app,
            u,
            Some(&k),
            json,
            br#"{"account_permissions": [], "extra": 1}"#.to_vec(),
        )
        .await;
        assert!(message(&r).contains("extra"), "{}", r.body);
        let r = send_raw(
            &app,
            u,
            Some(&k),
            json,
            br#"{"account_permissions": [{"account_id": "x", "role_id": "viewer", "more": 1}]}"#
                .to_vec(),
        )
        .await;
        assert!(message(&r).contains("more"), "{}", r.body);
        // Too many entries.
        let many: Vec<(&str, &str)> = (0..1001).map(|_| (a.acc_a1.as_str(), "viewer")).collect();
        let r = send(&app, u, &k, entries(&many)).await;
        assert_yuno_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETERS");
        // A user id that is no UUID.
        let r = send(&app, "not-a-uuid", &k, entries(&[(&a.acc_a1, "viewer")])).await;
        assert_yuno_error(&r, StatusCode::BAD_REQUEST, "INVALID_PARAMETERS");
        assert!(message(&r).contains("user_id"), "{}", r.body);
        // Wrong method and unknown paths below the base URL.
        let r = app
            .call_with(
                Method::GET,
                &url(u),
                None,
                None,
                &[("PUBLIC-API-KEY", &k.0), ("PRIVATE-SECRET-KEY", &k.1)],
            )
            .await;
        assert_yuno_error(&r, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
        let r = app
            .call(Method::GET, "/compat/yuno/v1/nothing/here", None, None)
            .await;
        assert_yuno_error(&r, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert!(account_roles(&app, u).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn demo_keys_work() {
    each_backend(|app| async move {
        roster_server::demo::load(&app.state).await.expect("demo");
        let k = (
            roster_server::demo::YUNO_PUBLIC_KEY.to_owned(),
            roster_server::demo::YUNO_PRIVATE_KEY.to_owned(),
        );
        let member = roster_server::demo::MEMBER.to_string();
        let body = entries(&[(&roster_server::demo::VENDOR_ACCOUNT.to_string(), "viewer")]);
        let r = send(&app, &member, &k, body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("yuno", FRAGMENT_PATH, "patch", 200, &r.body);
        assert_eq!(
            r.body["permissions"].as_array().unwrap().len(),
            2,
            "{}",
            r.body
        );
    })
    .await;
}

#[tokio::test]
async fn a_scoped_key_pair_acts_only_within_its_scopes() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let reads = [
            "organizations:read",
            "accounts:read",
            "users:read",
            "roles:read",
            "grants:read",
            "audit:read",
        ];
        let pair = |k: serde_json::Value| {
            (
                k["key_id"].as_str().unwrap().to_owned(),
                k["key"].as_str().unwrap().to_owned(),
            )
        };
        let read_only = pair(app.scoped_key(&a.org_admin.0, &reads).await);
        let r = send(
            &app,
            &a.target,
            &read_only,
            entries(&[(&a.acc_a1, "viewer")]),
        )
        .await;
        assert_yuno_error(&r, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(account_roles(&app, &a.target).await.is_empty());
        let granting: Vec<&str> = reads
            .iter()
            .copied()
            .chain(["grants:write", "users:write"])
            .collect();
        let granting = pair(app.scoped_key(&a.org_admin.0, &granting).await);
        let r = send(
            &app,
            &a.target,
            &granting,
            entries(&[(&a.acc_a1, "viewer")]),
        )
        .await;
        assert!(r.status.is_success(), "{}: {}", r.status, r.body);
        assert_eq!(account_roles(&app, &a.target).await.len(), 1);
    })
    .await;
}
