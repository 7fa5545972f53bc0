//! Identity providers' JWTs: accepted on every bearer surface as the user
//! they map to, and refused (401, in the surface's shape) by each rule,
//! each with a token that breaks exactly that rule.

use super::{claims, config, fixture, register, set_external_id, Fixture, AUDIENCE, ISSUER};
use crate::support::common::{each_backend_with, Resp, TestApp};
use crate::support::idp::{hs256, now, unsigned, JwksServer, TestKey};
use crate::support::native_support::assert_problem;
use axum::http::{Method, StatusCode};
use roster_server::Config;
use serde_json::{json, Value};
use std::time::Duration;

/// `GET /v1/users/{user}` with `token`.
async fn whoami(app: &TestApp, f: &Fixture, token: &str) -> Resp {
    app.get(&format!("/v1/users/{}", f.user), token).await
}

/// Asserts `token` is refused on the native API, the message saying `why`.
async fn refused(app: &TestApp, f: &Fixture, token: &str, why: &str) {
    let r = whoami(app, f, token).await;
    assert_problem(&r, 401, None);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(why), "`{why}` not in {}", r.body);
    assert!(!detail.contains(token), "the token leaked: {detail}");
    assert_eq!(
        r.headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
}

fn with(mut v: Value, k: &str, x: Value) -> Value {
    v[k] = x;
    v
}

fn without(mut v: Value, k: &str) -> Value {
    v.as_object_mut().map(|o| o.remove(k));
    v
}

#[tokio::test]
async fn a_valid_token_acts_as_its_user_on_every_bearer_surface() {
    each_backend_with(config(), |app| async move {
        let f = fixture(&app).await;
        let acc = app.account(&f.org, "A1", "client").await;
        let membership = app.member(&acc, &f.user).await;
        let token = f.token();

        // Native.
        let r = whoami(&app, &f, &token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["id"], f.user.as_str());
        // The write is audited as the token's user.
        let r = app
            .patch(
                &format!("/v1/users/{}", f.user),
                &token,
                json!({"first_name": "Native"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let events = crate::support::native_support::audit_events(&app).await;
        let last = events.last().expect("an event");
        assert_eq!(last.actor_id.map(|u| u.to_string()), Some(f.user.clone()));

        // SoftwareOne: the user edits his own profile.
        let r = app
            .call(
                Method::PUT,
                &format!(
                    "/compat/softwareone/public/v1/accounts/accounts/{acc}/users/{}",
                    f.user
                ),
                Some(&token),
                Some(json!({"firstName": "Swo"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["firstName"], "Swo");

        // Lexful.
        let r = app
            .call_with(
                Method::PATCH,
                &format!("/compat/lexful/v1/users/{}", f.user),
                Some(&token),
                Some(json!({"first_name": "Lex"})),
                &[("x-account-id", &acc)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["first_name"], "Lex");

        // Fynn: the token's user is recognised, so changing its own role is
        // the documented 422 (not a 401).
        let r = app
            .call(
                Method::PUT,
                &format!(
                    "/compat/fynn/accounts/{}/role",
                    membership["id"].as_str().unwrap_or_default()
                ),
                Some(&token),
                Some(json!({"role": "read-only"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(
            r.body["violations"][0]["message"],
            "You cannot change the role of your own account"
        );

        // Crux keeps its own `Token` scheme: a JWT is no key there.
        let r = app
            .call_with(
                Method::PATCH,
                &format!("/compat/crux/organizations/users/permissions/{}/", f.user),
                None,
                Some(json!({"permissions": []})),
                &[("authorization", &format!("Token {token}"))],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        // A refused token is refused in each surface's own shape.
        let bad = f.key.sign(&with(claims("alice-sub"), "aud", json!("nope")));
        let r = app
            .call(
                Method::PUT,
                &format!(
                    "/compat/softwareone/public/v1/accounts/accounts/{acc}/users/{}",
                    f.user
                ),
                Some(&bad),
                Some(json!({"firstName": "Swo"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(r.body["status"], 401, "{}", r.body);
        let r = app
            .call_with(
                Method::PATCH,
                &format!("/compat/lexful/v1/users/{}", f.user),
                Some(&bad),
                Some(json!({"first_name": "Lex"})),
                &[("x-account-id", &acc)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert!(r.body["error_id"].is_string(), "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn every_rule_refuses_a_token_that_breaks_it() {
    each_backend_with(config(), |app| async move {
        let f = fixture(&app).await;
        let ok = claims("alice-sub");
        // The baseline is accepted.
        assert_eq!(whoami(&app, &f, &f.token()).await.status, StatusCode::OK);
        let header = |extra: Value| {
            let mut h = json!({"alg": "RS256", "kid": f.key.kid, "typ": "JWT"});
            if let (Some(h), Some(e)) = (h.as_object_mut(), extra.as_object()) {
                h.extend(e.clone());
            }
            h
        };
        let attacker = TestKey::rsa("rsa-1"); // same kid, another key
        let cases: Vec<(&str, String, &str)> = vec![
            ("alg none", unsigned(&ok), "algorithm `none`"),
            (
                "HS256 keyed with the RSA public key",
                hs256(&f.key.kid, &f.key.public_bytes(), &ok),
                "algorithm `HS256`",
            ),
            (
                "a kid the provider does not have",
                f.key.sign_raw(&header(json!({"kid": "rsa-unknown"})), &ok),
                "`kid`",
            ),
            (
                "a signature by another key",
                attacker.sign(&ok),
                "signature",
            ),
            (
                "another issuer",
                f.key
                    .sign(&with(ok.clone(), "iss", json!("https://evil.example"))),
                "issuer",
            ),
            (
                "no issuer",
                f.key.sign(&without(ok.clone(), "iss")),
                "issuer",
            ),
            (
                "another audience",
                f.key
                    .sign(&with(ok.clone(), "aud", json!(["other", "more"]))),
                "audience",
            ),
            (
                "no audience",
                f.key.sign(&without(ok.clone(), "aud")),
                "`aud`",
            ),
            (
                "expired beyond the leeway",
                f.key.sign(&with(ok.clone(), "exp", json!(now() - 120))),
                "expired",
            ),
            ("no exp", f.key.sign(&without(ok.clone(), "exp")), "`exp`"),
            (
                "nbf in the future",
                f.key.sign(&with(ok.clone(), "nbf", json!(now() + 600))),
                "not valid yet",
            ),
            (
                "iat in the future",
                f.key.sign(&with(ok.clone(), "iat", json!(now() + 600))),
                "issued in the future",
            ),
            (
                "a crit header",
                f.key
                    .sign_raw(&header(json!({"crit": ["exp"], "exp": 1})), &ok),
                "`crit`",
            ),
            (
                "an algorithm the provider does not pin (PS256 with an RSA key)",
                f.key.sign_raw(&header(json!({"alg": "PS256"})), &ok),
                "algorithm `PS256`",
            ),
            (
                "an unknown subject",
                f.key.sign(&with(ok.clone(), "sub", json!("mallory-sub"))),
                "no user",
            ),
            (
                "no subject",
                f.key.sign(&without(ok.clone(), "sub")),
                "`sub`",
            ),
            (
                // The attacker's own key, announced in the token: never fetched or trusted.
                "jku, x5u and jwk headers pointing at the attacker's key",
                attacker.sign_raw(
                    &header(json!({
                        "jku": f.jwks.url(),
                        "x5u": "https://evil.example/cert",
                        "jwk": attacker.jwk(),
                    })),
                    &ok,
                ),
                "signature",
            ),
            (
                "garbage",
                "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln".into(),
                "well-formed",
            ),
        ];
        for (what, token, why) in &cases {
            eprintln!("-- {what}");
            refused(&app, &f, token, why).await;
        }
        // Within the leeway, a just-expired token is still accepted.
        let t = f.key.sign(&with(ok.clone(), "exp", json!(now() - 10)));
        assert_eq!(whoami(&app, &f, &t).await.status, StatusCode::OK);
        // The token of a disabled user is refused (another admin keeps the
        // organization manageable).
        let other = app.user(&f.org, "other.admin@a.example").await;
        app.grant(
            &other,
            "admin",
            json!({"type": "organization", "id": f.org}),
        )
        .await;
        let r = app
            .patch(
                &format!("/v1/users/{}", f.user),
                &app.owner,
                json!({"status": "disabled"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        refused(&app, &f, &f.token(), "not active").await;
    })
    .await;
}

/// A token of A's provider acts only as a user of A: a subject that is a
/// user of B (even under the same provider name) is unknown; B registering
/// the same issuer gets its own users, through its own provider.
#[tokio::test]
async fn a_providers_token_acts_only_in_its_organization() {
    each_backend_with(config(), |app| async move {
        let f = fixture(&app).await;
        let org_b = app.org("Tenant B").await;
        let bob = app.user(&org_b, "bob@b.example").await;
        set_external_id(&app, &bob, "bob-sub").await;
        let bob_token = f.key.sign(&claims("bob-sub"));
        refused(&app, &f, &bob_token, "no user").await;
        // B trusts the same issuer (its own audience and provider).
        register(
            &app,
            &org_b,
            json!({"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": f.jwks.url()}),
        )
        .await;
        let r = app.get(&format!("/v1/users/{bob}"), &bob_token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["organization_id"], org_b.as_str());
        // Alice's token still acts as Alice, never as anyone of B.
        let r = app.get(&format!("/v1/users/{bob}"), &f.token()).await;
        assert_problem(&r, 404, None);
        assert_eq!(whoami(&app, &f, &f.token()).await.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn email_mapping_needs_a_verified_email() {
    each_backend_with(config(), |app| async move {
        let key = TestKey::ec("ec-1");
        let org = app.org("Tenant A").await;
        let user = app.user(&org, "Carol@A.example").await;
        register(
            &app,
            &org,
            json!({"name": "mail", "issuer": ISSUER, "audience": AUDIENCE,
                   "jwks": {"keys": [key.jwk()]}, "algorithms": ["ES256"], "user_claim": "email"}),
        )
        .await;
        let path = format!("/v1/users/{user}");
        let base = with(claims("whatever"), "email", json!("carol@a.example"));
        let t = key.sign(&with(base.clone(), "email_verified", json!(true)));
        let r = app.get(&path, &t).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for (claims, why) in [
            (
                with(base.clone(), "email_verified", json!(false)),
                "not verified",
            ),
            (base.clone(), "not verified"),
            (
                with(
                    with(base.clone(), "email_verified", json!(true)),
                    "email",
                    json!("nobody@a.example"),
                ),
                "no user",
            ),
            (
                without(with(base.clone(), "email_verified", json!(true)), "email"),
                "`email`",
            ),
        ] {
            let r = app.get(&path, &key.sign(&claims)).await;
            assert_problem(&r, 401, None);
            assert!(
                r.body["detail"].as_str().unwrap_or_default().contains(why),
                "{}",
                r.body
            );
        }
    })
    .await;
}

/// Keys rotate at the provider: a token naming the new key fetches the set
/// again and is accepted; the old key, once gone, is refused.
#[tokio::test]
async fn rotated_keys_are_picked_up_and_old_ones_refused() {
    each_backend_with(config(), |app| async move {
        let f = fixture(&app).await;
        let old = f.token();
        assert_eq!(whoami(&app, &f, &old).await.status, StatusCode::OK);
        let new_key = TestKey::ed("ed-2");
        f.jwks.set_keys(&[&new_key]);
        let new = new_key.sign(&claims("alice-sub"));
        let r = whoami(&app, &f, &new).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        refused(&app, &f, &old, "`kid`").await;
    })
    .await;
}

/// A failed fetch keeps the cached keys; a provider whose keys were never
/// fetched answers 401, not 500.
#[tokio::test]
async fn a_provider_whose_jwks_is_down() {
    each_backend_with(config(), |app| async move {
        let f = fixture(&app).await;
        assert_eq!(whoami(&app, &f, &f.token()).await.status, StatusCode::OK);
        f.jwks.go_down();
        // An unknown kid makes it fetch again, which fails: the cached keys stay.
        let stranger = TestKey::rsa("rsa-9");
        refused(&app, &f, &stranger.sign(&claims("alice-sub")), "`kid`").await;
        let hits = f.jwks.hits();
        assert!(hits >= 2, "refetched: {hits}");
        assert_eq!(whoami(&app, &f, &f.token()).await.status, StatusCode::OK);

        // Another provider, down from the start.
        let dead = JwksServer::start(&[]).await;
        dead.go_down();
        let org = app.org("Tenant C").await;
        let carol = app.user(&org, "carol@c.example").await;
        set_external_id(&app, &carol, "carol-sub").await;
        register(
            &app,
            &org,
            json!({"name": "corp", "issuer": "https://down.example", "audience": AUDIENCE, "jwks_uri": dead.url()}),
        )
        .await;
        let t = f
            .key
            .sign(&with(claims("carol-sub"), "iss", json!("https://down.example")));
        let r = app.get(&format!("/v1/users/{carol}"), &t).await;
        assert_problem(&r, 401, None);
        assert!(
            r.body["detail"].as_str().unwrap_or_default().contains("unavailable"),
            "{}",
            r.body
        );
    })
    .await;
}

/// Concurrent first uses fetch the JWKS once; tokens naming unknown keys
/// fetch again at most once per refresh interval.
#[tokio::test]
async fn the_jwks_endpoint_is_not_stampeded() {
    let config = Config {
        jwks_refresh_interval: Duration::from_secs(30),
        ..config()
    };
    each_backend_with(config, |app| async move {
        let f = fixture(&app).await;
        let token = f.token();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let router = app.router.clone();
            let path = format!("/v1/users/{}", f.user);
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                crate::support::native_support::send(
                    &router,
                    Method::GET,
                    &path,
                    Some(&token),
                    None,
                    &[],
                )
                .await
                .status
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("task"), StatusCode::OK);
        }
        assert_eq!(f.jwks.hits(), 1);
        for i in 0..5 {
            let stranger = TestKey::ec(&format!("ec-{i}"));
            refused(&app, &f, &stranger.sign(&claims("alice-sub")), "`kid`").await;
        }
        assert_eq!(
            f.jwks.hits(),
            1,
            "within the interval of the first fetch, unknown keys fetch nothing"
        );
    })
    .await;
}

/// An inline key set verifies without any fetch; a deleted provider's
/// tokens are refused at once.
#[tokio::test]
async fn inline_keys_and_deleted_providers() {
    each_backend_with(config(), |app| async move {
        let f = fixture(&app).await;
        let ed = TestKey::ed("ed-1");
        let r = app
            .patch(
                &format!("/v1/identity-providers/{}", f.provider),
                &app.owner,
                json!({"jwks": {"keys": [ed.jwk()]}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let hits = f.jwks.hits();
        let t = ed.sign(&claims("alice-sub"));
        assert_eq!(whoami(&app, &f, &t).await.status, StatusCode::OK);
        // Without a kid, the one suitable key is used.
        let no_kid = ed.sign_raw(&json!({"alg": "EdDSA"}), &claims("alice-sub"));
        assert_eq!(whoami(&app, &f, &no_kid).await.status, StatusCode::OK);
        assert_eq!(f.jwks.hits(), hits);
        // The old URL's key no longer verifies.
        refused(&app, &f, &f.token(), "`kid`").await;
        let r = app
            .delete(
                &format!("/v1/identity-providers/{}", f.provider),
                &app.owner,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        refused(&app, &f, &t, "issuer").await;
    })
    .await;
}
