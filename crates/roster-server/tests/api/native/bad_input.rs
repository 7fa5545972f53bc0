//! Bad input on the native API (issue 2, "Bad input (each a test)"): each
//! case gets its status and an `application/problem+json` body with every
//! problem member, `errors[0].field` naming the field where there is one,
//! and leaves the database exactly as it was. No input produces a 500: a
//! property test throws random JSON and random bytes at the write endpoints.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::support::common;
use crate::support::native_support;

use axum::http::Method;
use common::{each_backend, Actors, TestApp};
use native_support::{fingerprint, problem_mismatch, send_bytes};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use roster_domain::ops::{self, NewApiKey};
use roster_domain::{Context, DisplayName, UserId};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

/// One bad request and what it must get.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    token: Option<String>,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    status: u16,
    field: Option<&'static str>,
    /// An object the owner GETs before and after.
    watch: Option<String>,
}

impl Case {
    fn new(
        name: &'static str,
        method: Method,
        path: impl Into<String>,
        token: &str,
        status: u16,
        field: Option<&'static str>,
    ) -> Self {
        Self {
            name,
            method,
            path: path.into(),
            token: Some(token.to_owned()),
            headers: Vec::new(),
            body: None,
            status,
            field,
            watch: None,
        }
    }
    /// A JSON body (with `Content-Type: application/json`).
    fn json(mut self, v: Value) -> Self {
        self.body = Some(v.to_string().into_bytes());
        self.headers
            .push(("content-type", "application/json".into()));
        self
    }
    /// Raw bytes declared as JSON.
    fn raw_json(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some(bytes.into());
        self.headers
            .push(("content-type", "application/json".into()));
        self
    }
    fn header(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }
    fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some(bytes.into());
        self
    }
    fn anonymous(mut self) -> Self {
        self.token = None;
        self
    }
    fn watch(mut self, p: impl Into<String>) -> Self {
        self.watch = Some(p.into());
        self
    }
}

async fn run_cases(app: &TestApp, cases: Vec<Case>) {
    let mut failures = Vec::new();
    let total = cases.len();
    for c in cases {
        let before = fingerprint(app, c.watch.as_deref()).await;
        let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = send_bytes(
            app,
            c.method.clone(),
            &c.path,
            c.token.as_deref(),
            &headers,
            c.body.clone().unwrap_or_default(),
        )
        .await;
        if let Some(e) = problem_mismatch(&r, c.status, c.field) {
            failures.push(format!("{}: {e}", c.name));
            continue;
        }
        let after = fingerprint(app, c.watch.as_deref()).await;
        if before != after {
            failures.push(format!(
                "{}: the database changed: {before:?} -> {after:?}",
                c.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "[{}] {} of {total} cases failed:\n{}",
        app.backend(),
        failures.len(),
        failures.join("\n")
    );
}

/// A key of `user` created in the past that expired a minute ago.
async fn expired_key(app: &TestApp, user: &str) -> String {
    let user: UserId = user.parse().expect("uuid");
    let secret = roster_server::auth::new_secret();
    let token = secret.token.clone();
    let past = OffsetDateTime::now_utc() - Duration::hours(1);
    app.state
        .writer
        .write(Context::system(past), move |d| {
            ops::create_api_key(
                d,
                NewApiKey {
                    user_id: user,
                    name: DisplayName::parse("expired")?,
                    expires_at: Some(OffsetDateTime::now_utc() - Duration::minutes(1)),
                    scopes: None,
                    key_id: secret.key_id.clone(),
                    secret: secret.token.clone(),
                },
            )
        })
        .await
        .expect("create expired key");
    token
}

/// Creates and revokes a key of `user`; returns its secret.
async fn revoked_key(app: &TestApp, user: &str) -> String {
    let r = app
        .post(
            "/v1/api-keys",
            &app.owner,
            json!({"user_id": user, "name": "revoked"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = app
        .delete(&format!("/v1/api-keys/{}", r.str("id")), &app.owner)
        .await;
    assert_eq!(d.status, 204, "{}", d.body);
    r.str("key")
}

/// A user that was disabled after getting a key; returns the key.
async fn disabled_users_key(app: &TestApp, a: &Actors) -> String {
    let u = app.user(&a.org_a, "disabled@a.example").await;
    let key = app.key(&u).await;
    let r = app
        .patch(
            &format!("/v1/users/{u}"),
            &app.owner,
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    key
}

#[tokio::test]
async fn malformed_and_invalid_bodies() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let owner = app.owner.clone();
        let org = a.org_a.clone();
        let target = format!("/v1/users/{}", a.target);
        let users_of_a = format!("/v1/users?organization_id={org}&limit=1000");
        let long = |n: usize| "x".repeat(n);
        let cases = vec![
            Case::new("malformed json", Method::POST, "/v1/users", &owner, 400, Some("body"))
                .raw_json(br#"{"organization_id": "#.to_vec())
                .watch(&users_of_a),
            Case::new("trailing garbage", Method::PATCH, &target, &owner, 400, Some("body"))
                .raw_json(br#"{"first_name": "A"} x"#.to_vec())
                .watch(&target),
            Case::new("not an object", Method::PATCH, &target, &owner, 400, Some("body")).json(json!([1, 2])).watch(&target),
            Case::new("empty body", Method::PATCH, &target, &owner, 400, Some("body")).raw_json(Vec::new()).watch(&target),
            Case::new("invalid utf-8", Method::PATCH, &target, &owner, 400, Some("body"))
                .raw_json(b"{\"first_name\": \"\xff\xfe\"}".to_vec())
                .watch(&target),
            Case::new("deeply nested", Method::PATCH, &target, &owner, 400, None)
                .raw_json(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)))
                .watch(&target),
            Case::new("wrong type", Method::POST, "/v1/users", &owner, 400, Some("email"))
                .json(json!({"organization_id": org, "email": 42}))
                .watch(&users_of_a),
            Case::new("wrong nested type", Method::PATCH, &target, &owner, 400, Some("phone.prefix"))
                .json(json!({"phone": {"prefix": 34}}))
                .watch(&target),
            Case::new("wrong type in map", Method::PATCH, &target, &owner, 400, Some("external_ids.crm"))
                .json(json!({"external_ids": {"crm": 7}}))
                .watch(&target),
            // SPEC §2.9: the last one never silently wins, in a struct or a map.
            Case::new("duplicate key", Method::PATCH, &target, &owner, 400, Some("first_name"))
                .raw_json(br#"{"first_name": "A", "first_name": "B"}"#.to_vec())
                .watch(&target),
            Case::new("duplicate key in a map", Method::PATCH, &target, &owner, 400, Some("external_ids.crm"))
                .raw_json(br#"{"external_ids": {"crm": "a", "crm": "b"}}"#.to_vec())
                .watch(&target),
            Case::new("null for a required field", Method::POST, "/v1/users", &owner, 400, Some("email"))
                .json(json!({"organization_id": org, "email": null}))
                .watch(&users_of_a),
            Case::new("missing field", Method::POST, "/v1/users", &owner, 400, Some("email"))
                .json(json!({"organization_id": org}))
                .watch(&users_of_a),
            Case::new("unknown field", Method::PATCH, &target, &owner, 400, Some("nickname"))
                .json(json!({"nickname": "x"}))
                .watch(&target),
            Case::new("unknown nested field", Method::PATCH, &target, &owner, 400, Some("phone.area"))
                .json(json!({"phone": {"area": "x"}}))
                .watch(&target),
            Case::new("unknown field on create", Method::POST, "/v1/users", &owner, 400, Some("role"))
                .json(json!({"organization_id": org, "email": "new@a.example", "role": "admin"}))
                .watch(&users_of_a),
            Case::new("first name too long", Method::PATCH, &target, &owner, 400, Some("first_name"))
                .json(json!({"first_name": long(101)}))
                .watch(&target),
            Case::new("blank last name", Method::PATCH, &target, &owner, 400, Some("last_name"))
                .json(json!({"last_name": "  "}))
                .watch(&target),
            Case::new("email too long", Method::PATCH, &target, &owner, 400, Some("email"))
                .json(json!({"email": format!("{}@example.com", long(250))}))
                .watch(&target),
            Case::new("organization name too long", Method::PATCH, format!("/v1/organizations/{org}"), &owner, 400, Some("name"))
                .json(json!({"name": long(201)}))
                .watch(format!("/v1/organizations/{org}")),
            Case::new("account name too long", Method::POST, format!("/v1/organizations/{org}/accounts"), &owner, 400, Some("name"))
                .json(json!({"name": long(201), "type": "client"}))
                .watch(format!("/v1/organizations/{org}/accounts")),
            Case::new("role id too long", Method::POST, format!("/v1/organizations/{org}/roles"), &owner, 400, Some("id"))
                .json(json!({"id": long(65), "name": "R", "permissions": []}))
                .watch(format!("/v1/organizations/{org}/roles")),
            Case::new("permission code too long", Method::POST, format!("/v1/organizations/{org}/permissions"), &owner, 400, Some("code"))
                .json(json!({"code": format!("a{}", long(100))}))
                .watch("/v1/permissions"),
            Case::new("external id too long", Method::PATCH, &target, &owner, 400, Some("external_ids.crm"))
                .json(json!({"external_ids": {"crm": long(501)}}))
                .watch(&target),
            Case::new("too many external ids", Method::PATCH, &target, &owner, 400, Some("external_ids"))
                .json(json!({"external_ids": (0..51).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}))
                .watch(&target),
            Case::new("group name too long", Method::POST, format!("/v1/accounts/{}/members", a.acc_a2), &owner, 400, Some("groups[0]"))
                .json(json!({"user_id": a.target, "groups": [long(101)]}))
                .watch(format!("/v1/accounts/{}/members", a.acc_a2)),
            Case::new("phone with letters", Method::PATCH, &target, &owner, 400, Some("phone.number"))
                .json(json!({"phone": {"number": "call me"}}))
                .watch(&target),
            Case::new("settings too long", Method::PATCH, &target, &owner, 400, Some("settings.time_zone"))
                .json(json!({"settings": {"time_zone": long(65)}}))
                .watch(&target),
            Case::new("invalid email", Method::POST, "/v1/users", &owner, 400, Some("email"))
                .json(json!({"organization_id": org, "email": "not-an-email"}))
                .watch(&users_of_a),
            Case::new("invalid email on update", Method::PATCH, &target, &owner, 400, Some("email"))
                .json(json!({"email": "a@b"}))
                .watch(&target),
            Case::new("invalid enum", Method::POST, format!("/v1/organizations/{org}/accounts"), &owner, 400, Some("type"))
                .json(json!({"name": "X", "type": "partner"}))
                .watch(format!("/v1/organizations/{org}/accounts")),
            Case::new("invalid status", Method::PATCH, &target, &owner, 400, Some("status"))
                .json(json!({"status": "gone"}))
                .watch(&target),
            Case::new("invalid slug", Method::PATCH, format!("/v1/organizations/{org}"), &owner, 400, Some("slug"))
                .json(json!({"slug": "Not A Slug"}))
                .watch(format!("/v1/organizations/{org}")),
            Case::new("expiry in the past", Method::POST, "/v1/api-keys", &owner, 400, Some("expires_at"))
                .json(json!({"user_id": a.target, "name": "k", "expires_at": "2000-01-01T00:00:00Z"}))
                .watch("/v1/api-keys"),
            Case::new("expiry not a timestamp", Method::POST, "/v1/api-keys", &owner, 400, Some("expires_at"))
                .json(json!({"user_id": a.target, "name": "k", "expires_at": "tomorrow"}))
                .watch("/v1/api-keys"),
        ];
        run_cases(&app, cases).await;
    })
    .await;
}

#[tokio::test]
async fn invalid_ids_and_unknown_references() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let owner = app.owner.clone();
        let org = a.org_a.clone();
        let target = format!("/v1/users/{}", a.target);
        let grants = format!("/v1/users/{}/grants", a.target);
        let acc = format!("/v1/accounts/{}", a.acc_a1);
        let r = app.post(&format!("/v1/organizations/{}/permissions", a.org_b), &owner, json!({"code": "b:secret"})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let b_perm = r.str("id");
        let cases = vec![
            Case::new("invalid uuid in path (get)", Method::GET, "/v1/users/not-a-uuid", &owner, 400, Some("id")),
            Case::new("invalid uuid in path (patch)", Method::PATCH, "/v1/accounts/123", &owner, 400, Some("id"))
                .json(json!({"name": "x"})),
            Case::new("invalid uuid in path (delete)", Method::DELETE, "/v1/organizations/zzz", &owner, 400, Some("id")),
            Case::new("invalid second path id", Method::DELETE, format!("{acc}/members/nope"), &owner, 400, Some("user_id"))
                .watch(format!("{acc}/members")),
            Case::new("invalid grant id", Method::DELETE, format!("{grants}/nope"), &owner, 400, Some("grant_id")).watch(&grants),
            Case::new("invalid role id in path", Method::GET, format!("/v1/organizations/{org}/roles/Not%20A%20Role"), &owner, 400, Some("role_id")),
            Case::new("invalid uuid in body", Method::POST, "/v1/users", &owner, 400, Some("organization_id"))
                .json(json!({"organization_id": "nope", "email": "new@a.example"})),
            Case::new("invalid member user id", Method::POST, format!("{acc}/members"), &owner, 400, Some("user_id"))
                .json(json!({"user_id": "nope"}))
                .watch(format!("{acc}/members")),
            Case::new("invalid api key user id", Method::POST, "/v1/api-keys", &owner, 400, Some("user_id"))
                .json(json!({"user_id": "nope", "name": "k"})),
            Case::new("invalid check user id", Method::POST, "/v1/check", &owner, 400, Some("user_id"))
                .json(json!({"user_id": "nope", "permission": "users:read", "account_id": a.acc_a1})),
            Case::new("invalid check account id", Method::POST, "/v1/check", &owner, 400, Some("account_id"))
                .json(json!({"user_id": a.target, "permission": "users:read", "account_id": "nope"})),
            Case::new("check without a target", Method::POST, "/v1/check", &owner, 400, Some("account_id"))
                .json(json!({"user_id": a.target, "permission": "users:read"})),
            Case::new("invalid batch entry", Method::POST, "/v1/check/batch", &owner, 400, Some("checks[1].user_id"))
                .json(json!({"checks": [
                    {"user_id": a.target, "permission": "users:read", "account_id": a.acc_a1},
                    {"user_id": "nope", "permission": "users:read", "account_id": a.acc_a1},
                ]})),
            Case::new("invalid scope id", Method::POST, &grants, &owner, 400, Some("scope.id"))
                .json(json!({"role_id": "viewer", "scope": {"type": "account", "id": "nope"}}))
                .watch(&grants),
            Case::new("missing scope id", Method::POST, &grants, &owner, 400, Some("scope.id"))
                .json(json!({"role_id": "viewer", "scope": {"type": "organization"}}))
                .watch(&grants),
            Case::new("invalid scope type", Method::POST, &grants, &owner, 400, Some("scope.type"))
                .json(json!({"role_id": "viewer", "scope": {"type": "planet", "id": org}}))
                .watch(&grants),
            Case::new("invalid uuid in query", Method::GET, "/v1/users?organization_id=nope", &owner, 400, Some("organization_id")),
            Case::new("invalid uuid in audit query", Method::GET, "/v1/audit-events?actor_id=nope", &owner, 400, Some("actor_id")),
            Case::new("unknown query parameter", Method::GET, "/v1/users?colour=red", &owner, 400, Some("colour")),
            Case::new("unknown role", Method::POST, &grants, &owner, 400, Some("role_id"))
                .json(json!({"role_id": "no-such-role", "scope": {"type": "organization", "id": org}}))
                .watch(&grants),
            Case::new("another tenant's custom role", Method::POST, &grants, &owner, 400, Some("role_id"))
                .json(json!({"role_id": "clerk-b", "scope": {"type": "organization", "id": org}}))
                .watch(&grants),
            Case::new("unknown permission code", Method::POST, &grants, &owner, 400, Some("permission_id"))
                .json(json!({"permission_id": "nope:nope", "scope": {"type": "organization", "id": org}}))
                .watch(&grants),
            Case::new("unknown permission id", Method::POST, &grants, &owner, 400, Some("permission_id"))
                .json(json!({"permission_id": UserId::new().to_string(), "scope": {"type": "organization", "id": org}}))
                .watch(&grants),
            Case::new("role and permission", Method::POST, &grants, &owner, 400, Some("role_id"))
                .json(json!({"role_id": "viewer", "permission_id": "users:read", "scope": {"type": "organization", "id": org}}))
                .watch(&grants),
            Case::new("unknown permission in a role", Method::POST, format!("/v1/organizations/{org}/roles"), &owner, 400, Some("permissions[1]"))
                .json(json!({"id": "r1", "name": "R", "permissions": ["users:read", "nope:nope"]}))
                .watch(format!("/v1/organizations/{org}/roles")),
            Case::new("unknown permission in a check", Method::POST, "/v1/check", &owner, 400, Some("permission"))
                .json(json!({"user_id": a.target, "permission": "nope:nope", "account_id": a.acc_a1})),
            Case::new("another tenant's permission id in a check", Method::POST, "/v1/check", &owner, 400, Some("permission"))
                .json(json!({"user_id": a.target, "permission": b_perm, "account_id": a.acc_a1})),
            Case::new("member of another organization", Method::POST, format!("/v1/accounts/{}/members", a.acc_b1), &owner, 400, Some("user_id"))
                .json(json!({"user_id": a.target}))
                .watch(format!("/v1/accounts/{}/members", a.acc_b1)),
            Case::new("grant scope in another organization", Method::POST, &grants, &owner, 400, Some("scope.id"))
                .json(json!({"role_id": "viewer", "scope": {"type": "organization", "id": a.org_b}}))
                .watch(&grants),
            Case::new("unknown user", Method::GET, format!("/v1/users/{}", UserId::new()), &owner, 404, None),
            Case::new("unknown account", Method::PATCH, format!("/v1/accounts/{}", UserId::new()), &owner, 404, None)
                .json(json!({"name": "x"})),
            Case::new("unknown route", Method::GET, "/v1/nothing-here", &owner, 404, None),
            Case::new("wrong method", Method::PUT, &target, &owner, 405, None).json(json!({})).watch(&target),
        ];
        // B's custom role `clerk-b` exists only in B.
        let r = app
            .post(&format!("/v1/organizations/{}/roles", a.org_b), &owner, json!({"id": "clerk-b", "name": "C", "permissions": ["users:read"]}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        run_cases(&app, cases).await;
    })
    .await;
}

#[tokio::test]
async fn conflicts_preconditions_and_limits() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let owner = app.owner.clone();
        let org = a.org_a.clone();
        let target = format!("/v1/users/{}", a.target);
        let nobody = format!("/v1/users/{}", a.nobody.0);
        let users_of_a = format!("/v1/users?organization_id={org}&limit=1000");
        let current = app.get(&target, &owner).await;
        let etag = native_support::etag(&current);
        let big = format!(r#"{{"first_name": "{}"}}"#, "x".repeat(1024 * 1024 + 1));
        let checks: Vec<Value> =
            (0..1001).map(|_| json!({"user_id": a.target, "permission": "users:read", "account_id": a.acc_a1})).collect();
        let cases = vec![
            Case::new("duplicate email", Method::POST, "/v1/users", &owner, 409, Some("email"))
                .json(json!({"organization_id": org, "email": "target@a.example"}))
                .watch(&users_of_a),
            Case::new("duplicate email, other case", Method::POST, "/v1/users", &owner, 409, Some("email"))
                .json(json!({"organization_id": org, "email": "TARGET@A.Example"}))
                .watch(&users_of_a),
            // Emails are unique within an organization only (SPEC §1): the
            // same address in another tenant is a new user, see
            // native_rules::emails_are_unique_within_an_organization_only.
            Case::new("duplicate email on update", Method::PATCH, &nobody, &owner, 409, Some("email"))
                .json(json!({"email": "Target@A.example"}))
                .watch(&nobody),
            Case::new("duplicate slug", Method::PATCH, format!("/v1/organizations/{}", a.org_b), &owner, 409, Some("slug"))
                .json(json!({"slug": "tenant-a"}))
                .watch(format!("/v1/organizations/{}", a.org_b)),
            Case::new("duplicate role id", Method::POST, format!("/v1/organizations/{org}/roles"), &owner, 409, Some("id"))
                .json(json!({"id": "viewer", "name": "V", "permissions": []}))
                .watch(format!("/v1/organizations/{org}/roles")),
            Case::new("duplicate membership", Method::POST, format!("/v1/accounts/{}/members", a.acc_a1), &owner, 409, Some("user_id"))
                .json(json!({"user_id": a.target}))
                .watch(format!("/v1/accounts/{}/members", a.acc_a1)),
            Case::new("stale If-Match", Method::PATCH, &target, &owner, 412, Some("If-Match"))
                .json(json!({"first_name": "Stale"}))
                .header("if-match", format!("\"{}\"", etag - 1))
                .watch(&target),
            Case::new("stale If-Match on delete", Method::DELETE, &target, &owner, 412, Some("If-Match"))
                .header("if-match", "\"1\"")
                .watch(&target),
            Case::new("malformed If-Match", Method::PATCH, &target, &owner, 400, Some("If-Match"))
                .json(json!({"first_name": "X"}))
                .header("if-match", "soon")
                .watch(&target),
            Case::new("oversized body", Method::PATCH, &target, &owner, 413, Some("body")).raw_json(big.clone()).watch(&target),
            Case::new("oversized body with its length", Method::PATCH, &target, &owner, 413, Some("body"))
                .raw_json(big.clone())
                .header("content-length", big.len().to_string())
                .watch(&target),
            Case::new("no content type", Method::PATCH, &target, &owner, 415, Some("Content-Type"))
                .body(br#"{"first_name": "X"}"#.to_vec())
                .watch(&target),
            Case::new("wrong content type", Method::PATCH, &target, &owner, 415, Some("Content-Type"))
                .body(br#"{"first_name": "X"}"#.to_vec())
                .header("content-type", "text/plain")
                .watch(&target),
            Case::new("form content type", Method::POST, "/v1/users", &owner, 415, Some("Content-Type"))
                .body(b"email=a%40b.co".to_vec())
                .header("content-type", "application/x-www-form-urlencoded")
                .watch(&users_of_a),
            Case::new("limit over 1000", Method::GET, "/v1/users?limit=1001", &owner, 400, Some("limit")),
            Case::new("limit zero", Method::GET, format!("/v1/organizations/{org}/accounts?limit=0"), &owner, 400, Some("limit")),
            Case::new("limit not a number", Method::GET, "/v1/organizations?limit=lots", &owner, 400, Some("limit")),
            Case::new("limit overflowing", Method::GET, "/v1/audit-events?limit=99999999999999999999", &owner, 400, Some("limit")),
            Case::new("lookup limit over 1000", Method::POST, "/v1/lookup/accounts", &owner, 400, Some("limit"))
                .json(json!({"user_id": a.target, "permission": "users:read", "limit": 5000})),
            Case::new("bad cursor (users)", Method::GET, "/v1/users?cursor=xyz", &owner, 400, Some("cursor")),
            Case::new("bad cursor (accounts)", Method::GET, format!("/v1/organizations/{org}/accounts?cursor=1"), &owner, 400, Some("cursor")),
            Case::new("bad cursor (members)", Method::GET, format!("/v1/accounts/{}/members?cursor=%00", a.acc_a1), &owner, 400, Some("cursor")),
            Case::new("bad cursor (audit)", Method::GET, "/v1/audit-events?cursor=abc", &owner, 400, Some("cursor")),
            Case::new("bad cursor (organizations)", Method::GET, "/v1/organizations?cursor=--", &owner, 400, Some("cursor")),
            Case::new("revision from the future", Method::POST, "/v1/check", &owner, 400, Some("min_revision"))
                .json(json!({"user_id": a.target, "permission": "users:read", "account_id": a.acc_a1, "min_revision": 1_000_000_000u64})),
            Case::new("negative revision", Method::POST, "/v1/check", &owner, 400, Some("min_revision"))
                .json(json!({"user_id": a.target, "permission": "users:read", "account_id": a.acc_a1, "min_revision": -1})),
            Case::new("api key limit over 1000", Method::GET, "/v1/api-keys?limit=1001", &owner, 400, Some("limit")),
            Case::new("grants limit over 1000", Method::GET, format!("/v1/users/{}/grants?limit=5000", a.target), &owner, 400, Some("limit")),
            Case::new("bad cursor (permissions)", Method::GET, "/v1/permissions?cursor=x", &owner, 400, Some("cursor")),
            Case::new("bad cursor (roles)", Method::GET, format!("/v1/organizations/{org}/roles?cursor=viewer"), &owner, 400, Some("cursor")),
            Case::new("batch over 1000", Method::POST, "/v1/check/batch", &owner, 400, Some("checks")).json(json!({"checks": checks})),
            Case::new("too many role permissions", Method::POST, format!("/v1/organizations/{org}/roles"), &owner, 400, Some("permissions"))
                .json(json!({"id": "big", "name": "B", "permissions": vec!["users:read"; 1001]})),
        ];
        run_cases(&app, cases).await;
    })
    .await;
}

#[tokio::test]
async fn authentication_authorization_and_tenancy() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let target = format!("/v1/users/{}", a.target);
        let expired = expired_key(&app, &a.target).await;
        let revoked = revoked_key(&app, &a.target).await;
        let disabled = disabled_users_key(&app, &a).await;
        // Sanity: the same user's fresh key works.
        let fresh = app.key(&a.target).await;
        assert_eq!(app.get(&target, &fresh).await.status, 200);
        let patch = json!({"first_name": "Changed"});
        let cases = vec![
            Case::new(
                "missing key",
                Method::PATCH,
                &target,
                "",
                401,
                Some("Authorization"),
            )
            .anonymous()
            .json(patch.clone())
            .watch(&target),
            Case::new(
                "missing key on read",
                Method::GET,
                &target,
                "",
                401,
                Some("Authorization"),
            )
            .anonymous(),
            Case::new(
                "wrong key",
                Method::PATCH,
                &target,
                "roster_0123456789abcdef_00",
                401,
                Some("Authorization"),
            )
            .json(patch.clone())
            .watch(&target),
            Case::new(
                "garbage key",
                Method::GET,
                &target,
                "definitely-not-a-key",
                401,
                Some("Authorization"),
            ),
            Case::new(
                "wrong scheme",
                Method::GET,
                &target,
                "",
                401,
                Some("Authorization"),
            )
            .anonymous()
            .header("authorization", format!("Basic {}", app.owner)),
            Case::new(
                "empty bearer",
                Method::GET,
                &target,
                "",
                401,
                Some("Authorization"),
            )
            .anonymous()
            .header("authorization", "Bearer "),
            Case::new(
                "overlong key",
                Method::GET,
                &target,
                &"k".repeat(4096),
                401,
                Some("Authorization"),
            ),
            Case::new(
                "revoked key",
                Method::PATCH,
                &target,
                &revoked,
                401,
                Some("Authorization"),
            )
            .json(patch.clone())
            .watch(&target),
            Case::new(
                "expired key",
                Method::PATCH,
                &target,
                &expired,
                401,
                Some("Authorization"),
            )
            .json(patch.clone())
            .watch(&target),
            Case::new(
                "disabled user's key",
                Method::GET,
                &target,
                &disabled,
                401,
                Some("Authorization"),
            ),
            Case::new("forbidden", Method::PATCH, &target, &a.viewer.1, 403, None)
                .json(patch.clone())
                .watch(&target),
            Case::new(
                "forbidden delete",
                Method::DELETE,
                &target,
                &a.viewer.1,
                403,
                None,
            )
            .watch(&target),
            Case::new(
                "forbidden escalation",
                Method::POST,
                format!("{target}/grants"),
                &a.org_admin.1,
                403,
                None,
            )
            .json(json!({"role_id": "owner", "scope": {"type": "organization", "id": a.org_a}}))
            .watch(format!("{target}/grants")),
            Case::new(
                "another tenant's user",
                Method::GET,
                &target,
                &a.other_tenant.1,
                404,
                None,
            ),
            Case::new(
                "another tenant's user (patch)",
                Method::PATCH,
                &target,
                &a.other_tenant.1,
                404,
                None,
            )
            .json(patch.clone())
            .watch(&target),
            Case::new(
                "another tenant's account",
                Method::DELETE,
                format!("/v1/accounts/{}", a.acc_a1),
                &a.other_tenant.1,
                404,
                None,
            )
            .watch(format!("/v1/accounts/{}", a.acc_a1)),
            Case::new(
                "another tenant's user in a body",
                Method::POST,
                format!("/v1/accounts/{}/members", a.acc_b1),
                &a.other_tenant.1,
                404,
                None,
            )
            .json(json!({"user_id": a.target}))
            .watch(format!("/v1/accounts/{}/members", a.acc_b1)),
            Case::new(
                "another tenant's scope",
                Method::POST,
                format!("/v1/users/{}/grants", a.other_tenant.0),
                &a.other_tenant.1,
                404,
                None,
            )
            .json(json!({"role_id": "viewer", "scope": {"type": "account", "id": a.acc_a1}}))
            .watch(format!("/v1/users/{}/grants", a.other_tenant.0)),
            Case::new(
                "another tenant's organization filter",
                Method::GET,
                format!("/v1/audit-events?organization_id={}", a.org_a),
                &a.other_tenant.1,
                404,
                None,
            ),
        ];
        run_cases(&app, cases).await;
    })
    .await;
}

// ----- no input gives a 500 ------------------------------------------------

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "",
            "active",
            "disabled",
            "global",
            "account",
            "organization",
            "viewer",
            "owner",
            "users:read",
            "a@b.co",
            "00000000-0000-0000-0000-000000000000",
            "2000-01-01T00:00:00Z",
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop::sample::select(vec![
            "organization_id",
            "email",
            "first_name",
            "last_name",
            "phone",
            "settings",
            "external_ids",
            "status",
            "role_id",
            "permission_id",
            "scope",
            "type",
            "id",
            "user_id",
            "permission",
            "account_id",
            "name",
            "permissions",
            "prefix",
            "number",
            "time_zone",
            "checks",
            "min_revision",
            "explain",
            "revision",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Throws random JSON values and random bytes at write endpoints; every
/// answer must be < 500, and every error a problem document.
#[test]
fn no_input_gives_a_500() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dbs = rt.block_on(roster_store::testing::test_databases());
    for db in dbs {
        let app = rt.block_on(TestApp::new(db));
        let a = rt.block_on(app.actors());
        let endpoints: Vec<(Method, String)> = vec![
            (Method::POST, "/v1/users".into()),
            (Method::PATCH, format!("/v1/users/{}", a.target)),
            (Method::POST, format!("/v1/users/{}/grants", a.target)),
            (Method::POST, format!("/v1/organizations/{}/roles", a.org_a)),
            (Method::POST, format!("/v1/accounts/{}/members", a.acc_a1)),
            (Method::PATCH, format!("/v1/accounts/{}", a.acc_a2)),
            (Method::POST, "/v1/check".into()),
            (Method::POST, "/v1/check/batch".into()),
            (Method::POST, "/v1/lookup/users".into()),
            (Method::POST, "/v1/api-keys".into()),
        ];
        let tokens = [
            app.owner.clone(),
            a.org_admin.1.clone(),
            a.account_admin.1.clone(),
            a.nobody.1.clone(),
        ];
        let input = prop_oneof![
            3 => arb_json().prop_map(|v| v.to_string().into_bytes()),
            1 => prop::collection::vec(any::<u8>(), 0..256),
        ];
        let mut runner = TestRunner::new(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let result = runner.run(
            &(0..endpoints.len(), 0..tokens.len(), input),
            |(e, t, body)| {
                let (method, path) = &endpoints[e];
                let r = rt.block_on(send_bytes(
                    &app,
                    method.clone(),
                    path,
                    Some(&tokens[t]),
                    &[("content-type", "application/json")],
                    body.clone(),
                ));
                prop_assert!(
                    r.status.as_u16() < 500,
                    "{method} {path} answered {} to {:?}: {}",
                    r.status,
                    String::from_utf8_lossy(&body),
                    r.body
                );
                if r.status.as_u16() >= 400 {
                    let m = problem_mismatch(&r, r.status.as_u16(), None);
                    prop_assert!(m.is_none(), "{method} {path}: {m:?}");
                }
                Ok(())
            },
        );
        if let Err(e) = result {
            panic!("[{}] {e}", app.backend());
        }
        // The server still answers.
        let r = rt.block_on(app.get("/healthz", &app.owner));
        assert_eq!(r.status, 200, "{}", r.body);
    }
}
