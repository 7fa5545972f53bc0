//! Test harness shared by the server's integration tests: a real store per
//! backend (SQLite always, PostgreSQL when `ROSTER_TEST_DATABASE_URL` is
//! set), the real router driven through `oneshot`, and a cast of actors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use roster_server::{bootstrap, AppState, Config};
use roster_store::testing::{test_databases, TestDatabase};
use serde_json::{json, Value};
use tower::ServiceExt;

/// One response, parsed.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    /// The `Roster-Revision` header.
    pub fn revision(&self) -> Option<u64> {
        self.headers
            .get("roster-revision")?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }
    /// A string field of the body.
    pub fn str(&self, key: &str) -> String {
        self.body[key]
            .as_str()
            .unwrap_or_else(|| panic!("no string `{key}` in {}", self.body))
            .to_owned()
    }
}

/// A running app on one backend.
pub struct TestApp {
    pub db: TestDatabase,
    pub state: AppState,
    pub router: Router,
    /// The bootstrap owner's token (`owner` at `global`).
    pub owner: String,
    pub owner_id: String,
    /// The bootstrap organization.
    pub org: String,
    /// The bootstrap operations account.
    pub ops_account: String,
}

impl TestApp {
    /// A bootstrapped app on `db`.
    pub async fn new(db: TestDatabase) -> Self {
        Self::with_config(db, Config::default()).await
    }

    /// A bootstrapped app on `db` with `config`.
    pub async fn with_config(db: TestDatabase, config: Config) -> Self {
        let store = db.open().await.expect("open store");
        store.migrate().await.expect("migrate");
        let state = AppState::start(store, config).await.expect("start");
        let b = bootstrap::bootstrap(&state, "Test Org", "owner@test.example")
            .await
            .expect("bootstrap");
        let router = roster_server::router(state.clone());
        Self {
            db,
            state,
            router,
            owner: b.api_key,
            owner_id: b.user_id,
            org: b.organization_id,
            ops_account: b.account_id,
        }
    }

    /// The backend name.
    pub fn backend(&self) -> &'static str {
        self.db.backend
    }

    /// Sends a raw request.
    pub async fn raw(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Sends `method path` with a bearer token and an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.call_with(method, path, token, body, &[]).await
    }

    /// Like [`TestApp::call`] with extra headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        self.raw(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Creates an organization as the owner; returns its id.
    pub async fn org(&self, name: &str) -> String {
        let r = self
            .post("/v1/organizations", &self.owner, json!({ "name": name }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.str("id")
    }

    /// Creates an account as the owner; returns its id.
    pub async fn account(&self, org: &str, name: &str, kind: &str) -> String {
        let r = self
            .post(
                &format!("/v1/organizations/{org}/accounts"),
                &self.owner,
                json!({ "name": name, "type": kind }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.str("id")
    }

    /// Creates a user as the owner; returns its id.
    pub async fn user(&self, org: &str, email: &str) -> String {
        let r = self.post("/v1/users", &self.owner, json!({ "organization_id": org, "email": email, "first_name": "Test", "last_name": "User" })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.str("id")
    }

    /// Grants a role at a scope as the owner.
    pub async fn grant(&self, user: &str, role: &str, scope: Value) -> Value {
        let r = self
            .post(
                &format!("/v1/users/{user}/grants"),
                &self.owner,
                json!({ "role_id": role, "scope": scope }),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.body);
        r.body
    }

    /// Adds a member as the owner.
    pub async fn member(&self, account: &str, user: &str) -> Value {
        let r = self
            .post(
                &format!("/v1/accounts/{account}/members"),
                &self.owner,
                json!({ "user_id": user }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body
    }

    /// An API key for `user`, created by the owner; returns the secret.
    pub async fn key(&self, user: &str) -> String {
        let r = self
            .post(
                "/v1/api-keys",
                &self.owner,
                json!({ "user_id": user, "name": "test" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.str("key")
    }

    /// A key for `user` scoped to `scopes` (permission codes), created by
    /// the owner; returns the creation response (`key`, `key_id`, …).
    pub async fn scoped_key(&self, user: &str, scopes: &[&str]) -> Value {
        let r = self
            .post(
                "/v1/api-keys",
                &self.owner,
                json!({ "user_id": user, "name": "scoped", "scopes": scopes }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body
    }

    /// Number of audit events (as the owner).
    pub async fn audit_count(&self) -> usize {
        let mut n = 0;
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/audit-events?limit=1000&cursor={c}"),
                None => "/v1/audit-events?limit=1000".to_owned(),
            };
            let r = self.get(&path, &self.owner).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            n += r.body["items"].as_array().map_or(0, Vec::len);
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return n,
            }
        }
    }

    /// `POST /v1/check` as the owner.
    pub async fn check(&self, user: &str, permission: &str, account: &str) -> bool {
        let r = self
            .post(
                "/v1/check",
                &self.owner,
                json!({ "user_id": user, "permission": permission, "account_id": account }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["allowed"].as_bool().expect("allowed")
    }
}

/// A cast of actors in two tenants (A and B).
pub struct Actors {
    pub org_a: String,
    pub org_b: String,
    /// Accounts of A.
    pub acc_a1: String,
    pub acc_a2: String,
    /// Account of B.
    pub acc_b1: String,
    /// `admin` at organization A.
    pub org_admin: (String, String),
    /// `admin` at account A1 only.
    pub account_admin: (String, String),
    /// `viewer` at organization A.
    pub viewer: (String, String),
    /// A user of A with no grant.
    pub nobody: (String, String),
    /// `admin` at organization B.
    pub other_tenant: (String, String),
    /// A plain user of A, target of changes.
    pub target: String,
}

impl TestApp {
    /// Creates the cast: `(user id, token)` pairs.
    pub async fn actors(&self) -> Actors {
        let org_a = self.org("Tenant A").await;
        let org_b = self.org("Tenant B").await;
        let acc_a1 = self.account(&org_a, "A1", "client").await;
        let acc_a2 = self.account(&org_a, "A2", "vendor").await;
        let acc_b1 = self.account(&org_b, "B1", "client").await;
        let org_admin = self.user(&org_a, "org.admin@a.example").await;
        self.grant(
            &org_admin,
            "admin",
            json!({"type": "organization", "id": org_a}),
        )
        .await;
        let account_admin = self.user(&org_a, "account.admin@a.example").await;
        self.grant(
            &account_admin,
            "admin",
            json!({"type": "account", "id": acc_a1}),
        )
        .await;
        let viewer = self.user(&org_a, "viewer@a.example").await;
        self.grant(
            &viewer,
            "viewer",
            json!({"type": "organization", "id": org_a}),
        )
        .await;
        let nobody = self.user(&org_a, "nobody@a.example").await;
        let other = self.user(&org_b, "admin@b.example").await;
        self.grant(
            &other,
            "admin",
            json!({"type": "organization", "id": org_b}),
        )
        .await;
        let target = self.user(&org_a, "target@a.example").await;
        self.member(&acc_a1, &target).await;
        Actors {
            org_admin: (org_admin.clone(), self.key(&org_admin).await),
            account_admin: (account_admin.clone(), self.key(&account_admin).await),
            viewer: (viewer.clone(), self.key(&viewer).await),
            nobody: (nobody.clone(), self.key(&nobody).await),
            other_tenant: (other.clone(), self.key(&other).await),
            org_a,
            org_b,
            acc_a1,
            acc_a2,
            acc_b1,
            target,
        }
    }
}

/// Runs `f` once per backend (SQLite always; PostgreSQL when configured).
pub async fn each_backend<F, Fut>(f: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    each_backend_with(Config::default(), f).await;
}

/// [`each_backend`] with an app started with `config`.
pub async fn each_backend_with<F, Fut>(config: Config, f: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in test_databases().await {
        let backend = db.backend;
        eprintln!("-- backend: {backend}");
        f(TestApp::with_config(db, config.clone()).await).await;
    }
}
