//! Webhook subscriptions: CRUD, permissions (`webhooks:write`), tenant
//! isolation, bad input, the SSRF guard at registration, secrets never in
//! the audit trail or the event feed.

use crate::support::common::{each_backend, each_backend_with, TestApp};
use crate::support::native_support::{assert_problem, audit_events, etag, fingerprint};
use axum::http::{Method, StatusCode};
use roster_server::Config;
use serde_json::{json, Value};

fn open() -> Config {
    Config {
        allow_private_targets: true,
        ..Config::default()
    }
}

async fn create(
    app: &TestApp,
    org: &str,
    token: &str,
    body: Value,
) -> crate::support::common::Resp {
    app.post(&format!("/v1/organizations/{org}/webhooks"), token, body)
        .await
}

#[tokio::test]
async fn crud_with_the_secret_shown_once() {
    each_backend_with(open(), |app| async move {
        let org = app.org.clone();
        let r = create(
            &app,
            &org,
            &app.owner,
            json!({"url": "http://127.0.0.1:9/hook", "event_types": ["user.created", "grant.created"], "description": "crm sync"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.str("id");
        let secret = r.str("secret");
        assert!(secret.starts_with("whsec_"), "{secret}");
        assert_eq!(r.body["event_types"], json!(["grant.created", "user.created"]));
        assert_eq!(r.body["enabled"], json!(true));
        assert_eq!(r.body["secrets_expire_at"], json!([null]));
        assert!(r.revision().is_some());

        let got = app.get(&format!("/v1/webhooks/{id}"), &app.owner).await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.body);
        assert!(got.body.get("secret").is_none());
        assert!(!got.body.to_string().contains(&secret));

        let list = app
            .get(&format!("/v1/organizations/{org}/webhooks?limit=1"), &app.owner)
            .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        assert_eq!(list.body["items"][0]["id"], json!(id));
        assert!(!list.body.to_string().contains(&secret));

        // PATCH with If-Match; the view sent back is accepted.
        let mut view = got.body.clone();
        view["description"] = json!("renamed");
        view["event_types"] = json!(["*"]);
        let tag = format!("\"{}\"", etag(&got));
        let r = app
            .call_with(Method::PATCH, &format!("/v1/webhooks/{id}"), Some(&app.owner), Some(view), &[("if-match", &tag)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["description"], json!("renamed"));
        assert_eq!(r.body["event_types"], json!(["*"]));
        // A stale If-Match is 412.
        let r = app
            .call_with(Method::PATCH, &format!("/v1/webhooks/{id}"), Some(&app.owner), Some(json!({"enabled": false})), &[("if-match", &tag)])
            .await;
        assert_problem(&r, 412, None);

        // Rotation: a new secret, the old one expiring in 24 h.
        let r = app
            .call(Method::POST, &format!("/v1/webhooks/{id}/rotate-secret"), Some(&app.owner), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let second = r.str("secret");
        assert_ne!(second, secret);
        let expiries = r.body["secrets_expire_at"].as_array().unwrap().clone();
        assert_eq!(expiries.len(), 2, "{}", r.body);
        assert!(expiries[0].is_null() && expiries[1].is_string(), "{}", r.body);

        // Deliveries: empty; replay accepted.
        let r = app.get(&format!("/v1/webhooks/{id}/deliveries"), &app.owner).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["items"], json!([]));
        let r = app.post(&format!("/v1/webhooks/{id}/replay"), &app.owner, json!({"after": 0})).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);

        // No secret in the audit trail or the feed, ever.
        for e in audit_events(&app).await {
            let text = serde_json::to_string(&e).unwrap();
            assert!(!text.contains(&secret) && !text.contains(&second), "{text}");
        }
        let events = app
            .state
            .store
            .events(&roster_store::EventFilter { limit: 100_000, ..Default::default() })
            .await
            .unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        for k in ["webhook.created", "webhook.updated", "webhook.secret_rotated"] {
            assert!(kinds.contains(&k), "{k} missing: {kinds:?}");
        }
        for e in &events {
            let text = serde_json::to_string(e).unwrap();
            assert!(!text.contains("whsec_"), "{text}");
        }

        let r = app.delete(&format!("/v1/webhooks/{id}"), &app.owner).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        let r = app.get(&format!("/v1/webhooks/{id}"), &app.owner).await;
        assert_problem(&r, 404, None);
    })
    .await;
}

#[tokio::test]
async fn permissions_and_tenant_isolation() {
    each_backend_with(open(), |app| async move {
        let a = app.actors().await;
        let body = json!({"url": "http://127.0.0.1:9/hook"});
        // The org admin (admin holds webhooks:write) may; others may not.
        let r = create(&app, &a.org_a, &a.org_admin.1, body.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.str("id");
        for (who, token) in [
            ("viewer", &a.viewer.1),
            ("nobody", &a.nobody.1),
            ("account admin", &a.account_admin.1),
        ] {
            let r = create(&app, &a.org_a, token, body.clone()).await;
            assert!(matches!(r.status.as_u16(), 403 | 404), "{who}: {}", r.body);
            let r = app.get(&format!("/v1/webhooks/{id}"), token).await;
            assert!(matches!(r.status.as_u16(), 403 | 404), "{who}: {}", r.body);
        }
        // Another tenant's admin: 404 everywhere, as for a missing one.
        let other = &a.other_tenant.1;
        let before = fingerprint(&app, Some(&format!("/v1/webhooks/{id}"))).await;
        for (m, path, b) in [
            (Method::GET, format!("/v1/webhooks/{id}"), None),
            (
                Method::PATCH,
                format!("/v1/webhooks/{id}"),
                Some(json!({"enabled": false})),
            ),
            (Method::DELETE, format!("/v1/webhooks/{id}"), None),
            (Method::GET, format!("/v1/webhooks/{id}/deliveries"), None),
            (
                Method::POST,
                format!("/v1/webhooks/{id}/replay"),
                Some(json!({"after": 0})),
            ),
            (
                Method::POST,
                format!("/v1/webhooks/{id}/rotate-secret"),
                None,
            ),
            (
                Method::GET,
                format!("/v1/organizations/{}/webhooks", a.org_a),
                None,
            ),
            (
                Method::POST,
                format!("/v1/organizations/{}/webhooks", a.org_a),
                Some(body.clone()),
            ),
        ] {
            let r = app.call(m.clone(), &path, Some(other), b).await;
            assert_problem(&r, 404, None);
        }
        assert_eq!(
            fingerprint(&app, Some(&format!("/v1/webhooks/{id}"))).await,
            before
        );
        // B's admin manages B's own.
        let r = create(&app, &a.org_b, other, body.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let list = app
            .get(&format!("/v1/organizations/{}/webhooks", a.org_b), other)
            .await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn bad_input_names_the_field() {
    each_backend_with(open(), |app| async move {
        let org = app.org.clone();
        let before = fingerprint(&app, None).await;
        for (body, field) in [
            (json!({"url": "ftp://hooks.example/x"}), "url"),
            (json!({"url": "not a url"}), "url"),
            (json!({"url": "https://user:pw@hooks.example/x"}), "url"),
            (
                json!({"url": format!("https://hooks.example/{}", "a".repeat(2100))}),
                "url",
            ),
            (
                json!({"url": "http://127.0.0.1:9/x", "event_types": ["user.exploded"]}),
                "event_types[0]",
            ),
            (
                json!({"url": "http://127.0.0.1:9/x", "event_types": []}),
                "event_types",
            ),
            (
                json!({"url": "http://127.0.0.1:9/x", "event_types": ["*", "user.created"]}),
                "event_types",
            ),
            (
                json!({"url": "http://127.0.0.1:9/x", "description": "x".repeat(1001)}),
                "description",
            ),
            (
                json!({"url": "http://127.0.0.1:9/x", "secret": "mine"}),
                "secret",
            ),
            (json!({"event_types": ["*"]}), "url"),
        ] {
            let r = create(&app, &org, &app.owner, body.clone()).await;
            assert_problem(&r, 400, Some(field));
        }
        let r = app
            .post(
                &format!("/v1/organizations/{org}/webhooks"),
                &app.owner,
                json!({"url": "http://127.0.0.1:9/x"}),
            )
            .await;
        let id = r.str("id");
        for (body, field) in [
            (json!({"after": -1}), "after"),
            (json!({"after": 1_000_000_000}), "after"),
            (json!({}), "after"),
        ] {
            let r = app
                .post(&format!("/v1/webhooks/{id}/replay"), &app.owner, body)
                .await;
            assert_problem(&r, 400, Some(field));
        }
        let r = app
            .patch(
                &format!("/v1/webhooks/{id}"),
                &app.owner,
                json!({"url": null}),
            )
            .await;
        assert_problem(&r, 400, Some("url"));
        let r = app
            .get(
                &format!("/v1/webhooks/{id}/deliveries?cursor=zz"),
                &app.owner,
            )
            .await;
        assert_problem(&r, 400, Some("cursor"));
        let r = app.get("/v1/webhooks/not-an-id", &app.owner).await;
        assert_eq!(r.status.as_u16(), 400, "{}", r.body);
        let _ = before;
    })
    .await;
}

#[tokio::test]
async fn private_addresses_are_refused_without_the_flag() {
    each_backend(|app| async move {
        let org = app.org.clone();
        let before = fingerprint(&app, None).await;
        for url in [
            "http://127.0.0.1:8080/hook",
            "https://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://localhost/hook",
            "http://192.168.1.1/hook",
        ] {
            let r = create(&app, &org, &app.owner, json!({ "url": url })).await;
            assert_problem(&r, 400, Some("url"));
        }
        assert_eq!(fingerprint(&app, None).await, before);
        // A public address is accepted (nothing is sent at registration).
        let r = create(
            &app,
            &org,
            &app.owner,
            json!({ "url": "https://1.1.1.1/hook" }),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.str("id");
        let r = app
            .patch(
                &format!("/v1/webhooks/{id}"),
                &app.owner,
                json!({"url": "http://127.0.0.2/x"}),
            )
            .await;
        assert_problem(&r, 400, Some("url"));
    })
    .await;
}

#[tokio::test]
async fn an_organization_has_at_most_fifty_and_takes_them_when_it_goes() {
    each_backend_with(open(), |app| async move {
        let org = app.org("Hooked").await;
        for i in 0..roster_domain::ops::MAX_WEBHOOKS_PER_ORGANIZATION {
            let r = create(
                &app,
                &org,
                &app.owner,
                json!({"url": format!("http://127.0.0.1:9/{i}")}),
            )
            .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        }
        let r = create(
            &app,
            &org,
            &app.owner,
            json!({"url": "http://127.0.0.1:9/x"}),
        )
        .await;
        assert_problem(&r, 409, None);
        let r = app
            .delete(&format!("/v1/organizations/{org}"), &app.owner)
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        assert_eq!(app.state.engine.snapshot().webhooks().count(), 0);
        // And the database agrees: a restart loads none.
        let m = app.state.store.load_model().await.unwrap();
        assert_eq!(m.webhooks().count(), 0);
    })
    .await;
}
