//! Lexful's `PATCH /compat/lexful/v1/users/{id}` against SPEC §2 and the
//! seed's documented schema, per backend.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use crate::support::common;
use crate::support::openapi30;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{each_backend, Resp, TestApp};
use serde_json::{json, Value};

const VENDOR: &str = "lexful";
const FRAGMENT_PATH: &str = "/v1/users/{id}";

fn url(user: &str) -> String {
    format!("/compat/lexful/v1/users/{user}")
}

async fn patch(app: &TestApp, token: &str, account: &str, user: &str, body: Value) -> Resp {
    app.call_with(
        Method::PATCH,
        &url(user),
        Some(token),
        Some(body),
        &[("x-account-id", account)],
    )
    .await
}

async fn patch_raw(app: &TestApp, headers: &[(&str, &str)], path: &str, body: Vec<u8>) -> Resp {
    let mut b = Request::builder().method(Method::PATCH).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    app.raw(b.body(Body::from(body)).unwrap()).await
}

/// Asserts a 200 whose body is a `CreateUserResponse`.
fn assert_user(r: &Resp) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let schema = openapi30::response_schema(VENDOR, FRAGMENT_PATH, "patch", 200);
    openapi30::assert_valid("CreateUserResponse", &schema, &r.body);
}

/// Asserts Lexful's `ErrorResponse` with `status`; its message names `needle`.
fn assert_error(r: &Resp, status: StatusCode, needle: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    let schema = openapi30::named_schema(VENDOR, "ErrorResponse");
    openapi30::assert_valid("ErrorResponse", &schema, &r.body);
    let obj = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {}", r.body));
    for k in [
        "status",
        "message",
        "error_id",
        "error_code",
        "developer_message",
    ] {
        assert!(obj.contains_key(k), "`{k}` missing: {}", r.body);
    }
    assert_eq!(obj.len(), 5, "{}", r.body);
    assert_eq!(r.body["status"], status.as_u16(), "{}", r.body);
    assert_eq!(
        r.body["error_id"].as_str(),
        r.headers.get("x-request-id").and_then(|v| v.to_str().ok())
    );
    if let Some(n) = needle {
        assert!(
            r.body["message"].as_str().unwrap().contains(n),
            "message should name `{n}`: {}",
            r.body
        );
    }
}

/// The role grants of `user`, as sorted `(role, scope type, scope id)`.
async fn grants(app: &TestApp, user: &str) -> Vec<(String, String, String)> {
    let r = app
        .get(&format!("/v1/users/{user}/grants"), &app.owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut out: Vec<_> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["role_id"].as_str().unwrap_or("-").to_owned(),
                g["scope"]["type"].as_str().unwrap().to_owned(),
                g["scope"]["id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn g(role: &str, kind: &str, id: &str) -> (String, String, String) {
    (role.to_owned(), kind.to_owned(), id.to_owned())
}

fn sorted(v: &[&str]) -> Value {
    let mut v: Vec<&str> = v.to_vec();
    v.sort();
    json!(v)
}

async fn native_user(app: &TestApp, user: &str) -> Value {
    let r = app.get(&format!("/v1/users/{user}"), &app.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[test]
fn validator_bites() {
    let schema = openapi30::response_schema(VENDOR, FRAGMENT_PATH, "patch", 200);
    let ok = json!({"id": "5de38a8e-800e-4cba-84c5-ee6c27f304d8", "account_id": "5de38a8e-800e-4cba-84c5-ee6c27f304d8",
                    "email": "a@b.co", "role": "viewer", "account_scopes": ["*"], "organization_scopes": [], "first_name": null});
    openapi30::assert_valid("minimal", &schema, &ok);
    let mut bad = ok.clone();
    bad["role"] = json!("owner");
    openapi30::assert_invalid("role enum", &schema, &bad);
    let mut bad = ok.clone();
    bad["account_scopes"] = json!(["nope"]);
    openapi30::assert_invalid("scope entry", &schema, &bad);
    let mut bad = ok;
    bad.as_object_mut().unwrap().remove("organization_scopes");
    openapi30::assert_invalid("required", &schema, &bad);
}

#[tokio::test]
async fn admin_sets_profile_role_and_scopes() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let r = patch(
            &app,
            &a.org_admin.1,
            &a.acc_a1,
            &a.target,
            json!({
                "email": "renamed@a.example", "first_name": "Rita", "last_name": "Renamed",
                "role": "support", "account_scopes": [a.acc_a1, a.acc_a2],
            }),
        )
        .await;
        assert_user(&r);
        let b = &r.body;
        assert_eq!(b["id"], a.target);
        assert_eq!(b["account_id"], a.acc_a1);
        assert_eq!(b["email"], "renamed@a.example");
        assert_eq!(b["first_name"], "Rita");
        assert_eq!(b["role"], "support");
        assert_eq!(b["account_scopes"], sorted(&[&a.acc_a1, &a.acc_a2]));
        assert_eq!(b["organization_scopes"], json!([]));
        assert_eq!(b["updated_by"], a.org_admin.0);
        assert_eq!(b["created_by"], app.owner_id);
        assert_eq!(b["deleted_at"], Value::Null);
        let mut want = vec![
            g("support", "account", &a.acc_a1),
            g("support", "account", &a.acc_a2),
        ];
        want.sort();
        assert_eq!(grants(&app, &a.target).await, want);
        let u = native_user(&app, &a.target).await;
        assert_eq!(
            (u["email"].as_str(), u["last_name"].as_str()),
            (Some("renamed@a.example"), Some("Renamed"))
        );

        // Wildcard accounts and the organization itself.
        let r = patch(
            &app,
            &a.org_admin.1,
            &a.acc_a2,
            &a.target,
            json!({
                "role": "viewer", "account_scopes": ["*"], "organization_scopes": [a.org_a],
            }),
        )
        .await;
        assert_user(&r);
        assert_eq!(r.body["account_id"], a.acc_a2);
        assert_eq!(r.body["account_scopes"], json!(["*"]));
        assert_eq!(r.body["organization_scopes"], json!([a.org_a]));
        let mut want = vec![
            g("viewer", "accounts", &a.org_a),
            g("viewer", "organization", &a.org_a),
        ];
        want.sort();
        assert_eq!(grants(&app, &a.target).await, want);

        // `"*"` in organization_scopes is `global`: only a global operator
        // (the bootstrap owner) may hand it out.
        let r = patch(
            &app,
            &app.owner,
            &a.acc_a1,
            &a.target,
            json!({"organization_scopes": ["*"], "account_scopes": []}),
        )
        .await;
        assert_user(&r);
        assert_eq!(r.body["organization_scopes"], json!(["*"]));
        assert_eq!(
            grants(&app, &a.target).await,
            vec![g("viewer", "global", "")]
        );
    })
    .await;
}

#[tokio::test]
async fn role_only_keeps_scopes_and_scopes_only_keep_role() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let tok = &a.org_admin.1;
        let r = patch(
            &app,
            tok,
            &a.acc_a1,
            &a.target,
            json!({"role": "support", "account_scopes": [a.acc_a1]}),
        )
        .await;
        assert_user(&r);
        let r = patch(&app, tok, &a.acc_a1, &a.target, json!({"role": "viewer"})).await;
        assert_user(&r);
        assert_eq!(
            (r.body["role"].as_str(), &r.body["account_scopes"]),
            (Some("viewer"), &json!([a.acc_a1]))
        );
        let r = patch(
            &app,
            tok,
            &a.acc_a1,
            &a.target,
            json!({"account_scopes": [a.acc_a2]}),
        )
        .await;
        assert_user(&r);
        assert_eq!(
            (r.body["role"].as_str(), &r.body["account_scopes"]),
            (Some("viewer"), &json!([a.acc_a2]))
        );
        // Adding organization scopes keeps the account scopes.
        let r = patch(
            &app,
            tok,
            &a.acc_a1,
            &a.target,
            json!({"organization_scopes": [a.org_a]}),
        )
        .await;
        assert_user(&r);
        assert_eq!(r.body["account_scopes"], json!([a.acc_a2]));
        assert_eq!(r.body["organization_scopes"], json!([a.org_a]));
        // Empty lists revoke every grant in the organization.
        let r = patch(
            &app,
            tok,
            &a.acc_a1,
            &a.target,
            json!({"account_scopes": [], "organization_scopes": []}),
        )
        .await;
        assert_user(&r);
        assert!(grants(&app, &a.target).await.is_empty());
        // Without a role, scopes alone say nothing: 400 naming `role`; a
        // role alone on a user without scopes likewise.
        let before = app.audit_count().await;
        let r = patch(
            &app,
            tok,
            &a.acc_a1,
            &a.target,
            json!({"account_scopes": [a.acc_a1]}),
        )
        .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("role"));
        let r = patch(&app, tok, &a.acc_a1, &a.target, json!({"role": "viewer"})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("account_scopes"));
        assert_eq!(app.audit_count().await, before);
        // A user holding a non-Lexful role reads as the Lexful role it contains.
        app.grant(
            &a.target,
            "member",
            json!({"type": "account", "id": a.acc_a1}),
        )
        .await;
        let r = patch(&app, tok, &a.acc_a1, &a.target, json!({})).await;
        assert_user(&r);
        assert_eq!(
            (r.body["role"].as_str(), &r.body["account_scopes"]),
            (Some("viewer"), &json!([a.acc_a1]))
        );
        // ... and keeps its Roster role when only the scopes change.
        let r = patch(
            &app,
            tok,
            &a.acc_a1,
            &a.target,
            json!({"account_scopes": [a.acc_a2]}),
        )
        .await;
        assert_user(&r);
        assert_eq!(
            grants(&app, &a.target).await,
            vec![g("member", "account", &a.acc_a2)]
        );
    })
    .await;
}

#[tokio::test]
async fn names_are_nullable_and_fields_validated() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let tok = &a.org_admin.1;
        let r = patch(&app, tok, &a.acc_a1, &a.target, json!({"first_name": null})).await;
        assert_user(&r);
        assert_eq!(r.body["first_name"], Value::Null);
        assert_eq!(r.body["last_name"], "User");
        assert_eq!(
            native_user(&app, &a.target).await["first_name"],
            Value::Null
        );
        let before = app.audit_count().await;
        let long = format!("{}@example.com", "a".repeat(250));
        let cases = [
            (json!({"first_name": ""}), "first_name"),
            (json!({"last_name": "x".repeat(101)}), "last_name"),
            (json!({"email": "not-an-email"}), "email"),
            (json!({"email": long}), "email"),
            (json!({"email": null}), "email"),
            (json!({"role": "owner"}), "role"),
            (json!({"role": null}), "role"),
            (json!({"role": 5}), "role"),
            (json!({"account_scopes": "*"}), "account_scopes"),
            (
                json!({"account_scopes": ["*", "nope"]}),
                "account_scopes[1]",
            ),
            (json!({"organization_scopes": [7]}), "organization_scopes"),
            (json!({"nickname": "x"}), "nickname"),
        ];
        for (body, field) in cases {
            let r = patch(&app, tok, &a.acc_a1, &a.target, body).await;
            assert_error(&r, StatusCode::BAD_REQUEST, Some(field));
        }
        let many: Vec<String> = (0..257).map(|_| "*".to_owned()).collect();
        let r = patch(
            &app,
            tok,
            &a.acc_a1,
            &a.target,
            json!({"role": "viewer", "account_scopes": many}),
        )
        .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("account_scopes"));
        // Someone else's email.
        let r = patch(
            &app,
            tok,
            &a.acc_a1,
            &a.target,
            json!({"email": "VIEWER@a.example"}),
        )
        .await;
        assert_error(&r, StatusCode::CONFLICT, Some("email"));
        assert_eq!(app.audit_count().await, before);
    })
    .await;
}

#[tokio::test]
async fn authentication_and_account_header() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let path = url(&a.target);
        let body = br#"{"first_name":"Nope"}"#.to_vec();
        let ct = ("content-type", "application/json");
        let bearer = format!("Bearer {}", a.org_admin.1);
        let auth = ("authorization", bearer.as_str());
        let acc = ("x-account-id", a.acc_a1.as_str());
        let cases: Vec<(Vec<(&str, &str)>, StatusCode)> = vec![
            (vec![ct, acc], StatusCode::UNAUTHORIZED),
            (
                vec![ct, acc, ("authorization", "Bearer nope")],
                StatusCode::UNAUTHORIZED,
            ),
            (
                vec![ct, acc, ("authorization", "Basic Zm9vOmJhcg==")],
                StatusCode::UNAUTHORIZED,
            ),
            (vec![ct, auth], StatusCode::UNAUTHORIZED),
            (
                vec![ct, auth, ("x-account-id", "ACC-1")],
                StatusCode::BAD_REQUEST,
            ),
            (
                vec![
                    ct,
                    auth,
                    ("x-account-id", "00000000-0000-4000-8000-000000000000"),
                ],
                StatusCode::NOT_FOUND,
            ),
            (
                vec![ct, auth, ("x-account-id", a.acc_b1.as_str())],
                StatusCode::NOT_FOUND,
            ),
        ];
        for (headers, status) in cases {
            let r = patch_raw(&app, &headers, &path, body.clone()).await;
            assert_error(&r, status, None);
        }
        assert_eq!(native_user(&app, &a.target).await["first_name"], "Test");
    })
    .await;
}

#[tokio::test]
async fn callers_without_permission_are_403() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let before = app.audit_count().await;
        for body in [
            json!({"first_name": "Nope"}),
            json!({"role": "viewer", "account_scopes": [a.acc_a1]}),
            json!({}),
        ] {
            let r = patch(&app, &a.nobody.1, &a.acc_a1, &a.target, body.clone()).await;
            assert_error(&r, StatusCode::FORBIDDEN, None);
        }
        // A viewer may read the user but change nothing.
        for body in [
            json!({"first_name": "Nope"}),
            json!({"role": "viewer", "account_scopes": [a.acc_a1]}),
        ] {
            let r = patch(&app, &a.viewer.1, &a.acc_a1, &a.target, body).await;
            assert_error(&r, StatusCode::FORBIDDEN, None);
        }
        assert_eq!(app.audit_count().await, before);
    })
    .await;
}

#[tokio::test]
async fn nobody_grants_more_than_they_hold() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let before = app.audit_count().await;
        // `system_admin` includes `organizations:write`, which `admin` lacks.
        let r = patch(
            &app,
            &a.org_admin.1,
            &a.acc_a1,
            &a.target,
            json!({"role": "system_admin", "organization_scopes": [a.org_a]}),
        )
        .await;
        assert_error(&r, StatusCode::FORBIDDEN, None);
        // `global` needs a global grant.
        let r = patch(
            &app,
            &a.org_admin.1,
            &a.acc_a1,
            &a.target,
            json!({"role": "viewer", "organization_scopes": ["*"]}),
        )
        .await;
        assert_error(&r, StatusCode::FORBIDDEN, None);
        // An account admin may hand out at its account, not beyond.
        let r = patch(
            &app,
            &a.account_admin.1,
            &a.acc_a1,
            &a.target,
            json!({"role": "support", "account_scopes": [a.acc_a2]}),
        )
        .await;
        assert_error(&r, StatusCode::FORBIDDEN, None);
        let r = patch(
            &app,
            &a.account_admin.1,
            &a.acc_a1,
            &a.target,
            json!({"role": "support", "account_scopes": ["*"]}),
        )
        .await;
        assert_error(&r, StatusCode::FORBIDDEN, None);
        assert_eq!(app.audit_count().await, before);
        let r = patch(
            &app,
            &a.account_admin.1,
            &a.acc_a1,
            &a.target,
            json!({"role": "support", "account_scopes": [a.acc_a1]}),
        )
        .await;
        assert_user(&r);
        assert_eq!(
            grants(&app, &a.target).await,
            vec![g("support", "account", &a.acc_a1)]
        );
    })
    .await;
}

#[tokio::test]
async fn own_role_and_scopes_are_refused_own_profile_allowed() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let (me, tok) = (&a.org_admin.0, &a.org_admin.1);
        let before = app.audit_count().await;
        for body in [
            json!({"role": "viewer"}),
            json!({"account_scopes": [a.acc_a1]}),
            json!({"organization_scopes": []}),
            json!({"first_name": "Me", "role": "admin", "organization_scopes": [a.org_a]}),
        ] {
            let r = patch(&app, tok, &a.acc_a1, me, body).await;
            assert_error(&r, StatusCode::FORBIDDEN, None);
        }
        assert_eq!(app.audit_count().await, before);
        assert_eq!(native_user(&app, me).await["first_name"], "Test");
        let r = patch(&app, tok, &a.acc_a1, me, json!({"first_name": "Me"})).await;
        assert_user(&r);
        assert_eq!(
            (r.body["role"].as_str(), &r.body["organization_scopes"]),
            (Some("admin"), &json!([a.org_a]))
        );
        // A user without any administration right may edit its own names.
        let r = patch(
            &app,
            &a.nobody.1,
            &a.acc_a1,
            &a.nobody.0,
            json!({"last_name": "Body"}),
        )
        .await;
        assert_user(&r);
        assert_eq!(r.body["role"], "organization_viewer");
        assert_eq!(r.body["account_scopes"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn another_tenant_is_404() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let before = app.audit_count().await;
        // B's admin, acting in B, addressing A's user.
        let r = patch(
            &app,
            &a.other_tenant.1,
            &a.acc_b1,
            &a.target,
            json!({"first_name": "Nope"}),
        )
        .await;
        assert_error(&r, StatusCode::NOT_FOUND, None);
        // B's admin naming A's account.
        let r = patch(
            &app,
            &a.other_tenant.1,
            &a.acc_a1,
            &a.target,
            json!({"first_name": "Nope"}),
        )
        .await;
        assert_error(&r, StatusCode::NOT_FOUND, None);
        // A's admin addressing B's user, or scoping to B's account or organization.
        let r = patch(
            &app,
            &a.org_admin.1,
            &a.acc_a1,
            &a.other_tenant.0,
            json!({"first_name": "Nope"}),
        )
        .await;
        assert_error(&r, StatusCode::NOT_FOUND, None);
        let r = patch(
            &app,
            &a.org_admin.1,
            &a.acc_a1,
            &a.target,
            json!({"role": "viewer", "account_scopes": [a.acc_b1]}),
        )
        .await;
        assert_error(&r, StatusCode::NOT_FOUND, None);
        let r = patch(
            &app,
            &a.org_admin.1,
            &a.acc_a1,
            &a.target,
            json!({"role": "viewer", "organization_scopes": [a.org_b]}),
        )
        .await;
        assert_error(&r, StatusCode::NOT_FOUND, None);
        let r = patch(
            &app,
            &a.org_admin.1,
            &a.acc_a1,
            "00000000-0000-4000-8000-000000000000",
            json!({}),
        )
        .await;
        assert_error(&r, StatusCode::NOT_FOUND, None);
        // The global owner acting in B does not address A's users either.
        let r = patch(
            &app,
            &app.owner,
            &a.acc_b1,
            &a.target,
            json!({"first_name": "Nope"}),
        )
        .await;
        assert_error(&r, StatusCode::NOT_FOUND, None);
        assert_eq!(app.audit_count().await, before);
        assert!(grants(&app, &a.target).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_invalid_last_entry_leaves_everything_unapplied() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let tok = &a.org_admin.1;
        let r = patch(&app, tok, &a.acc_a1, &a.target, json!({"role": "viewer", "account_scopes": [a.acc_a1]})).await;
        assert_user(&r);
        let before = app.audit_count().await;
        let unknown = "00000000-0000-4000-8000-000000000000";
        let cases = [
            (json!({"first_name": "New", "role": "support", "account_scopes": [a.acc_a1, a.acc_a2, "nope"]}), StatusCode::BAD_REQUEST),
            (json!({"first_name": "New", "role": "support", "account_scopes": [a.acc_a1, a.acc_a2, unknown]}), StatusCode::NOT_FOUND),
            (json!({"first_name": "New", "role": "support", "account_scopes": [a.acc_a2], "organization_scopes": [a.org_b]}), StatusCode::NOT_FOUND),
            // Found inside the write, after the profile change was planned.
            (json!({"first_name": "New", "role": "system_admin", "account_scopes": [a.acc_a1]}), StatusCode::FORBIDDEN),
        ];
        for (body, status) in cases {
            let r = patch(&app, tok, &a.acc_a1, &a.target, body).await;
            assert_error(&r, status, None);
        }
        assert_eq!(app.audit_count().await, before);
        assert_eq!(native_user(&app, &a.target).await["first_name"], "Test");
        assert_eq!(grants(&app, &a.target).await, vec![g("viewer", "account", &a.acc_a1)]);
    })
    .await;
}

#[tokio::test]
async fn lockout_is_409() {
    each_backend(|app| async move {
        let a = app.actors().await;
        // The organization admin is A's only holder of `grants:write` on the
        // organization itself; the global owner does not count.
        let r = patch(
            &app,
            &app.owner,
            &a.acc_a1,
            &a.org_admin.0,
            json!({"role": "viewer"}),
        )
        .await;
        assert_error(&r, StatusCode::CONFLICT, None);
        assert_eq!(
            grants(&app, &a.org_admin.0).await,
            vec![g("admin", "organization", &a.org_a)]
        );
    })
    .await;
}

#[tokio::test]
async fn check_answers_at_once_after_a_write() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let tok = &a.org_admin.1;
        assert!(!app.check(&a.target, "users:write", &a.acc_a1).await);
        let r = patch(
            &app,
            tok,
            &a.acc_a1,
            &a.target,
            json!({"role": "support", "account_scopes": [a.acc_a1]}),
        )
        .await;
        assert_user(&r);
        assert!(app.check(&a.target, "users:write", &a.acc_a1).await);
        assert!(!app.check(&a.target, "users:write", &a.acc_a2).await);
        let r = patch(&app, tok, &a.acc_a1, &a.target, json!({"role": "viewer"})).await;
        assert_user(&r);
        assert!(!app.check(&a.target, "users:write", &a.acc_a1).await);
        assert!(app.check(&a.target, "users:read", &a.acc_a1).await);
        let r = patch(
            &app,
            tok,
            &a.acc_a1,
            &a.target,
            json!({"account_scopes": ["*"]}),
        )
        .await;
        assert_user(&r);
        assert!(app.check(&a.target, "users:read", &a.acc_a2).await);
    })
    .await;
}

#[tokio::test]
async fn bad_input_gets_error_responses() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let path = url(&a.target);
        let bearer = format!("Bearer {}", a.org_admin.1);
        let auth = ("authorization", bearer.as_str());
        let acc = ("x-account-id", a.acc_a1.as_str());
        let ct = ("content-type", "application/json");
        for (headers, body, status) in [
            (
                vec![auth, acc, ct],
                b"{\"first_name\": ".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (vec![auth, acc, ct], b"[]".to_vec(), StatusCode::BAD_REQUEST),
            (vec![auth, acc, ct], b"".to_vec(), StatusCode::BAD_REQUEST),
            (
                vec![auth, acc, ("content-type", "text/plain")],
                b"{}".to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                vec![auth, acc],
                b"{}".to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                vec![auth, acc, ct],
                vec![b' '; 2 * 1024 * 1024],
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
        ] {
            let r = patch_raw(&app, &headers, &path, body).await;
            assert_error(&r, status, None);
        }
        let r = patch_raw(
            &app,
            &[auth, acc, ct],
            "/compat/lexful/v1/users/not-a-uuid",
            b"{}".to_vec(),
        )
        .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("id"));
        let r = app
            .call_with(Method::GET, &path, Some(&a.org_admin.1), None, &[acc])
            .await;
        assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, None);
        assert_eq!(r.headers.get("allow").unwrap(), "PATCH");
        let r = app
            .call_with(
                Method::PATCH,
                "/compat/lexful/v2/users",
                Some(&a.org_admin.1),
                Some(json!({})),
                &[acc],
            )
            .await;
        assert_error(&r, StatusCode::NOT_FOUND, None);
    })
    .await;
}

/// SPEC §2.9: a key given twice is a `400` naming it (never "the last one
/// wins"), wherever it is, and nothing is applied.
#[tokio::test]
async fn duplicate_keys_are_400_naming_the_key() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let path = url(&a.target);
        let bearer = format!("Bearer {}", a.org_admin.1);
        let headers = [
            ("authorization", bearer.as_str()),
            ("x-account-id", a.acc_a1.as_str()),
            ("content-type", "application/json"),
        ];
        let before = app.audit_count().await;
        let revision = app.state.engine.revision();
        let scopes = format!(r#"["{}"]"#, a.acc_a1);
        for (body, field) in [
            (
                r#"{"first_name":"A","first_name":"B"}"#.to_owned(),
                "first_name",
            ),
            (
                format!(r#"{{"role":"viewer","account_scopes":{scopes},"role":"admin"}}"#),
                "role",
            ),
            // Nested: Lexful's schema has no nested objects, but a repeated
            // key is named before the value's type is looked at, at any depth.
            (
                r#"{"first_name":"A","account_scopes":[{"id":"x","id":"y"}]}"#.to_owned(),
                "account_scopes[0].id",
            ),
        ] {
            let r = patch_raw(&app, &headers, &path, body.clone().into_bytes()).await;
            assert_error(&r, StatusCode::BAD_REQUEST, Some(&format!("`{field}`")));
            assert_eq!(r.body["error_code"], "invalid_input", "{body}: {}", r.body);
            assert!(
                r.body["message"]
                    .as_str()
                    .unwrap()
                    .contains("duplicate key"),
                "{body}: {}",
                r.body
            );
        }
        assert_eq!(app.state.engine.revision(), revision);
        assert_eq!(app.audit_count().await, before);
        assert_eq!(native_user(&app, &a.target).await["first_name"], "Test");
        assert_eq!(grants(&app, &a.target).await, vec![]);
    })
    .await;
}

#[tokio::test]
async fn a_scoped_token_acts_only_within_its_scopes() {
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
        let body = json!({"first_name": "Scoped"});
        let k = app.scoped_key(&a.org_admin.0, &reads).await;
        let r = patch(
            &app,
            k["key"].as_str().unwrap(),
            &a.acc_a1,
            &a.target,
            body.clone(),
        )
        .await;
        assert_error(&r, StatusCode::FORBIDDEN, None);
        assert_ne!(native_user(&app, &a.target).await["first_name"], "Scoped");
        let writing: Vec<&str> = reads.iter().copied().chain(["users:write"]).collect();
        let k = app.scoped_key(&a.org_admin.0, &writing).await;
        let r = patch(&app, k["key"].as_str().unwrap(), &a.acc_a1, &a.target, body).await;
        assert_user(&r);
        assert_eq!(native_user(&app, &a.target).await["first_name"], "Scoped");
    })
    .await;
}
