//! Crux's `PATCH /compat/crux/organizations/users/permissions/{user_uuid}/`
//! against SPEC §2 and the documented (Roster-defined) schema, per backend.
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
use common::{each_backend, Resp, TestApp};
use serde_json::{json, Value};
use std::collections::HashMap;

const FRAGMENT_PATH: &str = "/organizations/users/permissions/{user_uuid}/";

fn url(user: &str) -> String {
    format!("/compat/crux/organizations/users/permissions/{user}/")
}

async fn send_raw(
    app: &TestApp,
    uri: &str,
    auth: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Resp {
    let mut b = Request::builder().method(Method::PATCH).uri(uri);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    app.raw(b.body(Body::from(body)).unwrap()).await
}

async fn send(app: &TestApp, user: &str, token: &str, ids: &[&str]) -> Resp {
    let body = json!({ "permission_uuids": ids }).to_string().into_bytes();
    send_raw(
        app,
        &url(user),
        Some(&format!("Token {token}")),
        Some("application/json"),
        body,
    )
    .await
}

/// Built-in permission ids by code.
async fn permission_ids(app: &TestApp) -> HashMap<String, String> {
    let r = app.get("/v1/permissions?limit=1000", &app.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_owned(),
                p["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The permissions `user` holds directly, as `(scope type, permission id)`, sorted.
async fn direct(app: &TestApp, user: &str) -> Vec<(String, String)> {
    let r = app
        .get(&format!("/v1/users/{user}/grants"), &app.owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut out: Vec<_> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["permission_id"].is_string())
        .map(|g| {
            (
                g["scope"]["type"].as_str().unwrap().to_owned(),
                g["permission_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// DRF's `{"detail": "..."}` and nothing else.
fn assert_detail(r: &Resp, status: StatusCode) {
    assert_eq!(r.status, status, "{}", r.body);
    let obj = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {}", r.body));
    assert_eq!(obj.len(), 1, "{}", r.body);
    assert!(r.body["detail"].is_string(), "{}", r.body);
}

/// DRF's field errors: `{"<field>": ["..."]}`.
fn assert_field_error(r: &Resp, field: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let obj = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {}", r.body));
    assert_eq!(obj.len(), 1, "{}", r.body);
    let msgs = r.body[field]
        .as_array()
        .unwrap_or_else(|| panic!("no `{field}` list in {}", r.body));
    assert!(
        !msgs.is_empty() && msgs.iter().all(Value::is_string),
        "{}",
        r.body
    );
}

/// A custom role of `org` with the given permission codes.
async fn custom_role(app: &TestApp, org: &str, id: &str, codes: &[&str]) {
    let r = app
        .post(
            &format!("/v1/organizations/{org}/roles"),
            &app.owner,
            json!({"id": id, "name": id, "permissions": codes}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn unauthenticated_is_401() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let p = permission_ids(&app).await;
        let body = json!({ "permission_uuids": [p["users:read"]] })
            .to_string()
            .into_bytes();
        let bearer = format!("Bearer {}", a.org_admin.1);
        for auth in [
            None,
            Some("Token "),
            Some("Token nope"),
            Some(bearer.as_str()),
            Some(a.org_admin.1.as_str()),
        ] {
            let r = send_raw(
                &app,
                &url(&a.target),
                auth,
                Some("application/json"),
                body.clone(),
            )
            .await;
            assert_detail(&r, StatusCode::UNAUTHORIZED);
            assert_eq!(
                r.headers
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap()),
                Some("Token")
            );
        }
        let r = send_raw(&app, &url(&a.target), None, Some("application/json"), body).await;
        assert_eq!(
            r.body["detail"],
            "Authentication credentials were not provided."
        );
        assert!(direct(&app, &a.target).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn caller_without_edit_org_users_is_403() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let p = permission_ids(&app).await;
        // The viewer and a user without grants, and an admin of one account only
        // (it holds `edit_org_users` at that account, not over the organization).
        for token in [&a.viewer.1, &a.nobody.1, &a.account_admin.1] {
            let r = send(&app, &a.target, token, &[&p["users:read"]]).await;
            assert_detail(&r, StatusCode::FORBIDDEN);
        }
        assert!(direct(&app, &a.target).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn granting_more_than_the_caller_holds_is_403() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let p = permission_ids(&app).await;
        custom_role(
            &app,
            &a.org_a,
            "crux-editor",
            &["edit_org_users", "grants:write", "users:read"],
        )
        .await;
        let editor = app.user(&a.org_a, "editor@a.example").await;
        app.grant(
            &editor,
            "crux-editor",
            json!({"type": "organization", "id": a.org_a}),
        )
        .await;
        let token = app.key(&editor).await;
        let r = send(&app, &a.target, &token, &[&p["audit:read"]]).await;
        assert_detail(&r, StatusCode::FORBIDDEN);
        assert!(
            r.body["detail"].as_str().unwrap().contains("escalation"),
            "{}",
            r.body
        );
        // The org admin lacks `organizations:write`.
        let r = send(
            &app,
            &a.target,
            &a.org_admin.1,
            &[&p["organizations:write"]],
        )
        .await;
        assert_detail(&r, StatusCode::FORBIDDEN);
        assert!(direct(&app, &a.target).await.is_empty());
        // What the editor holds, it may hand out.
        let r = send(&app, &a.target, &token, &[&p["users:read"]]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn changing_ones_own_permissions_is_403() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let p = permission_ids(&app).await;
        let r = send(&app, &a.org_admin.0, &a.org_admin.1, &[&p["users:read"]]).await;
        assert_detail(&r, StatusCode::FORBIDDEN);
        let r = send(&app, &a.org_admin.0, &a.org_admin.1, &[]).await;
        assert_detail(&r, StatusCode::FORBIDDEN);
        assert!(direct(&app, &a.org_admin.0).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn another_tenants_user_is_404() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let p = permission_ids(&app).await;
        let r = send(&app, &a.target, &a.other_tenant.1, &[&p["users:read"]]).await;
        assert_detail(&r, StatusCode::NOT_FOUND);
        let r = send(&app, &a.other_tenant.0, &a.org_admin.1, &[&p["users:read"]]).await;
        assert_detail(&r, StatusCode::NOT_FOUND);
        let r = send(
            &app,
            "7b7b7b7b-0000-4000-8000-000000000000",
            &a.org_admin.1,
            &[&p["users:read"]],
        )
        .await;
        assert_detail(&r, StatusCode::NOT_FOUND);
        // A permission of another organization is unknown here.
        let r = app
            .post(
                &format!("/v1/organizations/{}/permissions", a.org_b),
                &app.owner,
                json!({"code": "b:secret"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let foreign = r.str("id");
        let r = send(&app, &a.target, &a.org_admin.1, &[&foreign]).await;
        assert_field_error(&r, "permission_uuids");
        assert!(direct(&app, &a.target).await.is_empty());
        assert!(direct(&app, &a.other_tenant.0).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_invalid_last_entry_leaves_the_earlier_ones_unapplied() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let p = permission_ids(&app).await;
        let audit = app.audit_count().await;
        let unknown = "7b7b7b7b-0000-4000-8000-000000000001";
        let r = send(
            &app,
            &a.target,
            &a.org_admin.1,
            &[&p["users:read"], &p["audit:read"], unknown],
        )
        .await;
        assert_field_error(&r, "permission_uuids");
        assert!(
            r.body["permission_uuids"][0]
                .as_str()
                .unwrap()
                .contains("permission_uuids[2]"),
            "{}",
            r.body
        );
        let r = send(
            &app,
            &a.target,
            &a.org_admin.1,
            &[
                &p["users:read"],
                &p["audit:read"],
                &p["organizations:write"],
            ],
        )
        .await;
        assert_detail(&r, StatusCode::FORBIDDEN);
        let r = send(
            &app,
            &a.target,
            &a.org_admin.1,
            &[&p["users:read"], &p["audit:read"], "not-a-uuid"],
        )
        .await;
        assert_field_error(&r, "permission_uuids");
        assert!(direct(&app, &a.target).await.is_empty());
        assert_eq!(app.audit_count().await, audit);
    })
    .await;
}

#[tokio::test]
async fn a_write_is_visible_to_checks_at_once_and_matches_the_schema() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let p = permission_ids(&app).await;
        assert!(!app.check(&a.target, "audit:read", &a.acc_a2).await);
        let r = send(
            &app,
            &a.target,
            &a.org_admin.1,
            &[&p["audit:read"], &p["users:read"]],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("crux", FRAGMENT_PATH, "patch", 200, &r.body);
        let rev = r.revision().expect("Roster-Revision");
        let mut want = vec![p["audit:read"].clone(), p["users:read"].clone()];
        want.sort();
        assert_eq!(
            r.body,
            json!({"user_uuid": a.target, "permission_uuids": want})
        );
        assert!(app.check(&a.target, "audit:read", &a.acc_a2).await);
        assert!(app.check(&a.target, "users:read", &a.acc_a1).await);
        assert!(!app.check(&a.target, "users:write", &a.acc_a1).await);
        let scopes: Vec<_> = direct(&app, &a.target)
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(scopes, vec!["organization", "organization"]);
        // Re-adding is a no-op: same body, same revision, no audit event; and
        // the URL works without the trailing slash too.
        let audit = app.audit_count().await;
        let body = json!({ "permission_uuids": [p["users:read"]] })
            .to_string()
            .into_bytes();
        let bare = format!("/compat/crux/organizations/users/permissions/{}", a.target);
        let r = send_raw(
            &app,
            &bare,
            Some(&format!("Token {}", a.org_admin.1)),
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("crux", FRAGMENT_PATH, "patch", 200, &r.body);
        assert_eq!(r.body["permission_uuids"].as_array().unwrap().len(), 2);
        assert_eq!(r.revision(), Some(rev));
        assert_eq!(app.audit_count().await, audit);
        schema::assert_invalid(
            "crux",
            FRAGMENT_PATH,
            "patch",
            200,
            &json!({"user_uuid": a.target}),
        );
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_a_4xx_in_drfs_shape() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let u = url(&a.target);
        let token = format!("Token {}", a.org_admin.1);
        let auth = Some(token.as_str());
        let json = Some("application/json");
        for body in [&b"{not json"[..], b""] {
            let r = send_raw(&app, &u, auth, json, body.to_vec()).await;
            assert_detail(&r, StatusCode::BAD_REQUEST);
            assert!(
                r.body["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("JSON parse error"),
                "{}",
                r.body
            );
        }
        let r = send_raw(&app, &u, auth, json, b"[]".to_vec()).await;
        assert_field_error(&r, "non_field_errors");
        let r = send_raw(&app, &u, auth, json, b"{}".to_vec()).await;
        assert_field_error(&r, "permission_uuids");
        assert_eq!(r.body["permission_uuids"][0], "This field is required.");
        for body in [
            &br#"{"permission_uuids": "x"}"#[..],
            br#"{"permission_uuids": [1]}"#,
            br#"{"permission_uuids": null}"#,
        ] {
            let r = send_raw(&app, &u, auth, json, body.to_vec()).await;
            assert_field_error(&r, "permission_uuids");
        }
        let r = send_raw(
            &app,
            &u,
            auth,
            json,
            br#"{"permission_uuids": [], "extra": true}"#.to_vec(),
        )
        .await;
        assert_field_error(&r, "extra");
        let many: Vec<String> = (0..1001)
            .map(|i| format!("7b7b7b7b-0000-4000-8000-{i:012}"))
            .collect();
        let r = send_raw(
            &app,
            &u,
            auth,
            json,
            json!({"permission_uuids": many}).to_string().into_bytes(),
        )
        .await;
        assert_field_error(&r, "permission_uuids");
        let r = send_raw(
            &app,
            &u,
            auth,
            Some("text/plain"),
            br#"{"permission_uuids": []}"#.to_vec(),
        )
        .await;
        assert_detail(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let r = send_raw(&app, &u, auth, json, vec![b' '; 2 * 1024 * 1024]).await;
        assert_detail(&r, StatusCode::PAYLOAD_TOO_LARGE);
        let r = send_raw(
            &app,
            "/compat/crux/organizations/users/permissions/not-a-uuid/",
            auth,
            json,
            br#"{"permission_uuids": []}"#.to_vec(),
        )
        .await;
        assert_detail(&r, StatusCode::NOT_FOUND);
        let r = app
            .call_with(
                Method::GET,
                &u,
                None,
                None,
                &[("authorization", token.as_str())],
            )
            .await;
        assert_detail(&r, StatusCode::METHOD_NOT_ALLOWED);
        let r = app
            .call(Method::GET, "/compat/crux/nothing", None, None)
            .await;
        assert_detail(&r, StatusCode::NOT_FOUND);
        assert!(direct(&app, &a.target).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_seeds_curl_example_answers_200_on_demo_data() {
    each_backend(|app| async move {
        roster_server::demo::load(&app.state).await.expect("demo");
        // Exactly the document's curl request, host aside.
        let body = "{\n  \"permission_uuids\": [\n    \"2a0295b6-dd74-4239-9988-24fcdb1adcea\",\n    \"05a46c58-9d13-4912-9167-7effc2cc7482\"\n  ]\n}";
        let req = Request::builder()
            .method("PATCH")
            .uri("/compat/crux/organizations/users/permissions/5de38a8e-800e-4cba-84c5-ee6c27f304d8/")
            .header("Authorization", "Token 47d4yfbwymedhiudj384702984nakju4hajh395d")
            .header("Content-Type", "application/json; charset=utf-8")
            .body(Body::from(body))
            .unwrap();
        let r = app.raw(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        schema::assert_valid("crux", FRAGMENT_PATH, "patch", 200, &r.body);
        assert_eq!(r.body["user_uuid"], "5de38a8e-800e-4cba-84c5-ee6c27f304d8");
        let ids = r.body["permission_uuids"].as_array().unwrap();
        for id in ["2a0295b6-dd74-4239-9988-24fcdb1adcea", "05a46c58-9d13-4912-9167-7effc2cc7482"] {
            assert!(ids.iter().any(|v| v == id), "{}", r.body);
        }
        // The user may now do what the permissions allow, in every account of the organization.
        let r = app.post("/v1/check", &app.owner, json!({"user_id": "5de38a8e-800e-4cba-84c5-ee6c27f304d8", "permission": "reports:export", "account_id": roster_server::demo::VENDOR_ACCOUNT.to_string()})).await;
        assert_eq!(r.body["allowed"], true, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn a_scoped_token_acts_only_within_its_scopes() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let p = permission_ids(&app).await;
        let reads = [
            "organizations:read",
            "accounts:read",
            "users:read",
            "roles:read",
            "grants:read",
            "audit:read",
        ];
        let k = app.scoped_key(&a.org_admin.0, &reads).await;
        let r = send(
            &app,
            &a.target,
            k["key"].as_str().unwrap(),
            &[&p["users:read"]],
        )
        .await;
        assert_detail(&r, StatusCode::FORBIDDEN);
        assert!(direct(&app, &a.target).await.is_empty());
        let editing: Vec<&str> = reads
            .iter()
            .copied()
            .chain(["grants:write", "users:write", "edit_org_users"])
            .collect();
        let k = app.scoped_key(&a.org_admin.0, &editing).await;
        let r = send(
            &app,
            &a.target,
            k["key"].as_str().unwrap(),
            &[&p["users:read"]],
        )
        .await;
        assert!(r.status.is_success(), "{}: {}", r.status, r.body);
        assert_eq!(direct(&app, &a.target).await.len(), 1);
    })
    .await;
}
