//! Roster as a token issuer (SPEC §3.3): `POST /v1/oauth/token` (RFC 6749
//! client credentials, its §5.2 errors), the JWKS and discovery documents,
//! tokens accepted on every bearer surface, refused from the next request
//! on once their key, user or signing key goes, and refused when forged,
//! tampered with or expired; rotation by a second process (what `roster
//! keys rotate` runs) picked up by a running server through the change log.

use crate::support::common::{each_backend, Actors, Resp, TestApp};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use roster_domain::SigningAlgorithm;
use roster_server::tokens::Claims;
use roster_server::{keys, AppState, Config};
use serde_json::{json, Value};
use std::time::Duration;

/// An API key as a client: its record id, key id and secret.
struct Client {
    id: String,
    key_id: String,
    secret: String,
}

/// A new API key for `user`, made by the owner.
async fn client(app: &TestApp, user: &str) -> Client {
    let r = app
        .post(
            "/v1/api-keys",
            &app.owner,
            json!({ "user_id": user, "name": "oauth client" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    Client {
        id: r.str("id"),
        key_id: r.str("key_id"),
        secret: r.str("key"),
    }
}

/// `POST /v1/oauth/token` with a form `body`, and HTTP Basic when given.
async fn token_request(
    app: &TestApp,
    content_type: Option<&str>,
    basic: Option<(&str, &str)>,
    body: impl Into<Vec<u8>>,
) -> Resp {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri("/v1/oauth/token");
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    if let Some((id, secret)) = basic {
        let pair = STANDARD.encode(format!("{id}:{secret}"));
        b = b.header("authorization", format!("Basic {pair}"));
    }
    app.raw(b.body(Body::from(body.into())).unwrap()).await
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

/// A token for `c` (form client authentication); asserts the 200.
async fn token_for(app: &TestApp, c: &Client) -> String {
    let r = token_request(
        app,
        FORM,
        None,
        format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            c.key_id, c.secret
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.str("access_token")
}

/// The decoded header and claims of a token (unverified).
fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let mut next = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap()
    };
    (next(), next())
}

/// A token signed with the private key of the model's current signing
/// key, with `header` and `claims` as given.
fn forge(app: &TestApp, header: Header, claims: &Value) -> String {
    let model = app.state.engine.snapshot();
    let k = model.current_signing_key().expect("a signing key");
    let key = EncodingKey::from_ed_der(k.private_key.pkcs8_der());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Good claims for `c` (user `user`) at the app's issuer.
fn claims(app: &TestApp, user: &str, c: &Client) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let iss = app.state.config.issuer.clone();
    json!({"iss": iss, "aud": iss, "sub": user, "exp": now + 600, "iat": now, "nbf": now,
           "jti": "t", "roster:key": c.id})
}

/// The current key's header.
fn header(app: &TestApp) -> Header {
    let model = app.state.engine.snapshot();
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = model.current_signing_key().map(|k| k.id.to_string());
    h
}

/// Makes sure the app has a signing key (what `roster serve` does on start).
async fn with_key(app: &TestApp) {
    keys::ensure(&app.state, SigningAlgorithm::EdDSA)
        .await
        .expect("signing key");
}

async fn whoami(app: &TestApp, token: &str, user: &str) -> Resp {
    app.get(&format!("/v1/users/{user}"), token).await
}

#[tokio::test]
async fn issues_tokens_with_form_or_basic_client_authentication() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let c = client(&app, &a.org_admin.0).await;
        // No signing key yet: the first request makes one.
        assert!(app.state.engine.snapshot().current_signing_key().is_none());
        let r = token_request(
            &app,
            FORM,
            None,
            format!(
                "grant_type=client_credentials&client_id={}&client_secret={}&unknown=ignored",
                c.key_id, c.secret
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["token_type"], "Bearer");
        assert_eq!(r.body["expires_in"], 900);
        assert!(r.body.get("scope").is_none(), "{}", r.body);
        assert_eq!(r.headers["cache-control"], "no-store");
        let token = r.str("access_token");
        let (h, cl) = parts(&token);
        let kid = app
            .state
            .engine
            .snapshot()
            .current_signing_key()
            .unwrap()
            .id
            .to_string();
        assert_eq!(
            (h["alg"].as_str(), h["kid"].as_str()),
            (Some("EdDSA"), Some(kid.as_str()))
        );
        assert_eq!(cl["iss"], app.state.config.issuer);
        assert_eq!(cl["aud"], app.state.config.issuer);
        assert_eq!(cl["sub"], a.org_admin.0);
        assert_eq!(cl["roster:key"], c.id);
        assert_eq!(
            cl["exp"].as_i64().unwrap() - cl["iat"].as_i64().unwrap(),
            900
        );
        assert!(cl["nbf"].is_i64() && cl["jti"].is_string(), "{cl}");
        // The token acts as the key's user.
        let r = whoami(&app, &token, &a.target).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = app
            .get(&format!("/v1/users/{}", app.owner_id), &token)
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "another tenant's user: {}",
            r.body
        );

        // HTTP Basic, form-encoded parts (RFC 6749 §2.3.1).
        let r = token_request(
            &app,
            FORM,
            Some((&c.key_id, &c.secret)),
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            whoami(&app, &r.str("access_token"), &a.target).await.status,
            StatusCode::OK
        );

        // A narrower scope.
        let r = token_request(
            &app,
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            Some((&c.key_id, &c.secret)),
            "grant_type=client_credentials&scope=users%3Aread+users:write users:read",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["scope"], "users:read users:write");
        assert_eq!(
            parts(&r.str("access_token")).1["scope"],
            "users:read users:write"
        );

        // Issuing writes nothing beyond the key made on the first request.
        let rev = app.state.engine.revision();
        token_for(&app, &c).await;
        assert_eq!(app.state.engine.revision(), rev);
    })
    .await;
}

#[tokio::test]
async fn a_token_acts_only_within_its_scope_on_every_surface() {
    each_backend(|app| async move {
        let a = app.actors().await;
        with_key(&app).await;
        // A scoped key: its tokens carry its scopes, and may narrow them.
        let k = app
            .scoped_key(&a.org_admin.0, &["users:read", "users:write"])
            .await;
        let (key_id, secret) = (k["key_id"].as_str().unwrap(), k["key"].as_str().unwrap());
        let r = token_request(
            &app,
            FORM,
            Some((key_id, secret)),
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["scope"], "users:read users:write");
        let r = token_request(
            &app,
            FORM,
            Some((key_id, secret)),
            "grant_type=client_credentials&scope=users:write+grants:write",
        )
        .await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope")),
            "{}",
            r.body
        );
        let r = token_request(
            &app,
            FORM,
            Some((key_id, secret)),
            "grant_type=client_credentials&scope=users:read",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let read_only = r.str("access_token");
        let r = whoami(&app, &read_only, &a.target).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = app
            .patch(
                &format!("/v1/users/{}", a.target),
                &read_only,
                json!({"first_name": "No"}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "users:write is outside the token's scope: {}",
            r.body
        );

        // An unscoped key's token narrowed to `users:read`: Fynn needs
        // `account:role:write` among the scopes, Lexful `users:write`.
        let c = client(&app, &a.org_admin.0).await;
        let r = token_request(
            &app,
            FORM,
            None,
            format!(
                "grant_type=client_credentials&client_id={}&client_secret={}&scope=users:read",
                c.key_id, c.secret
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let narrow = r.str("access_token");
        let m = membership(&app, &a).await;
        let r = app
            .call(
                Method::PUT,
                &format!("/compat/fynn/accounts/{m}/role"),
                Some(&narrow),
                Some(json!({"role": "read-only"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "Fynn: {}", r.body);
        let r = app
            .call_with(
                Method::PATCH,
                &format!("/compat/lexful/v1/users/{}", a.target),
                Some(&narrow),
                Some(json!({"last_name": "Token"})),
                &[("x-account-id", &a.acc_a1)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "Lexful: {}", r.body);
        let wide = token_for(&app, &c).await;
        let r = app
            .call(
                Method::PUT,
                &format!("/compat/fynn/accounts/{m}/role"),
                Some(&wide),
                Some(json!({"role": "read-only"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "Fynn: {}", r.body);
    })
    .await;
}

#[tokio::test]
async fn token_errors_follow_rfc_6749() {
    each_backend(|app| async move {
        let a = app.actors().await;
        with_key(&app).await;
        let c = client(&app, &a.org_admin.0).await;
        let good = format!("client_id={}&client_secret={}", c.key_id, c.secret);
        let expect = |r: Resp, status: StatusCode, error: &str| {
            assert_eq!(r.status, status, "{}", r.body);
            assert_eq!(r.body["error"], error, "{}", r.body);
            assert!(r.body["error_description"].is_string(), "{}", r.body);
            assert_eq!(r.headers["content-type"], "application/json");
            assert_eq!(r.headers["cache-control"], "no-store");
            assert!(!r.body.to_string().contains(&c.secret));
            r
        };
        let bad = StatusCode::BAD_REQUEST;
        let unauthorized = StatusCode::UNAUTHORIZED;
        expect(
            token_request(&app, FORM, None, good.clone()).await,
            bad,
            "invalid_request",
        );
        expect(
            token_request(&app, FORM, None, format!("grant_type=password&{good}")).await,
            bad,
            "unsupported_grant_type",
        );
        expect(
            token_request(
                &app,
                FORM,
                None,
                format!("grant_type=client_credentials&grant_type=client_credentials&{good}"),
            )
            .await,
            bad,
            "invalid_request",
        );
        let r = expect(
            token_request(&app, FORM, None, "grant_type=client_credentials").await,
            unauthorized,
            "invalid_client",
        );
        assert!(r.headers.contains_key("www-authenticate"));
        let r = expect(
            token_request(
                &app,
                FORM,
                None,
                format!(
                    "grant_type=client_credentials&client_id=0123456789abcdef&client_secret={}",
                    c.secret
                ),
            )
            .await,
            unauthorized,
            "invalid_client",
        );
        assert!(
            !r.headers.contains_key("www-authenticate"),
            "no challenge without Basic"
        );
        expect(
            token_request(
                &app,
                FORM,
                None,
                format!(
                    "grant_type=client_credentials&client_id={}&client_secret=roster_{}_00",
                    c.key_id, c.key_id
                ),
            )
            .await,
            unauthorized,
            "invalid_client",
        );
        let r = expect(
            token_request(
                &app,
                FORM,
                Some((&c.key_id, "wrong")),
                "grant_type=client_credentials",
            )
            .await,
            unauthorized,
            "invalid_client",
        );
        assert_eq!(r.headers["www-authenticate"], "Basic realm=\"roster\"");
        let req = Request::builder()
            .method(Method::POST)
            .uri("/v1/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", "Basic %%%");
        let r = app
            .raw(
                req.body(Body::from("grant_type=client_credentials"))
                    .unwrap(),
            )
            .await;
        expect(r, unauthorized, "invalid_client");
        expect(
            token_request(
                &app,
                FORM,
                Some((&c.key_id, &c.secret)),
                format!("grant_type=client_credentials&client_secret={}", c.secret),
            )
            .await,
            bad,
            "invalid_request",
        );
        expect(
            token_request(
                &app,
                FORM,
                None,
                format!("grant_type=client_credentials&{good}&scope=users:read+nope:nope"),
            )
            .await,
            bad,
            "invalid_scope",
        );
        expect(
            token_request(
                &app,
                FORM,
                None,
                format!("grant_type=client_credentials&{good}&scope=organizations:write"),
            )
            .await,
            bad,
            "invalid_scope",
        );
        // Not a form; oversized; garbage.
        expect(
            token_request(
                &app,
                Some("application/json"),
                None,
                json!({"grant_type": "client_credentials"}).to_string(),
            )
            .await,
            bad,
            "invalid_request",
        );
        expect(
            token_request(
                &app,
                None,
                None,
                format!("grant_type=client_credentials&{good}"),
            )
            .await,
            bad,
            "invalid_request",
        );
        expect(
            token_request(
                &app,
                FORM,
                None,
                format!(
                    "grant_type=client_credentials&{good}&pad={}",
                    "x".repeat(10_000)
                ),
            )
            .await,
            bad,
            "invalid_request",
        );
        expect(
            token_request(&app, FORM, None, vec![0xff, 0xfe, b'&', b'=', b'%', 0x00]).await,
            bad,
            "invalid_request",
        );
        // The wrong method is the native 405.
        let r = app.call(Method::GET, "/v1/oauth/token", None, None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

        // A revoked key; a disabled user.
        let r = app
            .delete(&format!("/v1/api-keys/{}", c.id), &app.owner)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        expect(
            token_request(
                &app,
                FORM,
                None,
                format!("grant_type=client_credentials&{good}"),
            )
            .await,
            unauthorized,
            "invalid_client",
        );
        let v = client(&app, &a.viewer.0).await;
        let r = app
            .patch(
                &format!("/v1/users/{}", a.viewer.0),
                &app.owner,
                json!({"status": "disabled"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        expect(
            token_request(
                &app,
                FORM,
                Some((&v.key_id, &v.secret)),
                "grant_type=client_credentials",
            )
            .await,
            unauthorized,
            "invalid_client",
        );
    })
    .await;
}

#[tokio::test]
async fn failed_client_authentication_is_throttled_and_audited() {
    each_backend(|app| async move {
        let a = app.actors().await;
        with_key(&app).await;
        let c = client(&app, &a.org_admin.0).await;
        for _ in 0..10 {
            let r = token_request(
                &app,
                FORM,
                Some((&c.key_id, "roster_guess")),
                "grant_type=client_credentials",
            )
            .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        }
        // Locked out, even with the right secret; other clients are not.
        let r = token_request(
            &app,
            FORM,
            Some((&c.key_id, &c.secret)),
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
        assert!(r.headers.contains_key("retry-after"));
        let other = client(&app, &a.viewer.0).await;
        token_for(&app, &other).await;

        // Refused tokens are audited too, naming Roster as the issuer.
        let good = token_for(&app, &other).await;
        let last = if good.ends_with('A') { 'B' } else { 'A' };
        let tampered = format!("{}{last}", &good[..good.len() - 1]);
        let r = whoami(&app, &tampered, &a.target).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let events = crate::support::native_support::audit_events(&app).await;
            let failed: Vec<_> = events
                .iter()
                .filter(|e| e.action == "auth.failed")
                .collect();
            let by_key = failed
                .iter()
                .filter(|e| {
                    e.after
                        .as_ref()
                        .is_some_and(|a| a["key_id"] == c.key_id.as_str())
                })
                .count();
            let by_token = failed.iter().any(|e| {
                e.after
                    .as_ref()
                    .is_some_and(|a| a["issuer"] == app.state.config.issuer.as_str())
            });
            if by_key >= 10 && by_token {
                let text =
                    serde_json::to_string(&failed.iter().map(|e| &e.after).collect::<Vec<_>>())
                        .unwrap();
                assert!(
                    !text.contains("roster_guess") && !text.contains(&good[..40]),
                    "{text}"
                );
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "auth.failed events: {failed:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn the_published_keys_verify_a_token_and_discovery_names_them() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let c = client(&app, &a.org_admin.0).await;
        let token = token_for(&app, &c).await;
        let r = app
            .call(Method::GET, "/.well-known/jwks.json", None, None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age="));
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(r.body.clone()).unwrap();
        assert!(
            !r.body.to_string().contains("\"d\""),
            "no private part: {}",
            r.body
        );
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        let jwk = set.find(&kid).expect("the token's kid is published");
        let issuer = app.state.config.issuer.clone();
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_issuer(&[&issuer]);
        v.set_audience(&[&issuer]);
        let data = jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
            .unwrap();
        assert_eq!(data.claims.sub, a.org_admin.0);

        let r = app
            .call(Method::GET, "/.well-known/openid-configuration", None, None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let d = &r.body;
        assert_eq!(d["issuer"], issuer);
        assert_eq!(d["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
        assert_eq!(d["token_endpoint"], format!("{issuer}/v1/oauth/token"));
        assert_eq!(d["grant_types_supported"], json!(["client_credentials"]));
        assert_eq!(
            d["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post"])
        );
        assert_eq!(d["id_token_signing_alg_values_supported"], json!(["EdDSA"]));
        assert!(d["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("users:read")));
    })
    .await;
}

/// The target's membership id in A1.
async fn membership(app: &TestApp, a: &Actors) -> String {
    let r = app
        .get(&format!("/v1/accounts/{}/members", a.acc_a1), &app.owner)
        .await;
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == a.target.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_bearer_surface_accepts_a_token_and_the_others_keep_their_schemes() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let c = client(&app, &a.org_admin.0).await;
        let token = token_for(&app, &c).await;
        let m = membership(&app, &a).await;
        // SoftwareOne: platform operators hold `platform:accounts:manage` in
        // an operations account of the organization.
        let ops = app.account(&a.org_a, "Ops A", "operations").await;
        let op = app.user(&a.org_a, "operator@a.example").await;
        app.grant(&op, "admin", json!({"type": "account", "id": ops}))
            .await;
        let op_token = token_for(&app, &client(&app, &op).await).await;

        let r = app
            .call(
                Method::PUT,
                &format!(
                    "/compat/softwareone/public/v1/accounts/accounts/{}/users/{}",
                    a.acc_a1, a.target
                ),
                Some(&op_token),
                Some(json!({"firstName": "Tok"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "SoftwareOne: {}", r.body);
        let r = app
            .call_with(
                Method::PATCH,
                &format!("/compat/lexful/v1/users/{}", a.target),
                Some(&token),
                Some(json!({"last_name": "Token"})),
                &[("x-account-id", &a.acc_a1)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "Lexful: {}", r.body);
        let r = app
            .call(
                Method::PUT,
                &format!("/compat/fynn/accounts/{m}/role"),
                Some(&token),
                Some(json!({"role": "read-only"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "Fynn: {}", r.body);
        let r = app
            .post(
                "/v1/check",
                &token,
                json!({"user_id": a.target, "permission": "users:read", "account_id": a.acc_a1}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "native: {}", r.body);
        let r = whoami(&app, &token, &a.target).await;
        assert_eq!(r.body["last_name"], "Token", "{}", r.body);

        // Crux (`Authorization: Token`) and Yuno (key id and secret headers)
        // take API keys only.
        let crux = Request::builder()
            .method(Method::PATCH)
            .uri(format!(
                "/compat/crux/organizations/users/permissions/{}/",
                a.target
            ))
            .header("authorization", format!("Token {token}"))
            .header("content-type", "application/json")
            .body(Body::from(json!({"permissions": []}).to_string()))
            .unwrap();
        assert_eq!(app.raw(crux).await.status, StatusCode::UNAUTHORIZED);
        let yuno = Request::builder()
            .method(Method::PATCH)
            .uri(format!(
                "/compat/yuno/v1/organizations/users/{}/account-permissions",
                a.target
            ))
            .header("public-api-key", &c.key_id)
            .header("private-secret-key", &token)
            .header("content-type", "application/json")
            .body(Body::from(json!({"account_permissions": []}).to_string()))
            .unwrap();
        assert_eq!(app.raw(yuno).await.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn a_token_is_refused_on_the_next_request_once_its_key_user_or_signing_key_goes() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let refused = |r: Resp, why: &str| {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{why}: {}", r.body);
            assert!(
                r.body["detail"].as_str().unwrap().contains(why),
                "{why}: {}",
                r.body
            );
        };

        // The API key is revoked.
        let c = client(&app, &a.org_admin.0).await;
        let token = token_for(&app, &c).await;
        assert_eq!(whoami(&app, &token, &a.target).await.status, StatusCode::OK);
        app.delete(&format!("/v1/api-keys/{}", c.id), &app.owner)
            .await;
        refused(whoami(&app, &token, &a.target).await, "API key is revoked");

        // The user is disabled; enabled again, the token works again (it
        // has not expired).
        let c = client(&app, &a.viewer.0).await;
        let token = token_for(&app, &c).await;
        assert_eq!(whoami(&app, &token, &a.target).await.status, StatusCode::OK);
        app.patch(
            &format!("/v1/users/{}", a.viewer.0),
            &app.owner,
            json!({"status": "disabled"}),
        )
        .await;
        refused(whoami(&app, &token, &a.target).await, "user is not active");
        app.patch(
            &format!("/v1/users/{}", a.viewer.0),
            &app.owner,
            json!({"status": "active"}),
        )
        .await;
        assert_eq!(whoami(&app, &token, &a.target).await.status, StatusCode::OK);

        // The user is deleted.
        let c = client(&app, &a.nobody.0).await;
        let token = token_for(&app, &c).await;
        assert_eq!(
            whoami(&app, &token, &a.nobody.0).await.status,
            StatusCode::OK
        );
        let r = app
            .delete(&format!("/v1/users/{}", a.nobody.0), &app.owner)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        refused(whoami(&app, &token, &a.target).await, "user is not active");

        // The signing key is revoked: a new key signs from then on.
        let c = client(&app, &a.org_admin.0).await;
        let token = token_for(&app, &c).await;
        assert_eq!(whoami(&app, &token, &a.target).await.status, StatusCode::OK);
        let old = app
            .state
            .engine
            .snapshot()
            .current_signing_key()
            .unwrap()
            .id;
        keys::revoke(&app.state, old, SigningAlgorithm::ES256)
            .await
            .unwrap();
        refused(
            whoami(&app, &token, &a.target).await,
            "signing key is revoked",
        );
        let fresh = token_for(&app, &c).await;
        let (h, _) = parts(&fresh);
        assert_eq!(h["alg"], "ES256");
        assert_ne!(h["kid"], old.to_string());
        assert_eq!(whoami(&app, &fresh, &a.target).await.status, StatusCode::OK);
        // The revoked key is no longer published; the audit trail has the
        // key's life without its private part.
        let r = app
            .call(Method::GET, "/.well-known/jwks.json", None, None)
            .await;
        assert!(!r.body.to_string().contains(&old.to_string()), "{}", r.body);
        let r = app.get("/v1/audit-events?limit=1000", &app.owner).await;
        let events: Vec<&Value> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["target_type"] == "signing_key")
            .collect();
        let actions: Vec<&str> = events
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "signing_key.create",
                "signing_key.revoke",
                "signing_key.create"
            ]
        );
        assert!(
            !serde_json::to_string(&events).unwrap().contains("private"),
            "{events:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn forged_tampered_expired_and_malformed_tokens_are_refused() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let c = client(&app, &a.org_admin.0).await;
        let user = a.org_admin.0.clone();
        let good = token_for(&app, &c).await;
        let refused = |r: Resp, why: &str| {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{why}: {}", r.body);
            assert!(
                r.body["detail"].as_str().unwrap().contains(why),
                "{why}: {}",
                r.body
            );
        };
        // Our own forgery with the right key is accepted: the checks below
        // each break one thing.
        let ok = forge(&app, header(&app), &claims(&app, &user, &c));
        assert_eq!(whoami(&app, &ok, &a.target).await.status, StatusCode::OK);

        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut expired = claims(&app, &user, &c);
        expired["exp"] = json!(now - 120);
        refused(
            whoami(&app, &forge(&app, header(&app), &expired), &a.target).await,
            "expired",
        );
        let mut future = claims(&app, &user, &c);
        future["nbf"] = json!(now + 600);
        refused(
            whoami(&app, &forge(&app, header(&app), &future), &a.target).await,
            "not valid yet",
        );
        let mut future = claims(&app, &user, &c);
        future["iat"] = json!(now + 600);
        refused(
            whoami(&app, &forge(&app, header(&app), &future), &a.target).await,
            "not valid yet",
        );
        let mut aud = claims(&app, &user, &c);
        aud["aud"] = json!("https://elsewhere.example");
        refused(
            whoami(&app, &forge(&app, header(&app), &aud), &a.target).await,
            "audience",
        );
        let mut other = claims(&app, &user, &c);
        other["sub"] = json!(a.viewer.0);
        refused(
            whoami(&app, &forge(&app, header(&app), &other), &a.target).await,
            "API key is unknown",
        );
        let mut no_sub = claims(&app, &user, &c);
        no_sub.as_object_mut().unwrap().remove("sub");
        refused(
            whoami(&app, &forge(&app, header(&app), &no_sub), &a.target).await,
            "sub",
        );

        let mut h = header(&app);
        h.kid = None;
        refused(
            whoami(&app, &forge(&app, h, &claims(&app, &user, &c)), &a.target).await,
            "no `kid`",
        );
        let mut h = header(&app);
        h.kid = Some(uuid::Uuid::now_v7().to_string());
        refused(
            whoami(&app, &forge(&app, h, &claims(&app, &user, &c)), &a.target).await,
            "names no Roster signing key",
        );
        let mut h = header(&app);
        h.crit = Some(vec!["exp".into()]);
        refused(
            whoami(&app, &forge(&app, h, &claims(&app, &user, &c)), &a.target).await,
            "crit",
        );

        // Signed by a key the model does not hold, under a kid it does.
        let stranger = roster_server::tokens::new_signing_key(SigningAlgorithm::EdDSA).unwrap();
        let forged = jsonwebtoken::encode(
            &header(&app),
            &claims(&app, &user, &c),
            &EncodingKey::from_ed_der(stranger.private_key.pkcs8_der()),
        )
        .unwrap();
        refused(whoami(&app, &forged, &a.target).await, "signature");
        // An ES256 key's token under the EdDSA key's kid.
        let es = roster_server::tokens::new_signing_key(SigningAlgorithm::ES256).unwrap();
        let mut h = header(&app);
        h.alg = Algorithm::ES256;
        let forged = jsonwebtoken::encode(
            &h,
            &claims(&app, &user, &c),
            &EncodingKey::from_ec_der(es.private_key.pkcs8_der()),
        )
        .unwrap();
        refused(whoami(&app, &forged, &a.target).await, "`alg`");
        // `alg: none`.
        let payload = good.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{payload}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"x"}"#)
        );
        refused(
            whoami(&app, &format!("{none}."), &a.target).await,
            "malformed",
        );

        // Tampered: another subject in the payload, the signature kept.
        let mut segs: Vec<String> = good.split('.').map(str::to_owned).collect();
        let mut payload = parts(&good).1;
        payload["sub"] = json!(a.viewer.0);
        segs[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
        refused(whoami(&app, &segs.join("."), &a.target).await, "signature");
        // A flipped signature byte.
        let mut sig = URL_SAFE_NO_PAD
            .decode(good.rsplit('.').next().unwrap())
            .unwrap();
        sig[0] ^= 1;
        let flipped = format!(
            "{}.{}",
            good.rsplit_once('.').unwrap().0,
            URL_SAFE_NO_PAD.encode(sig)
        );
        refused(whoami(&app, &flipped, &a.target).await, "signature");

        // The good token still works (nothing above poisoned the cache).
        assert_eq!(whoami(&app, &good, &a.target).await.status, StatusCode::OK);
        // Another issuer's token is not Roster's to judge: an unknown credential.
        let mut foreign = claims(&app, &user, &c);
        foreign["iss"] = json!("https://idp.example");
        let r = whoami(&app, &forge(&app, header(&app), &foreign), &a.target).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn a_rotation_by_another_process_reaches_a_running_server() {
    let config = Config {
        follow_interval: Duration::from_millis(50),
        ..Config::default()
    };
    crate::support::common::each_backend_with(config, |app| async move {
        app.state.spawn_follower();
        let a = app.actors().await;
        let c = client(&app, &a.org_admin.0).await;
        let old_token = token_for(&app, &c).await;
        let old_kid = parts(&old_token).0["kid"].as_str().unwrap().to_owned();

        // `roster keys rotate`: another process on the same database.
        let cli = AppState::start(app.db.open().await.unwrap(), Config::default())
            .await
            .unwrap();
        let rotation = keys::rotate(&cli, SigningAlgorithm::EdDSA).await.unwrap();
        let new_kid = rotation.current.id.to_string();
        assert_eq!(rotation.retired.len(), 1);
        assert_eq!(rotation.retired[0].id.to_string(), old_kid);
        let until =
            rotation.retired[0].verify_until.unwrap() - rotation.retired[0].retired_at.unwrap();
        assert_eq!(until, time::Duration::seconds(3660));

        // The server hears of it through the change log.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while app
            .state
            .engine
            .snapshot()
            .current_signing_key()
            .map(|k| k.id.to_string())
            != Some(new_kid.clone())
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server never saw the rotation"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let new_token = token_for(&app, &c).await;
        assert_eq!(parts(&new_token).0["kid"], new_kid);
        assert_eq!(
            whoami(&app, &old_token, &a.target).await.status,
            StatusCode::OK,
            "the old key still verifies"
        );
        assert_eq!(
            whoami(&app, &new_token, &a.target).await.status,
            StatusCode::OK
        );
        let r = app
            .call(Method::GET, "/.well-known/jwks.json", None, None)
            .await;
        let kids: Vec<&str> = r.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, [old_kid.as_str(), new_kid.as_str()]);
        let listed = keys::list(&app.state);
        assert_eq!(listed.len(), 2);
        assert!(!serde_json::to_string(&listed).unwrap().contains("private"));

        // Revoked by the other process: refused on the server at once.
        keys::revoke(&cli, rotation.retired[0].id, SigningAlgorithm::EdDSA)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while whoami(&app, &old_token, &a.target).await.status == StatusCode::OK {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server never saw the revocation"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            whoami(&app, &new_token, &a.target).await.status,
            StatusCode::OK
        );
    })
    .await;
}
