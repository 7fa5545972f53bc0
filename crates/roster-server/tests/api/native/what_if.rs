//! What-if (`POST /v1/what-if`) and `?dry_run=true`: answers equal to the
//! real ones, nothing committed (revision, audit trail, change log, key
//! use), checks and impact on the previewed state, the sequence ending at
//! the first failure, every guard inside the sandbox, and bad input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use crate::support::common::{each_backend, Actors, Resp, TestApp};
use crate::support::native_support::assert_problem;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Everything a what-if must leave as it was: the committed revision, the
/// audit trail and the change log.
#[derive(Debug, PartialEq)]
struct Committed {
    revision: u64,
    audit: Vec<(i64, String, String)>,
    changes: usize,
}

async fn committed(app: &TestApp) -> Committed {
    let store = &app.state.store;
    let audit = store
        .audit_events(&roster_store::AuditFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.action, e.target_id))
        .collect();
    let changes = store
        .changes_since(0, 1_000_000)
        .await
        .unwrap()
        .iter()
        .map(|(_, c)| c.len())
        .sum();
    Committed {
        revision: store.current_revision().await.unwrap(),
        audit,
        changes,
    }
}

async fn what_if(app: &TestApp, token: &str, body: Value) -> Resp {
    app.post("/v1/what-if", token, body).await
}

/// A what-if that must answer 200.
async fn what_if_ok(app: &TestApp, token: &str, body: Value) -> Value {
    let r = what_if(app, token, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// `v` with every id the test did not know of and every timestamp
/// replaced by a placeholder: what differs between a preview and the real
/// request.
fn masked(v: &Value, known: &BTreeSet<String>) -> Value {
    match v {
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() && !known.contains(s) => {
            json!("<id>")
        }
        Value::String(s)
            if time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .is_ok() =>
        {
            json!("<time>")
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| masked(x, known)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), masked(x, known)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The key id and secret of a Roster secret (`roster_<key id>_…`).
fn key_pair(secret: &str) -> (String, String) {
    let kid = secret
        .strip_prefix("roster_")
        .and_then(|s| s.split_once('_'))
        .map(|(k, _)| k.to_owned())
        .unwrap();
    (kid, secret.to_owned())
}

/// The membership id of `user` in `account`.
async fn membership(app: &TestApp, account: &str, user: &str) -> String {
    let r = app
        .get(&format!("/v1/accounts/{account}/members"), &app.owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == user)
        .unwrap_or_else(|| panic!("no membership of {user}: {}", r.body))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// One previewed request and how to send it for real.
struct Step {
    method: Method,
    path: String,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    /// The credential headers it takes for real.
    credentials: Vec<(String, String)>,
}

impl Step {
    fn preview(&self) -> Value {
        let mut r = json!({ "method": self.method.as_str(), "path": self.path });
        if let Some(b) = &self.body {
            r["body"] = b.clone();
        }
        if !self.headers.is_empty() {
            r["headers"] = self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        r
    }

    async fn send(&self, app: &TestApp) -> Resp {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .chain(&self.credentials)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        app.call_with(
            self.method.clone(),
            &self.path,
            None,
            self.body.clone(),
            &headers,
        )
        .await
    }
}

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {token}"))]
}

/// Tenant A's cast, with an operations account (so that SoftwareOne's
/// platform operators exist) and two users of A.
struct World {
    a: Actors,
    alice: String,
    bob: String,
    /// Every id the test knows before previewing.
    known: BTreeSet<String>,
}

async fn world(app: &TestApp) -> World {
    let a = app.actors().await;
    let ops = app.account(&a.org_a, "Ops A", "operations").await;
    let alice = app.user(&a.org_a, "alice@a.example").await;
    let bob = app.user(&a.org_a, "bob@a.example").await;
    app.member(&a.acc_a1, &alice).await;
    let mut known: BTreeSet<String> = [
        &a.org_a,
        &a.org_b,
        &a.acc_a1,
        &a.acc_a2,
        &a.acc_b1,
        &a.org_admin.0,
        &a.account_admin.0,
        &a.viewer.0,
        &a.nobody.0,
        &a.other_tenant.0,
        &a.target,
        &ops,
        &alice,
        &bob,
        &app.owner_id,
        &app.org,
        &app.ops_account,
    ]
    .into_iter()
    .cloned()
    .collect();
    known.insert(membership(app, &a.acc_a1, &alice).await);
    let r = app.get("/v1/permissions?limit=1000", &app.owner).await;
    known.extend(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned()),
    );
    World {
        a,
        alice,
        bob,
        known,
    }
}

/// The sequence: a custom role, a grant of it (depending on the role),
/// Yuno's account permissions, Fynn's membership role, SoftwareOne's
/// account user, Lexful's user (with its `X-Account-ID`), and a native
/// profile change; all as tenant A's administrator.
fn sequence(w: &World) -> Vec<Step> {
    let a = &w.a;
    let token = &a.org_admin.1;
    let (kid, secret) = key_pair(token);
    vec![
        Step {
            method: Method::POST,
            path: format!("/v1/organizations/{}/roles", a.org_a),
            body: Some(json!({"id": "auditor", "name": "Auditor", "permissions": ["audit:read"]})),
            headers: vec![],
            credentials: bearer(token),
        },
        Step {
            method: Method::POST,
            path: format!("/v1/users/{}/grants", w.alice),
            body: Some(
                json!({"role_id": "auditor", "scope": {"type": "organization", "id": a.org_a}}),
            ),
            headers: vec![],
            credentials: bearer(token),
        },
        Step {
            method: Method::PATCH,
            path: format!(
                "/compat/yuno/v1/organizations/users/{}/account-permissions",
                w.bob
            ),
            body: Some(
                json!({"account_permissions": [{"account_id": a.acc_a2, "role_id": "viewer"}]}),
            ),
            headers: vec![],
            credentials: vec![
                ("public-api-key".into(), kid),
                ("private-secret-key".into(), secret),
            ],
        },
        Step {
            method: Method::PUT,
            path: format!("/compat/fynn/accounts/{}/role", "{membership}"),
            body: Some(json!({"role": "read-only"})),
            headers: vec![],
            credentials: bearer(token),
        },
        Step {
            method: Method::PUT,
            path: format!(
                "/compat/softwareone/public/v1/accounts/accounts/{}/users/{}",
                a.acc_a1, w.alice
            ),
            body: Some(json!({"firstName": "Alicia"})),
            headers: vec![],
            credentials: bearer(token),
        },
        Step {
            method: Method::PATCH,
            path: format!("/compat/lexful/v1/users/{}", w.bob),
            body: Some(json!({"last_name": "Lex"})),
            headers: vec![("x-account-id".into(), a.acc_a1.clone())],
            credentials: bearer(token),
        },
        Step {
            method: Method::PATCH,
            path: format!("/v1/users/{}", w.alice),
            body: Some(json!({"last_name": "Native"})),
            headers: vec![],
            credentials: bearer(token),
        },
    ]
}

#[tokio::test]
async fn a_what_if_commits_nothing_and_answers_as_the_real_requests_then_do() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let a = &w.a;
        let m = membership(&app, &a.acc_a1, &w.alice).await;
        let mut steps = sequence(&w);
        for s in &mut steps {
            s.path = s.path.replace("{membership}", &m);
        }
        let checks = json!([
            {"user_id": w.alice, "permission": "audit:read", "organization_id": a.org_a, "explain": true},
            {"user_id": w.bob, "permission": "users:read", "account_id": a.acc_a2},
            {"user_id": w.alice, "permission": "users:write", "account_id": a.acc_a1},
        ]);
        let before = committed(&app).await;
        let body = what_if_ok(
            &app,
            &a.org_admin.1,
            json!({"requests": steps.iter().map(Step::preview).collect::<Vec<_>>(), "checks": checks}),
        )
        .await;
        assert_eq!(committed(&app).await, before, "a what-if committed something");
        assert_eq!(app.state.engine.revision(), before.revision);

        // Each request saw the ones before it; revisions continue from the base.
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), steps.len(), "{body:#}");
        assert_eq!(body["base_revision"], before.revision);
        assert_eq!(body["revision"], before.revision + steps.len() as u64);
        // The checks see the previewed state.
        assert_eq!(body["checks"][0]["allowed"], true, "{body:#}");
        assert_eq!(body["checks"][0]["explanation"]["role_id"], "auditor");
        assert_eq!(body["checks"][1]["allowed"], true, "{body:#}");
        assert_eq!(body["checks"][2]["allowed"], false, "{body:#}");

        // Now for real, in the same order: the same answers.
        for (step, preview) in steps.iter().zip(results) {
            let real = step.send(&app).await;
            assert!(real.status.is_success(), "{} {}: {}", step.method, step.path, real.body);
            assert_eq!(preview["status"], real.status.as_u16(), "{}", step.path);
            assert_eq!(
                masked(&preview["body"], &w.known),
                masked(&real.body, &w.known),
                "{} {}",
                step.method,
                step.path
            );
            for h in ["roster-revision", "etag", "content-type"] {
                assert_eq!(
                    preview["headers"][h].as_str(),
                    real.headers.get(h).map(|v| v.to_str().unwrap()),
                    "{h} of {}",
                    step.path
                );
            }
        }
        // And the real checks agree with the previewed ones.
        let r = app
            .post("/v1/check/batch", &a.org_admin.1, json!({"checks": checks}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for i in 0..3 {
            assert_eq!(r.body["results"][i]["allowed"], body["checks"][i]["allowed"]);
        }
    })
    .await;
}

#[tokio::test]
async fn checks_and_impact_see_a_role_edit_on_every_holder() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let a = &w.a;
        let org = json!({"type": "organization", "id": a.org_a});
        let r = app
            .post(
                &format!("/v1/organizations/{}/roles", a.org_a),
                &app.owner,
                json!({"id": "clerk", "name": "Clerk", "permissions": ["users:read"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let holders = [&w.alice, &w.bob, &a.target];
        for u in holders {
            app.grant(u, "clerk", org.clone()).await;
        }
        // A holder that is disabled first holds nothing before or after.
        let before = committed(&app).await;
        let body = what_if_ok(
            &app,
            &a.org_admin.1,
            json!({
                "requests": [{
                    "method": "PATCH",
                    "path": format!("/v1/organizations/{}/roles/clerk", a.org_a),
                    "body": {"permissions": ["accounts:read"]},
                }],
                "checks": [
                    {"user_id": w.alice, "permission": "users:read", "organization_id": a.org_a},
                    {"user_id": w.alice, "permission": "accounts:read", "account_id": a.acc_a1},
                    {"user_id": a.nobody.0, "permission": "accounts:read", "account_id": a.acc_a1},
                ],
            }),
        )
        .await;
        assert_eq!(committed(&app).await, before);
        assert_eq!(body["results"][0]["status"], 200, "{body:#}");
        let allowed: Vec<&Value> = body["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["allowed"])
            .collect();
        assert_eq!(allowed, [&json!(false), &json!(true), &json!(false)]);

        let mut ids: Vec<&String> = holders.to_vec();
        ids.sort();
        let expect = |code: &str, id: &str| -> Vec<Value> {
            ids.iter()
                .map(|u| {
                    json!({"user_id": u, "permission": code, "permission_id": id, "scope": org})
                })
                .collect()
        };
        let perm_id =
            |code: &str| roster_domain::catalogue::builtin_permission_id(code).to_string();
        assert_eq!(
            body["impact"],
            json!({
                "gained": expect("accounts:read", &perm_id("accounts:read")),
                "lost": expect("users:read", &perm_id("users:read")),
                "truncated": false,
            })
        );
    })
    .await;
}

#[tokio::test]
async fn impact_lists_grants_given_and_taken_and_a_disabled_user() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let a = &w.a;
        let acc = json!({"type": "account", "id": a.acc_a2});
        let g = app.grant(&w.bob, "viewer", acc.clone()).await;
        let body = what_if_ok(
            &app,
            &a.org_admin.1,
            json!({"requests": [
                {"method": "POST", "path": format!("/v1/users/{}/grants", w.alice),
                 "body": {"permission_id": "users:write", "scope": acc}},
                {"method": "PATCH", "path": format!("/v1/users/{}", w.bob),
                 "body": {"status": "disabled"}},
            ]}),
        )
        .await;
        assert_eq!(body["results"][1]["status"], 200, "{body:#}");
        let gained = body["impact"]["gained"].as_array().unwrap();
        assert_eq!(gained.len(), 1, "{body:#}");
        assert_eq!(gained[0]["user_id"], w.alice.as_str());
        assert_eq!(gained[0]["permission"], "users:write");
        assert_eq!(gained[0]["scope"], acc);
        // Bob loses every permission of `viewer` at A2, and nothing else.
        let viewer = app
            .get(
                "/v1/organizations/{}/roles/viewer"
                    .replace("{}", &a.org_a)
                    .as_str(),
                &app.owner,
            )
            .await;
        assert_eq!(viewer.status, StatusCode::OK, "{}", viewer.body);
        let mut codes: Vec<String> = viewer.body["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        codes.sort();
        let lost = body["impact"]["lost"].as_array().unwrap();
        assert!(
            lost.iter()
                .all(|l| l["user_id"] == w.bob.as_str() && l["scope"] == acc),
            "{body:#}"
        );
        let mut lost_codes: Vec<String> = lost
            .iter()
            .map(|l| l["permission"].as_str().unwrap().to_owned())
            .collect();
        lost_codes.sort();
        assert_eq!(lost_codes.len(), codes.len(), "{body:#}");
        // The grant still exists for real.
        let r = app
            .get(&format!("/v1/users/{}/grants", w.bob), &app.owner)
            .await;
        assert!(r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == g["id"]));
    })
    .await;
}

#[tokio::test]
async fn a_failing_request_ends_the_sequence_with_its_own_answer() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let a = &w.a;
        let org = json!({"type": "organization", "id": a.org_a});
        let grant = |user: &str, role: &str| {
            json!({"method": "POST", "path": format!("/v1/users/{user}/grants"),
                   "body": {"role_id": role, "scope": org}})
        };
        let before = committed(&app).await;
        for (failing, status) in [
            // Escalation guard: an admin cannot hand out `owner`.
            (grant(&w.bob, "owner"), 403),
            // Self guard.
            (grant(&a.org_admin.0, "viewer"), 403),
            // Tenant isolation: B's user is not found, as anywhere.
            (
                json!({"method": "PATCH", "path": format!("/v1/users/{}", a.other_tenant.0),
                       "body": {"first_name": "X"}}),
                404,
            ),
            // A bad body, named.
            (
                json!({"method": "POST", "path": "/v1/users", "body": {"organization_id": a.org_a}}),
                400,
            ),
            // No such route.
            (json!({"method": "DELETE", "path": "/v1/nothing"}), 404),
        ] {
            let body = what_if_ok(
                &app,
                &a.org_admin.1,
                json!({
                    "requests": [grant(&w.alice, "viewer"), failing, grant(&w.bob, "viewer")],
                    "checks": [
                        {"user_id": w.alice, "permission": "users:read", "organization_id": a.org_a},
                        {"user_id": w.bob, "permission": "users:read", "organization_id": a.org_a},
                    ],
                }),
            )
            .await;
            let results = body["results"].as_array().unwrap();
            assert_eq!(results.len(), 2, "{body:#}");
            assert_eq!(results[0]["status"], 201, "{body:#}");
            assert_eq!(results[1]["status"], status, "{body:#}");
            let problem = &results[1]["body"];
            assert_eq!(problem["status"], status, "{body:#}");
            assert_eq!(
                results[1]["headers"]["content-type"],
                "application/problem+json"
            );
            // Checks and impact on the state reached: the first grant only.
            assert_eq!(body["checks"][0]["allowed"], true);
            assert_eq!(body["checks"][1]["allowed"], false);
            assert_eq!(body["revision"], before.revision + 1);
            let gained = body["impact"]["gained"].as_array().unwrap();
            assert!(!gained.is_empty());
            assert!(gained.iter().all(|g| g["user_id"] == w.alice.as_str()), "{body:#}");
        }
        // The same failures for real: the same status.
        let r = app
            .post(
                &format!("/v1/users/{}/grants", w.bob),
                &a.org_admin.1,
                json!({"role_id": "owner", "scope": org}),
            )
            .await;
        assert_problem(&r, 403, None);
        assert_eq!(committed(&app).await.audit, before.audit);

        // The lockout guard: the operator may not leave A without an
        // administrator, in a what-if either.
        let grants = app
            .get(&format!("/v1/users/{}/grants", a.org_admin.0), &app.owner)
            .await;
        let admin = grants.body["items"][0]["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/users/{}/grants/{admin}", a.org_admin.0);
        let body = what_if_ok(
            &app,
            &app.owner,
            json!({"requests": [{"method": "DELETE", "path": path}]}),
        )
        .await;
        assert_eq!(body["results"][0]["status"], 409, "{body:#}");
        assert_eq!(body["results"][0]["body"]["error_code"], "lockout", "{body:#}");
        assert_eq!(body["revision"], body["base_revision"]);
        assert_problem(&app.delete(&path, &app.owner).await, 409, None);
    })
    .await;
}

#[tokio::test]
async fn a_what_if_needs_authz_check_and_reveals_no_other_tenant() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let a = &w.a;
        let body = json!({"requests": [], "checks": []});
        for token in [&a.viewer.1, &a.nobody.1] {
            assert_problem(&what_if(&app, token, body.clone()).await, 403, None);
        }
        let r = app.call(Method::POST, "/v1/what-if", None, Some(body.clone())).await;
        assert_problem(&r, 401, None);
        // The account administrator holds `authz:check` at its account only.
        assert_problem(&what_if(&app, &a.account_admin.1, body.clone()).await, 403, None);
        // An empty what-if is an empty answer.
        let ok = what_if_ok(&app, &a.org_admin.1, body).await;
        assert_eq!(ok["results"], json!([]));
        assert_eq!(ok["impact"], json!({"gained": [], "lost": [], "truncated": false}));

        // Tenant B's administrator: A's objects are not found inside a
        // what-if either, its checks about them are 404 or hidden.
        let b = &a.other_tenant.1;
        let ok = what_if_ok(
            &app,
            b,
            json!({"requests": [{"method": "POST", "path": format!("/v1/users/{}/grants", w.alice),
                                 "body": {"role_id": "viewer", "scope": {"type": "organization", "id": a.org_b}}}]}),
        )
        .await;
        assert_eq!(ok["results"][0]["status"], 404, "{ok:#}");
        assert_eq!(ok["impact"]["gained"], json!([]));
        let r = what_if(
            &app,
            b,
            json!({"requests": [], "checks": [{"user_id": w.alice, "permission": "users:read", "account_id": a.acc_a1}]}),
        )
        .await;
        assert_problem(&r, 404, None);
        let ok = what_if_ok(
            &app,
            b,
            json!({"requests": [], "checks": [{"user_id": w.alice, "permission": "users:read", "organization_id": a.org_b, "explain": true}]}),
        )
        .await;
        assert_eq!(ok["checks"][0]["explanation"]["reason"], "unknown_user", "{ok:#}");
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let tok = &w.a.org_admin.1;
        let one = |r: Value| json!({"requests": [r]});
        let user_path = format!("/v1/users/{}", w.alice);
        let patch = |path: &str| json!({"method": "PATCH", "path": path, "body": {"first_name": "X"}});
        let many: Vec<Value> = (0..101).map(|_| patch(&user_path)).collect();
        let checks: Vec<Value> = (0..1001)
            .map(|_| json!({"user_id": w.alice, "permission": "users:read", "organization_id": w.a.org_a}))
            .collect();
        for (body, field) in [
            (json!({"requests": many}), "requests"),
            (json!({"requests": [], "checks": checks}), "checks"),
            (json!({}), "requests"),
            (json!({"requests": [], "extra": 1}), "extra"),
            (one(json!({"method": "GET", "path": user_path})), "requests[0].method"),
            (one(json!({"method": "post", "path": user_path})), "requests[0].method"),
            (one(json!({"path": user_path})), "requests[0].method"),
            (one(json!({"method": "PATCH"})), "requests[0].path"),
            (one(patch("https://example.com/v1/users")), "requests[0].path"),
            (one(patch("v1/users")), "requests[0].path"),
            (one(patch("//example.com/v1/users")), "requests[0].path"),
            (one(patch("/v1/a b")), "requests[0].path"),
            (one(json!({"method": "POST", "path": "/v1/what-if", "body": {"requests": []}})), "requests[0].path"),
            (one(json!({"method": "POST", "path": "/v1/oauth/token"})), "requests[0].path"),
            (one(patch(&format!("{user_path}?dry_run=true"))), "requests[0].path"),
            (one(patch(&format!("{user_path}?dry%5Frun=false"))), "requests[0].path"),
            (one(json!({"method": "PATCH", "path": user_path, "headers": {"Host": "x"}})), "requests[0].headers.host"),
            (one(json!({"method": "PATCH", "path": user_path, "headers": {"X-Request-Id": "x"}})), "requests[0].headers.x-request-id"),
            (one(json!({"method": "PATCH", "path": user_path, "headers": {"a b": "x"}})), "requests[0].headers"),
            (one(json!({"method": "PATCH", "path": user_path, "headers": {"if-match": "\n"}})), "requests[0].headers.if-match"),
            (one(json!({"method": "PATCH", "path": user_path, "extra": 1})), "requests[0].extra"),
            (json!({"requests": [patch(&user_path), {"method": "PUT"}]}), "requests[1].path"),
            (json!({"requests": [], "checks": [{"user_id": "x", "permission": "users:read", "organization_id": w.a.org_a}]}), "checks[0].user_id"),
        ] {
            let r = what_if(&app, tok, body.clone()).await;
            assert_problem(&r, 400, Some(field));
        }
        // Inside a what-if, a request presenting its own credential is
        // refused in its surface's shape, and ends the sequence.
        let ok = what_if_ok(
            &app,
            tok,
            json!({"requests": [
                {"method": "PATCH", "path": user_path, "body": {"first_name": "X"},
                 "headers": {"Authorization": format!("Bearer {}", app.owner)}},
                patch(&user_path),
            ]}),
        )
        .await;
        assert_eq!(ok["results"].as_array().unwrap().len(), 1, "{ok:#}");
        assert_eq!(ok["results"][0]["status"], 400, "{ok:#}");
        assert_eq!(ok["results"][0]["body"]["errors"][0]["field"], "authorization");
        let ok = what_if_ok(
            &app,
            tok,
            json!({"requests": [{
                "method": "PATCH",
                "path": format!("/compat/yuno/v1/organizations/users/{}/account-permissions", w.bob),
                "body": {"account_permissions": []},
                "headers": {"PUBLIC-API-KEY": "someone-else"},
            }]}),
        )
        .await;
        assert_eq!(ok["results"][0]["status"], 400, "{ok:#}");
        assert!(ok["results"][0]["body"]["code"].is_string(), "Yuno's envelope: {ok:#}");
        // A body that is not JSON never reaches the handler.
        let r = crate::support::native_support::send_bytes(
            &app,
            Method::POST,
            "/v1/what-if",
            Some(tok),
            &[("content-type", "application/json")],
            br#"{"requests": [{"method": "PATCH", "path": "/v1/users", "body": {"a": 1, "a": 2}}]}"#.to_vec(),
        )
        .await;
        assert_problem(&r, 400, Some("requests[0].body.a"));
    })
    .await;
}

#[tokio::test]
async fn a_min_revision_inside_a_what_if_is_the_sandboxs() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let a = &w.a;
        let base = app.state.engine.revision();
        let check = |min: u64| {
            json!({"method": "POST", "path": "/v1/check",
                   "body": {"user_id": w.alice, "permission": "users:read",
                            "organization_id": a.org_a, "min_revision": min}})
        };
        let body = what_if_ok(
            &app,
            &a.org_admin.1,
            json!({"requests": [
                {"method": "POST", "path": format!("/v1/users/{}/grants", w.alice),
                 "body": {"role_id": "viewer", "scope": {"type": "organization", "id": a.org_a}}},
                check(base + 1),
                check(base + 2),
            ]}),
        )
        .await;
        let results = body["results"].as_array().unwrap();
        // Reached in the sandbox: answered there, at once.
        assert_eq!(results[1]["status"], 200, "{body:#}");
        assert_eq!(results[1]["body"]["allowed"], true);
        assert_eq!(results[1]["body"]["revision"], base + 1);
        // Never reached, and never committed: refused, not waited for.
        assert_eq!(results.len(), 3, "{body:#}");
        assert_eq!(results[2]["status"], 400, "{body:#}");
        assert_eq!(results[2]["body"]["errors"][0]["field"], "min_revision");
    })
    .await;
}

#[tokio::test]
async fn dry_run_answers_as_the_real_write_and_commits_nothing() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let a = &w.a;
        let tok = &a.org_admin.1;
        let g = app
            .grant(&w.bob, "viewer", json!({"type": "account", "id": a.acc_a2}))
            .await;
        let g = g["id"].as_str().unwrap().to_owned();
        let mut known = w.known.clone();
        known.insert(g.clone());
        let cases: Vec<(Method, String, Option<Value>)> = vec![
            (
                Method::POST,
                "/v1/users".into(),
                Some(json!({"organization_id": a.org_a, "email": "new@a.example", "first_name": "New"})),
            ),
            (
                Method::PATCH,
                format!("/v1/users/{}", w.alice),
                Some(json!({"first_name": "Changed"})),
            ),
            (Method::DELETE, format!("/v1/users/{}/grants/{g}", w.bob), None),
            // Failures too: the same answer.
            (
                Method::PATCH,
                format!("/v1/users/{}", a.other_tenant.0),
                Some(json!({"first_name": "X"})),
            ),
            (
                Method::POST,
                "/v1/users".into(),
                Some(json!({"organization_id": a.org_a, "email": "alice@a.example"})),
            ),
        ];
        for (method, path, body) in cases {
            let before = committed(&app).await;
            let sep = if path.contains('?') { '&' } else { '?' };
            let dry = app
                .call(method.clone(), &format!("{path}{sep}dry_run=true"), Some(tok), body.clone())
                .await;
            assert_eq!(committed(&app).await, before, "{method} {path} committed");
            assert_eq!(
                dry.headers.get("roster-dry-run").map(|v| v.to_str().unwrap()),
                Some("true"),
                "{method} {path}"
            );
            let real = app.call(method.clone(), &path, Some(tok), body).await;
            assert_eq!(dry.status, real.status, "{method} {path}: {}", dry.body);
            let mut dry_body = masked(&dry.body, &known);
            let mut real_body = masked(&real.body, &known);
            // Error documents name their own request id.
            for b in [&mut dry_body, &mut real_body] {
                if let Some(o) = b.as_object_mut() {
                    o.remove("request_id");
                }
            }
            assert_eq!(dry_body, real_body, "{method} {path}");
            if real.status.is_success() {
                assert_eq!(dry.headers.get("roster-revision"), real.headers.get("roster-revision"));
                assert!(real.headers.get("roster-dry-run").is_none());
            }
        }
        // `dry_run=false` is the real request.
        let r = app
            .patch(&format!("/v1/users/{}?dry_run=false", w.bob), tok, json!({"first_name": "Real"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.headers.get("roster-dry-run").is_none());
        let r = app.get(&format!("/v1/users/{}", w.bob), &app.owner).await;
        assert_eq!(r.body["first_name"], "Real");
    })
    .await;
}

#[tokio::test]
async fn dry_run_refuses_what_it_cannot_preview() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let a = &w.a;
        let tok = &a.org_admin.1;
        let user = format!("/v1/users/{}", w.alice);
        let before = committed(&app).await;
        for (method, path, field) in [
            (Method::PATCH, format!("{user}?dry_run=yes"), "dry_run"),
            (
                Method::PATCH,
                format!("{user}?dry_run=true&dry_run=true"),
                "dry_run",
            ),
            (Method::GET, format!("{user}?dry_run=true"), "dry_run"),
            (
                Method::POST,
                "/v1/what-if?dry_run=true".to_owned(),
                "dry_run",
            ),
            (
                Method::POST,
                "/v1/oauth/token?dry_run=true".to_owned(),
                "dry_run",
            ),
        ] {
            let r = app
                .call(
                    method.clone(),
                    &path,
                    Some(tok),
                    Some(json!({"requests": []})),
                )
                .await;
            assert_problem(&r, 400, Some(field));
            assert!(r.headers.get("roster-dry-run").is_none(), "{method} {path}");
        }
        // Without `authz:check`: 403, even on one's own profile.
        let r = app
            .patch(
                &format!("/v1/users/{}?dry_run=true", a.viewer.0),
                &a.viewer.1,
                json!({"first_name": "V"}),
            )
            .await;
        assert_problem(&r, 403, None);
        // Bad credentials: 401, as for real.
        let r = app
            .patch(
                &format!("{user}?dry_run=true"),
                "roster_0000000000000000_nope",
                json!({"first_name": "V"}),
            )
            .await;
        assert_problem(&r, 401, None);
        let r = app
            .call(
                Method::PATCH,
                &format!("{user}?dry_run=true"),
                None,
                Some(json!({})),
            )
            .await;
        assert_problem(&r, 401, None);
        let mut after = committed(&app).await;
        // Refused credentials are audited (`auth.failed`), nothing else.
        after.audit.retain(|e| e.1 != "auth.failed");
        assert_eq!(after, before);
    })
    .await;
}

#[tokio::test]
async fn a_what_if_acts_with_the_callers_credential_as_it_is() {
    each_backend(|app| async move {
        let w = world(&app).await;
        let a = &w.a;
        // A token Roster issued, narrowed to reading and checking: the
        // previewed requests are narrowed alike.
        let (kid, secret) = key_pair(&a.org_admin.1);
        let req = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/v1/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(format!(
                "grant_type=client_credentials&client_id={kid}&client_secret={secret}&scope=users:read%20authz:check"
            )))
            .unwrap();
        let r = app.raw(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let token = r.str("access_token");
        let ok = what_if_ok(
            &app,
            &token,
            json!({"requests": [{"method": "PATCH", "path": format!("/v1/users/{}", w.alice),
                                 "body": {"first_name": "Scoped"}}]}),
        )
        .await;
        assert_eq!(ok["results"][0]["status"], 403, "{ok:#}");
        let real = app
            .patch(&format!("/v1/users/{}", w.alice), &token, json!({"first_name": "Scoped"}))
            .await;
        assert_eq!(real.status, StatusCode::FORBIDDEN);
        assert_eq!(ok["results"][0]["body"]["detail"], real.body["detail"]);

        // A request that revokes the caller's own key: the next one is
        // refused as it would be for real, and nothing is audited or
        // counted; the key still works.
        let keys = app.get("/v1/api-keys?limit=1000", &a.org_admin.1).await;
        let key = keys.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key_id"] == kid.as_str())
            .unwrap_or_else(|| panic!("{}", keys.body))["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let before = committed(&app).await;
        let ok = what_if_ok(
            &app,
            &a.org_admin.1,
            json!({"requests": [
                {"method": "DELETE", "path": format!("/v1/api-keys/{key}")},
                {"method": "PATCH", "path": format!("/v1/users/{}", w.alice), "body": {"first_name": "X"}},
            ]}),
        )
        .await;
        assert_eq!(ok["results"][0]["status"], 204, "{ok:#}");
        assert_eq!(ok["results"][1]["status"], 401, "{ok:#}");
        assert_eq!(ok["results"][1]["body"]["detail"], "unauthorized: the API key is revoked");
        assert_eq!(committed(&app).await, before, "no `auth.failed` event either");
        let r = app.get(&format!("/v1/users/{}", w.alice), &a.org_admin.1).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn the_impact_of_a_role_held_by_more_than_1000_users_is_truncated() {
    use roster_domain::ops::{self, GrantSubject};
    use roster_domain::{Context, Email, OrganizationId, RoleId, Scope};
    each_backend(|app| async move {
        let w = world(&app).await;
        let a = &w.a;
        let r = app
            .post(
                &format!("/v1/organizations/{}/roles", a.org_a),
                &app.owner,
                json!({"id": "clerk", "name": "Clerk", "permissions": ["users:read"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        // 1001 holders in one write of the system (one commit, cheap).
        let org: OrganizationId = a.org_a.parse().unwrap();
        app.state
            .writer
            .write(Context::system(time::OffsetDateTime::now_utc()), move |d| {
                for i in 0..1001 {
                    let u = ops::create_user(
                        d,
                        ops::NewUser {
                            id: None,
                            organization_id: org,
                            email: Email::parse(&format!("clerk{i}@a.example"))?,
                            first_name: None,
                            last_name: None,
                            phone: None,
                            settings: None,
                            external_ids: Default::default(),
                            status: None,
                        },
                    )?;
                    ops::create_grant(
                        d,
                        u.id,
                        ops::NewGrant {
                            subject: GrantSubject::Role(RoleId::parse("clerk")?),
                            scope: Scope::Organization(org),
                            expires_at: None,
                        },
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let before = committed(&app).await;
        let body = what_if_ok(
            &app,
            &a.org_admin.1,
            json!({"requests": [{
                "method": "PATCH",
                "path": format!("/v1/organizations/{}/roles/clerk", a.org_a),
                "body": {"permissions": ["accounts:read"]},
            }]}),
        )
        .await;
        assert_eq!(committed(&app).await, before);
        let impact = &body["impact"];
        assert_eq!(impact["truncated"], true);
        for (list, code) in [("gained", "accounts:read"), ("lost", "users:read")] {
            let l = impact[list].as_array().unwrap();
            assert_eq!(l.len(), 1000, "{list}");
            assert!(l.iter().all(|x| x["permission"] == code), "{list}");
            let users: Vec<&str> = l.iter().map(|x| x["user_id"].as_str().unwrap()).collect();
            let mut sorted = users.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(users, sorted, "{list}: one entry per user, in order");
        }
    })
    .await;
}
