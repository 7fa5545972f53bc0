//! Tokens (SPEC §3.3): organizations' identity providers, managed through
//! the native API (`providers`), and their JWTs verified on every bearer
//! surface against a JWKS server of the tests' own (`verification`).

mod providers;
mod verification;

use crate::support::common::TestApp;
use crate::support::idp::{now, JwksServer, TestKey};
use axum::http::StatusCode;
use roster_server::Config;
use serde_json::{json, Value};
use std::time::Duration;

/// The issuer and audience of the tests' provider.
pub const ISSUER: &str = "https://idp.test.example/realms/corp";
pub const AUDIENCE: &str = "roster-api";

/// A server that may fetch the tests' JWKS server on 127.0.0.1 and
/// refetches at once (the refresh interval is tested on its own).
pub fn config() -> Config {
    Config {
        allow_private_targets: true,
        jwks_refresh_interval: Duration::ZERO,
        ..Config::default()
    }
}

/// Claims a provider's token for `sub` carries, valid now.
pub fn claims(sub: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now(),
        "exp": now() + 300,
    })
}

/// A provider of organization `org` named `corp` and a user of `org`
/// whose `external_ids.corp` is `sub`, holding `admin` on `org`.
pub struct Fixture {
    pub org: String,
    pub provider: String,
    pub user: String,
    pub key: TestKey,
    pub jwks: JwksServer,
}

impl Fixture {
    /// A valid token of the fixture's user.
    pub fn token(&self) -> String {
        self.key.sign(&claims("alice-sub"))
    }
}

/// Sets up [`Fixture`] on `app`, signing with an RSA key.
pub async fn fixture(app: &TestApp) -> Fixture {
    let key = TestKey::rsa("rsa-1");
    let jwks = JwksServer::start(&[&key]).await;
    let org = app.org("Tenant A").await;
    let user = app.user(&org, "alice@a.example").await;
    set_external_id(app, &user, "alice-sub").await;
    app.grant(&user, "admin", json!({"type": "organization", "id": org}))
        .await;
    let provider = register(
        app,
        &org,
        json!({"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": jwks.url()}),
    )
    .await;
    Fixture {
        org,
        provider,
        user,
        key,
        jwks,
    }
}

/// Sets `external_ids.corp` of `user` as the owner.
pub async fn set_external_id(app: &TestApp, user: &str, sub: &str) {
    let r = app
        .patch(
            &format!("/v1/users/{user}"),
            &app.owner,
            json!({"external_ids": {"corp": sub}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// Registers a provider of `org` as the owner; returns its id.
pub async fn register(app: &TestApp, org: &str, body: Value) -> String {
    let r = app
        .post(
            &format!("/v1/organizations/{org}/identity-providers"),
            &app.owner,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.str("id")
}
