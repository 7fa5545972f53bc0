//! `/v1/organizations/{id}/identity-providers` and `/v1/identity-providers/{id}`:
//! CRUD with ETags, audit, tenant isolation, who may manage them, bad
//! bodies, and the outbound guard on `jwks_uri`.

use super::{config, fixture, register, AUDIENCE, ISSUER};
use crate::support::common::{each_backend, each_backend_with};
use crate::support::idp::TestKey;
use crate::support::native_support::{assert_problem, audit_events, etag, fingerprint};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

fn body(jwks_uri: &str) -> Value {
    json!({"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": jwks_uri})
}

#[tokio::test]
async fn create_read_list_update_delete_with_etags_and_audit() {
    each_backend_with(config(), |app| async move {
        let f = fixture(&app).await;
        let path = format!("/v1/identity-providers/{}", f.provider);
        let r = app.get(&path, &app.owner).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["name"], "corp");
        assert_eq!(r.body["organization_id"], f.org.as_str());
        assert_eq!(r.body["issuer"], ISSUER);
        assert_eq!(r.body["audience"], AUDIENCE);
        assert_eq!(r.body["jwks_uri"], f.jwks.url());
        assert_eq!(r.body["jwks"], Value::Null);
        assert_eq!(r.body["algorithms"], json!(["RS256", "ES256", "EdDSA"]));
        assert_eq!(r.body["user_claim"], "sub");
        let rev = etag(&r);

        // Inline keys, pinned algorithms, mapping by email.
        let ed = TestKey::ed("ed-1");
        let second = register(
            &app,
            &f.org,
            json!({"name": "partner", "issuer": "https://partner.example", "audience": "x",
                   "jwks": {"keys": [ed.jwk()]}, "algorithms": ["EdDSA"], "user_claim": "email"}),
        )
        .await;
        let list = app
            .get(
                &format!("/v1/organizations/{}/identity-providers?limit=1", f.org),
                &app.owner,
            )
            .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
        let next = list.str("next_cursor");
        let rest = app
            .get(
                &format!(
                    "/v1/organizations/{}/identity-providers?cursor={next}",
                    f.org
                ),
                &app.owner,
            )
            .await;
        let ids: Vec<&str> = list.body["items"]
            .as_array()
            .into_iter()
            .chain(rest.body["items"].as_array())
            .flatten()
            .filter_map(|p| p["id"].as_str())
            .collect();
        assert_eq!(ids, [f.provider.as_str(), second.as_str()]);
        assert_eq!(rest.body["items"][0]["jwks"]["keys"][0]["kid"], "ed-1");

        // A stale If-Match is 412; a fresh one applies; read-only fields are ignored.
        let r = app
            .call_with(
                Method::PATCH,
                &path,
                Some(&app.owner),
                Some(json!({"audience": "other"})),
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_problem(&r, 412, None);
        let r = app
            .call_with(
                Method::PATCH,
                &path,
                Some(&app.owner),
                Some(json!({"audience": "other", "algorithms": ["ES256"], "id": "ignored", "revision": 1})),
                &[("if-match", &format!("\"{rev}\""))],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["audience"], "other");
        assert_eq!(r.body["algorithms"], json!(["ES256"]));
        assert!(etag(&r) > rev);
        // Switching to inline keys drops the URL.
        let r = app
            .patch(&path, &app.owner, json!({"jwks": {"keys": [ed.jwk()]}}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["jwks_uri"], Value::Null);
        // The name is unique in its organization.
        let r = app.patch(&path, &app.owner, json!({"name": "partner"})).await;
        assert_problem(&r, 409, Some("name"));

        let r = app.delete(&path, &app.owner).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        assert_problem(&app.get(&path, &app.owner).await, 404, None);

        let actions: Vec<String> = audit_events(&app)
            .await
            .into_iter()
            .filter(|e| e.target_type == "identity_provider")
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            [
                "identity_provider.create",
                "identity_provider.create",
                "identity_provider.update",
                "identity_provider.update",
                "identity_provider.delete"
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn another_tenant_sees_404_and_managing_needs_organizations_write() {
    each_backend_with(config(), |app| async move {
        let a = app.actors().await;
        let key = TestKey::ec("ec-1");
        let inline = json!({"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, "jwks": {"keys": [key.jwk()]}});
        let id = register(&app, &a.org_a, inline.clone()).await;
        let path = format!("/v1/identity-providers/{id}");
        let list = format!("/v1/organizations/{}/identity-providers", a.org_a);
        let missing = "/v1/identity-providers/00000000-0000-7000-8000-000000000000";

        // Another tenant: exactly like a missing provider.
        let other = &a.other_tenant.1;
        assert_problem(&app.get(&path, other).await, 404, None);
        assert_problem(&app.get(missing, other).await, 404, None);
        assert_problem(&app.get(&list, other).await, 404, None);
        assert_problem(
            &app.patch(&path, other, json!({"audience": "x"})).await,
            404,
            None,
        );
        assert_problem(&app.delete(&path, other).await, 404, None);
        assert_problem(&app.post(&list, other, inline.clone()).await, 404, None);

        // Reading needs `organizations:read` (viewer, admin); managing
        // `organizations:write` (owner only).
        for tok in [&a.viewer.1, &a.org_admin.1] {
            assert_eq!(app.get(&path, tok).await.status, StatusCode::OK);
            assert_eq!(app.get(&list, tok).await.status, StatusCode::OK);
        }
        let before = fingerprint(&app, Some(&path)).await;
        for tok in [&a.org_admin.1, &a.viewer.1, &a.nobody.1] {
            let mut again = inline.clone();
            again["name"] = json!("second");
            assert_problem(&app.post(&list, tok, again).await, 403, None);
            assert_problem(
                &app.patch(&path, tok, json!({"audience": "x"})).await,
                403,
                None,
            );
            assert_problem(&app.delete(&path, tok).await, 403, None);
        }
        // Without the right, a `jwks_uri` is not even resolved: 403, not 400.
        let r = app
            .post(&list, &a.org_admin.1, body("https://10.0.0.1/jwks"))
            .await;
        assert_problem(&r, 403, None);
        assert_eq!(fingerprint(&app, Some(&path)).await, before);
        assert_problem(&app.get(&list, &a.nobody.1).await, 403, None);
    })
    .await;
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field() {
    each_backend_with(config(), |app| async move {
        let org = app.org("Tenant A").await;
        let list = format!("/v1/organizations/{org}/identity-providers");
        let rsa = TestKey::rsa("rsa-1");
        let mut private = rsa.jwk();
        private["d"] = json!("AQAB");
        let good = json!({"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, "jwks": {"keys": [rsa.jwk()]}});
        let with = |k: &str, v: Value| {
            let mut b = good.clone();
            b[k] = v;
            b
        };
        let without = |k: &str| {
            let mut b = good.clone();
            b.as_object_mut().map(|o| o.remove(k));
            b
        };
        let before = fingerprint(&app, None).await;
        for (b, field) in [
            (with("algorithms", json!(["HS256"])), "algorithms[0]"),
            (with("algorithms", json!(["RS256", "none"])), "algorithms[1]"),
            (with("algorithms", json!([])), "algorithms"),
            (with("algorithms", json!(["RS1"])), "algorithms[0]"),
            (with("jwks_uri", json!("https://idp.example/jwks")), "jwks"),
            (without("jwks"), "jwks_uri"),
            (with("jwks", json!({"keys": [private]})), "jwks.keys[0].d"),
            (
                with("jwks", json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
                "jwks.keys[0].kty",
            ),
            (
                with(
                    "jwks",
                    json!({"keys": [{"kty": "RSA", "n": "not base64!", "e": "AQAB"}]}),
                ),
                "jwks.keys[0]",
            ),
            (with("jwks", json!({"keys": []})), "jwks.keys"),
            (with("jwks", json!("keys")), "jwks"),
            (with("user_claim", json!("upn")), "user_claim"),
            (with("issuer", json!("")), "issuer"),
            (with("issuer", json!("a b")), "issuer"),
            (with("audience", json!("")), "audience"),
            (with("name", json!("")), "name"),
            (with("surprise", json!(1)), "surprise"),
            (without("issuer"), "issuer"),
        ] {
            let r = app.post(&list, &app.owner, b.clone()).await;
            assert_problem(&r, 400, Some(field));
        }
        // A URL that is not HTTP(S), or that carries credentials.
        for uri in [
            "ftp://idp.example/jwks",
            "https://u:p@idp.example/jwks",
            "not a url",
        ] {
            let mut b = without("jwks");
            b["jwks_uri"] = json!(uri);
            assert_problem(&app.post(&list, &app.owner, b).await, 400, Some("jwks_uri"));
        }
        assert_eq!(fingerprint(&app, None).await, before);
        // Names are unique within an organization only.
        register(&app, &org, good.clone()).await;
        assert_problem(&app.post(&list, &app.owner, good.clone()).await, 409, Some("name"));
        let other = app.org("Tenant B").await;
        register(&app, &other, good.clone()).await;
    })
    .await;
}

/// Without `--allow-private-targets`, a `jwks_uri` must be `https` and
/// must not reach loopback, private, link-local or metadata addresses.
#[tokio::test]
async fn private_targets_are_refused_without_the_flag() {
    each_backend(|app| async move {
        let org = app.org("Tenant A").await;
        let list = format!("/v1/organizations/{org}/identity-providers");
        let before = fingerprint(&app, None).await;
        for uri in [
            "http://127.0.0.1:8080/jwks",
            "https://127.0.0.1/jwks",
            "https://10.0.0.1/jwks",
            "https://172.16.0.1/jwks",
            "https://192.168.0.1/jwks",
            "https://100.64.0.1/jwks",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/jwks",
            "https://[fd00::1]/jwks",
            "https://[fe80::1]/jwks",
            "https://[::ffff:127.0.0.1]/jwks",
            "https://0.0.0.0/jwks",
            "https://localhost/jwks",
            "http://idp.example/jwks",
        ] {
            let r = app.post(&list, &app.owner, body(uri)).await;
            assert_problem(&r, 400, Some("jwks_uri"));
        }
        assert_eq!(fingerprint(&app, None).await, before);
    })
    .await;
}

#[tokio::test]
async fn deleting_an_organization_deletes_its_providers() {
    each_backend_with(config(), |app| async move {
        let org = app.org("Short lived").await;
        let key = TestKey::ed("ed-1");
        let id = register(
            &app,
            &org,
            json!({"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, "jwks": {"keys": [key.jwk()]}}),
        )
        .await;
        let r = app.delete(&format!("/v1/organizations/{org}"), &app.owner).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        assert_problem(
            &app.get(&format!("/v1/identity-providers/{id}"), &app.owner).await,
            404,
            None,
        );
        let deleted = audit_events(&app)
            .await
            .into_iter()
            .any(|e| e.action == "identity_provider.delete" && e.target_id == id);
        assert!(deleted);
        // And a restart loads no orphan.
        let model = app.state.store.load_model().await.expect("load");
        assert_eq!(model.identity_providers().count(), 0);
    })
    .await;
}
