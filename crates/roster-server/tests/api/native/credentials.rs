//! Credentials: scoped API keys (the actor is the intersection of its
//! user's grants and its scopes), what key views show, what the audit
//! trail keeps of them, and throttled guessing — per backend.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use crate::support::common::{each_backend, Resp, TestApp};
use crate::support::native_support::{assert_problem, audit_events};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use roster_server::conn::ServeOptions;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The permission codes every built-in `viewer` holds.
const READS: &[&str] = &[
    "organizations:read",
    "accounts:read",
    "users:read",
    "roles:read",
    "grants:read",
    "audit:read",
];

fn scopes(extra: &[&'static str]) -> Vec<&'static str> {
    READS.iter().copied().chain(extra.iter().copied()).collect()
}

#[tokio::test]
async fn a_scoped_key_acts_only_within_its_scopes() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let admin = &a.org_admin.0;
        let read_only = app.scoped_key(admin, READS).await;
        let token = read_only["key"].as_str().unwrap();
        let mut want: Vec<&str> = READS.to_vec();
        want.sort_unstable();
        let mut got: Vec<&str> = read_only["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, want, "the view lists the scopes by code");

        // Reads within the scopes work ...
        let user = format!("/v1/users/{}", a.target);
        assert_eq!(app.get(&user, token).await.status, StatusCode::OK);
        // ... writes the user could do are refused: `users:write` is not a scope.
        let r = app.patch(&user, token, json!({"first_name": "X"})).await;
        assert_problem(&r, StatusCode::FORBIDDEN.as_u16(), None);
        let r = app
            .post(
                &format!("/v1/users/{}/grants", a.target),
                token,
                json!({"role_id": "viewer", "scope": {"type": "account", "id": a.acc_a1}}),
            )
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN.as_u16(), None);
        // A check about another user needs `authz:check` among the scopes.
        let check =
            json!({"user_id": a.target, "permission": "users:read", "account_id": a.acc_a1});
        let r = app.post("/v1/check", token, check.clone()).await;
        assert_problem(&r, StatusCode::FORBIDDEN.as_u16(), None);
        let checker = app.scoped_key(admin, &scopes(&["authz:check"])).await;
        let r = app
            .post("/v1/check", checker["key"].as_str().unwrap(), check)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // The same user through an unscoped key keeps its full power.
        let r = app
            .patch(&user, &a.org_admin.1, json!({"first_name": "Y"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // Reach is the user's: another tenant is still a 404, not a 403.
        let r = app
            .get(&format!("/v1/organizations/{}", a.org_b), token)
            .await;
        assert_problem(&r, StatusCode::NOT_FOUND.as_u16(), None);
    })
    .await;
}

#[tokio::test]
async fn nobody_mints_a_scope_they_do_not_hold() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let viewer = &a.viewer;
        let create = |token: String, body: Value| {
            let app = &app;
            async move { app.post("/v1/api-keys", &token, body).await }
        };
        // The viewer holds reads only: `users:write` is not its to give.
        let r = create(
            viewer.1.clone(),
            json!({"user_id": viewer.0, "name": "k", "scopes": ["users:read", "users:write"]}),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN.as_u16(), None);
        assert!(
            r.body["detail"].as_str().unwrap().contains("users:write"),
            "{}",
            r.body
        );
        // Within what it holds, it may.
        let r = create(
            viewer.1.clone(),
            json!({"user_id": viewer.0, "name": "k", "scopes": ["users:read"]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let scoped = r.str("key");
        // A scoped key cannot mint a wider key: unscoped, or beyond its scopes.
        for body in [
            json!({"user_id": viewer.0, "name": "wider"}),
            json!({"user_id": viewer.0, "name": "wider", "scopes": ["users:read", "grants:read"]}),
        ] {
            let r = create(scoped.clone(), body).await;
            assert_problem(&r, StatusCode::FORBIDDEN.as_u16(), None);
        }
        let r = create(
            scoped.clone(),
            json!({"user_id": viewer.0, "name": "same", "scopes": ["users:read"]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        // Another tenant's custom permission is unknown here.
        let r = app
            .post(
                &format!("/v1/organizations/{}/permissions", a.org_b),
                &app.owner,
                json!({"code": "b:secret", "description": "B's own"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        // Bad scopes are 400s naming the field; nothing is created.
        let before = app.audit_count().await;
        for (body, field) in [
            (
                json!({"user_id": viewer.0, "name": "k", "scopes": ["no:such"]}),
                "scopes[0]",
            ),
            (
                json!({"user_id": viewer.0, "name": "k", "scopes": ["users:read", 7]}),
                "scopes[1]",
            ),
            (
                json!({"user_id": viewer.0, "name": "k", "scopes": []}),
                "scopes",
            ),
            (
                json!({"user_id": viewer.0, "name": "k", "scopes": "users:read"}),
                "scopes",
            ),
        ] {
            let r = create(viewer.1.clone(), body).await;
            assert_problem(&r, StatusCode::BAD_REQUEST.as_u16(), Some(field));
        }
        let r = create(
            app.owner.clone(),
            json!({"user_id": a.org_admin.0, "name": "k", "scopes": ["b:secret"]}),
        )
        .await;
        assert_problem(&r, StatusCode::BAD_REQUEST.as_u16(), Some("scopes[0]"));
        assert_eq!(app.audit_count().await, before);
    })
    .await;
}

#[tokio::test]
async fn key_views_show_scopes_and_last_use_and_the_trail_keeps_no_secret() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let created = app.scoped_key(&a.viewer.0, &["users:read"]).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let find = |list: &Resp| {
            list.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["id"] == id.as_str())
                .cloned()
                .expect("the key is listed")
        };
        let k = find(&app.get("/v1/api-keys?limit=1000", &app.owner).await);
        assert_eq!(k["scopes"], json!(["users:read"]));
        assert_eq!(k["last_used_at"], Value::Null);
        assert!(
            k.get("key").is_none() && k.get("secret_hash").is_none(),
            "{k}"
        );
        // Using it records the time (off the request path).
        let token = created["key"].as_str().unwrap();
        assert_eq!(
            app.get(&format!("/v1/users/{}", a.viewer.0), token)
                .await
                .status,
            StatusCode::OK
        );
        let mut used = Value::Null;
        for _ in 0..100 {
            used =
                find(&app.get("/v1/api-keys?limit=1000", &app.owner).await)["last_used_at"].clone();
            if !used.is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(used.is_string(), "last_used_at was recorded: {used}");
        // An unscoped key says so.
        let plain = app.get("/v1/api-keys?limit=1000", &a.viewer.1).await;
        assert!(plain.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["scopes"].is_null()));
        // Revoke it, then look at the trail: no secret, hash or token.
        assert_eq!(
            app.delete(&format!("/v1/api-keys/{id}"), &app.owner)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        let events = audit_events(&app).await;
        let keys: Vec<_> = events
            .iter()
            .filter(|e| e.target_type == "api_key")
            .collect();
        assert!(keys.iter().any(|e| e.action == "api_key.create"));
        assert!(keys.iter().any(|e| e.action == "api_key.revoke"));
        for e in &events {
            let text = serde_json::to_string(e).unwrap();
            assert!(!text.contains("secret_hash"), "{text}");
            assert!(!text.contains(token), "{text}");
        }
    })
    .await;
}

/// `method path` with `Authorization: Bearer <token>` from `from`.
async fn attempt(app: &TestApp, token: &str, from: Option<SocketAddr>) -> Resp {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri("/v1/organizations")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    if let Some(addr) = from {
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    app.raw(req).await
}

fn retry_after(r: &Resp) -> u64 {
    r.headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on {}: {}", r.status, r.body))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn guessing_a_keys_secret_is_throttled_after_ten_failures() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let created = app.scoped_key(&a.viewer.0, &["users:read"]).await;
        let (key_id, secret) = (created.str_of("key_id"), created.str_of("key"));
        let wrong = format!("roster_{key_id}_{}", "0".repeat(64));
        for i in 0..10 {
            let r = attempt(&app, &wrong, None).await;
            assert_problem(&r, 401, Some("Authorization"));
            assert!(r.headers.get("retry-after").is_none(), "attempt {i}");
        }
        // Now even the right secret is refused until the window has passed.
        for token in [&wrong, &secret] {
            let r = attempt(&app, token, None).await;
            assert_problem(&r, 429, Some("Authorization"));
            let wait = retry_after(&r);
            assert!((1..=61).contains(&wait), "Retry-After {wait}");
        }
        // Other keys are unaffected.
        assert_eq!(
            attempt(&app, &a.viewer.1, None).await.status,
            StatusCode::OK
        );
        // Each counted failure is in the audit trail, naming the key id and
        // never the secret; throttled attempts are not recorded one by one.
        let mut failed = Vec::new();
        for _ in 0..100 {
            failed = audit_events(&app)
                .await
                .into_iter()
                .filter(|e| e.action == "auth.failed" && e.target_id == key_id)
                .collect();
            if failed.len() >= 10 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(failed.len(), 10, "{failed:?}");
        let e = &failed[0];
        assert_eq!(e.target_type, "api_key");
        assert_eq!(e.actor_id, None);
        assert_eq!(
            e.organization_id.map(|o| o.to_string()),
            Some(a.org_a.clone())
        );
        assert_eq!(e.after.as_ref().unwrap()["reason"], "wrong_secret");
        let text = serde_json::to_string(&failed).unwrap();
        assert!(
            !text.contains(&"0".repeat(64)) && !text.contains(&secret),
            "{text}"
        );
        // The organization's auditors see attempts on its keys.
        let r = app
            .get(
                &format!("/v1/audit-events?organization_id={}&limit=1000", a.org_a),
                &a.org_admin.1,
            )
            .await;
        assert!(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "auth.failed"),
            "{}",
            r.body
        );
    })
    .await;
}

#[tokio::test]
async fn an_address_is_throttled_after_fifty_failures_and_others_are_not() {
    each_backend(|app| async move {
        let guesser: SocketAddr = "203.0.113.7:5000".parse().unwrap();
        let other: SocketAddr = "198.51.100.9:5000".parse().unwrap();
        // Made-up key ids: none is counted per key id, all per address.
        for i in 0..50 {
            let r = attempt(
                &app,
                &format!("roster_{i:016x}_{}", "1".repeat(64)),
                Some(guesser),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "attempt {i}: {}",
                r.body
            );
        }
        let r = attempt(&app, &app.owner, Some(guesser)).await;
        assert_problem(&r, 429, Some("Authorization"));
        assert!(retry_after(&r) >= 1);
        // The owner from another address, and a wrong key from there, are
        // answered as usual.
        assert_eq!(
            attempt(&app, &app.owner, Some(other)).await.status,
            StatusCode::OK
        );
        assert_eq!(
            attempt(&app, "roster_0000000000000000_x", Some(other))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        // A missing credential is not a guess.
        let r = app
            .raw({
                let mut req = Request::builder()
                    .uri("/v1/organizations")
                    .body(Body::empty())
                    .unwrap();
                req.extensions_mut().insert(ConnectInfo(other));
                req
            })
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

/// The status of `GET /v1/organizations` with `token`, over a real
/// connection to `addr`.
async fn status_over_tcp(addr: SocketAddr, token: &str) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /v1/organizations HTTP/1.1\r\nhost: roster\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let head = String::from_utf8_lossy(&out);
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_server_throttles_by_the_connections_address() {
    each_backend(|app| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(roster_server::serve_with(
            listener,
            app.router.clone(),
            async move {
                let _ = stopped.await;
            },
            ServeOptions::default(),
        ));
        for i in 0..50 {
            let token = format!("roster_{i:016x}_{}", "2".repeat(64));
            assert_eq!(status_over_tcp(addr, &token).await, 401);
        }
        // 127.0.0.1 is now locked out, the right key included.
        assert_eq!(status_over_tcp(addr, &app.owner).await, 429);
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    })
    .await;
}

/// A string member of a JSON object.
trait StrOf {
    fn str_of(&self, key: &str) -> String;
}

impl StrOf for Value {
    fn str_of(&self, key: &str) -> String {
        self[key].as_str().unwrap().to_owned()
    }
}

/// A request to one surface with a credential for key `key_id` whose
/// secret is `secret`, in the way that surface takes it.
fn surface_request(
    surface: &str,
    a: &crate::support::common::Actors,
    key_id: &str,
    secret: &str,
) -> Request<Body> {
    let (method, uri, auth): (Method, String, Option<String>) = match surface {
        "native" => (
            Method::GET,
            "/v1/organizations".into(),
            Some(format!("Bearer {secret}")),
        ),
        "yuno" => (
            Method::PATCH,
            format!(
                "/compat/yuno/v1/organizations/users/{}/account-permissions",
                a.target
            ),
            None,
        ),
        "crux" => (
            Method::PATCH,
            format!("/compat/crux/organizations/users/permissions/{}/", a.target),
            Some(format!("Token {secret}")),
        ),
        "lexful" => (
            Method::PATCH,
            format!("/compat/lexful/v1/users/{}", a.target),
            Some(format!("Bearer {secret}")),
        ),
        "softwareone" => (
            Method::PUT,
            format!(
                "/compat/softwareone/public/v1/accounts/accounts/{}/users/{}",
                a.acc_a1, a.target
            ),
            Some(format!("Bearer {secret}")),
        ),
        "fynn" => (
            Method::PUT,
            format!("/compat/fynn/accounts/{}/role", a.acc_a1),
            Some(format!("Bearer {secret}")),
        ),
        other => panic!("no surface {other}"),
    };
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("x-account-id", a.acc_a1.as_str());
    match auth {
        Some(v) => b = b.header("authorization", v),
        None => {
            b = b
                .header("PUBLIC-API-KEY", key_id)
                .header("PRIVATE-SECRET-KEY", secret)
        }
    }
    b.body(Body::from("{}")).unwrap()
}

/// The top-level member names of a JSON object body.
fn members(r: &Resp) -> Vec<String> {
    let mut k: Vec<String> = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {}", r.body))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

#[tokio::test]
async fn throttled_attempts_get_429_in_each_surfaces_own_shape() {
    each_backend(|app| async move {
        let a = app.actors().await;
        for surface in ["native", "yuno", "crux", "lexful", "softwareone", "fynn"] {
            let k = app.scoped_key(&a.org_admin.0, &["users:read"]).await;
            let key_id = k.str_of("key_id");
            let wrong = format!("roster_{key_id}_{}", "9".repeat(64));
            let mut refused = None;
            for _ in 0..10 {
                let r = app.raw(surface_request(surface, &a, &key_id, &wrong)).await;
                assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{surface}: {}", r.body);
                refused = Some(r);
            }
            let refused = refused.unwrap();
            let r = app
                .raw(surface_request(surface, &a, &key_id, &k.str_of("key")))
                .await;
            assert_eq!(
                r.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{surface}: {}",
                r.body
            );
            assert!(retry_after(&r) >= 1, "{surface}");
            assert_eq!(
                r.headers.get("content-type"),
                refused.headers.get("content-type"),
                "{surface}: the 429 has the content type of the surface's errors"
            );
            assert_eq!(members(&r), members(&refused), "{surface}: {}", r.body);
        }
    })
    .await;
}

#[tokio::test]
async fn the_operator_sets_the_limits() {
    let config = roster_server::Config {
        auth_failure_limits: (2, 3),
        ..Default::default()
    };
    crate::support::common::each_backend_with(config, |app| async move {
        let a = app.actors().await;
        let k = app.scoped_key(&a.viewer.0, &["users:read"]).await;
        let wrong = format!("roster_{}_{}", k.str_of("key_id"), "0".repeat(64));
        for _ in 0..2 {
            assert_eq!(
                attempt(&app, &wrong, None).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            attempt(&app, &k.str_of("key"), None).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
        let from: SocketAddr = "192.0.2.1:1".parse().unwrap();
        for i in 0..3 {
            let r = attempt(&app, &format!("roster_{i:016x}_x"), Some(from)).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(
            attempt(&app, &app.owner, Some(from)).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    })
    .await;
}
