//! The native API's contract: `/openapi.json` is served, snapshot-tested
//! (a contract change is a reviewed diff), valid OpenAPI 3.1 as far as
//! `support::openapi31` checks, and every answer of every operation matches
//! it.

use crate::support::common::{each_backend, Resp};
use crate::support::{native_support, openapi31};
use axum::http::Method;
use serde_json::{json, Value};

/// `/openapi.json` is served and equals `tests/snapshots/openapi.json`
/// (written on the first run, or with `UPDATE_SNAPSHOTS=1`), so that a
/// contract change is a reviewed diff.
#[tokio::test]
async fn openapi_document_is_served_and_snapshotted() {
    each_backend(|app| async move {
        let r = app.call(Method::GET, "/openapi.json", None, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let doc = r.body;
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        let paths = doc["paths"].as_object().expect("paths");
        for p in [
            "/v1/organizations",
            "/v1/organizations/{id}",
            "/v1/organizations/{id}/accounts",
            "/v1/accounts/{id}",
            "/v1/users",
            "/v1/users/{id}",
            "/v1/accounts/{id}/members",
            "/v1/accounts/{id}/members/{user_id}",
            "/v1/permissions",
            "/v1/organizations/{id}/permissions",
            "/v1/organizations/{id}/roles",
            "/v1/organizations/{id}/roles/{role_id}",
            "/v1/users/{id}/grants",
            "/v1/users/{id}/grants/{grant_id}",
            "/v1/users/{id}/effective-permissions",
            "/v1/check",
            "/v1/check/batch",
            "/v1/lookup/accounts",
            "/v1/lookup/users",
            "/v1/what-if",
            "/v1/api-keys",
            "/v1/api-keys/{id}",
            "/v1/audit-events",
            "/v1/oauth/token",
            "/.well-known/jwks.json",
            "/.well-known/openid-configuration",
            "/v1/organizations/{id}/identity-providers",
            "/v1/identity-providers/{id}",
            "/healthz",
            "/readyz",
        ] {
            assert!(paths.contains_key(p), "`{p}` missing from /openapi.json");
        }
        if app.backend() != "sqlite" {
            return; // the document does not depend on the backend; snapshot once
        }
        let file =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
        let pretty = format!("{}\n", serde_json::to_string_pretty(&doc).expect("json"));
        let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
        if update || !file.exists() {
            std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
            std::fs::write(&file, pretty).expect("write snapshot");
            eprintln!("wrote {}", file.display());
            return;
        }
        let stored: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read snapshot"))
                .expect("snapshot is JSON");
        assert!(
            stored == doc,
            "/openapi.json differs from {}; review the change and rerun with UPDATE_SNAPSHOTS=1",
            file.display()
        );
    })
    .await;
}

/// The document the API serves.
fn openapi_document() -> Value {
    use utoipa::OpenApi;
    serde_json::to_value(roster_server::openapi::ApiDoc::openapi()).expect("json")
}

/// `/openapi.json` is valid OpenAPI 3.1 as far as `openapi31` checks (the
/// OpenAPI 3.1 schema itself: `scripts/openapi_validate.sh`), follows the
/// native conventions (every error is a problem document, except the
/// token endpoint's RFC 6749 §5.2 errors; every authenticated operation
/// declares 401), and the checker bites.
#[test]
fn openapi_document_is_valid_openapi_3_1() {
    let doc = openapi_document();
    let problems = openapi31::problems(&doc);
    assert!(
        problems.is_empty(),
        "/openapi.json is not valid OpenAPI 3.1:\n{}",
        problems.join("\n")
    );
    let problem = json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } });
    let oauth = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/OAuthErrorBody" } } });
    for (path, method, op) in openapi31::operations(&doc) {
        for (status, r) in op["responses"].as_object().expect("responses") {
            if path == "/v1/oauth/token" && ["400", "401"].contains(&status.as_str()) {
                assert_eq!(
                    r["content"], oauth,
                    "{method} {path} {status}: RFC 6749 §5.2"
                );
            } else if status.starts_with(['4', '5']) {
                assert_eq!(
                    r["content"], problem,
                    "{method} {path} {status}: errors are problem documents"
                );
            }
        }
        let public = op["security"] == json!([]);
        assert_eq!(
            op["responses"].get("401").is_some(),
            !public,
            "{method} {path}: 401 is declared exactly where credentials are required"
        );
    }

    // The checker finds each kind of defect.
    let bites = |what: &str, breaks: &dyn Fn(&mut Value), expect: &str| {
        let mut broken = doc.clone();
        breaks(&mut broken);
        let found = openapi31::problems(&broken);
        assert!(
            found.iter().any(|p| p.contains(expect)),
            "{what}: expected a problem containing `{expect}`, got {found:#?}"
        );
    };
    bites(
        "undeclared path parameter",
        &|d| {
            d["paths"]["/v1/users/{id}"]["get"]
                .as_object_mut()
                .expect("op")
                .remove("parameters");
        },
        "template parameter `{id}` is not declared",
    );
    bites(
        "optional path parameter",
        &|d| d["paths"]["/v1/users/{id}"]["get"]["parameters"][0]["required"] = json!(false),
        "path parameter `id` is not `required: true`",
    );
    bites(
        "path parameter not in the template",
        &|d| d["paths"]["/v1/users"]["get"]["parameters"][0]["in"] = json!("path"),
        "is not in the template",
    );
    bites(
        "duplicate operationId",
        &|d| d["paths"]["/v1/users"]["post"]["operationId"] = json!("get_user"),
        "operationId `get_user` is used by",
    );
    bites(
        "dangling $ref",
        &|d| {
            d["paths"]["/v1/users/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
                ["schema"]["$ref"] = json!("#/components/schemas/Nope")
        },
        "does not resolve",
    );
    bites(
        "not a JSON Schema",
        &|d| d["components"]["schemas"]["UserView"]["type"] = json!("record"),
        "not a JSON Schema 2020-12 schema",
    );
    bites(
        "OpenAPI 3.0",
        &|d| d["openapi"] = json!("3.0.3"),
        "not 3.1.x",
    );
}

/// The API's answers match `/openapi.json`: each status is declared, with
/// the media type served and a schema the body validates against, through a
/// tour of every operation that creates, reads, changes and deletes, and
/// the errors every operation shares. Audit events are read last, so that
/// creations (`before: null`) and deletions (`after: null`) are among them.
#[tokio::test]
async fn answers_match_the_openapi_document() {
    each_backend(|app| async move {
        let doc = openapi_document();
        let owner = app.owner.clone();
        let expect = |method: Method, template: &str, r: &Resp, status: u16| {
            assert_eq!(r.status, status, "{method} {template}: {}", r.body);
            let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok());
            if let Some(m) = openapi31::response_mismatch(
                &doc,
                method.as_str(),
                template,
                status,
                ct,
                &r.body,
            ) {
                panic!("{m}");
            }
        };
        let call = |method: Method, path: String, body: Option<Value>| {
            let app = &app;
            let owner = owner.clone();
            async move { app.call(method, &path, Some(&owner), body).await }
        };
        use Method as M;

        let r = call(M::POST, "/v1/organizations".into(), Some(json!({"name": "Contract"}))).await;
        expect(M::POST, "/v1/organizations", &r, 201);
        let org = r.str("id");
        let r = call(M::GET, "/v1/organizations?limit=1".into(), None).await;
        expect(M::GET, "/v1/organizations", &r, 200);
        assert!(r.body["next_cursor"].is_string(), "a second page: {}", r.body);
        let r = call(M::GET, "/v1/organizations?limit=1000".into(), None).await;
        expect(M::GET, "/v1/organizations", &r, 200);
        assert!(r.body["next_cursor"].is_null(), "{}", r.body);
        let r = call(M::GET, format!("/v1/organizations/{org}"), None).await;
        expect(M::GET, "/v1/organizations/{id}", &r, 200);
        let r = call(M::PATCH, format!("/v1/organizations/{org}"), Some(json!({"name": "Contract 2"}))).await;
        expect(M::PATCH, "/v1/organizations/{id}", &r, 200);

        let r = call(M::POST, format!("/v1/organizations/{org}/accounts"), Some(json!({"name": "Acme", "type": "client"}))).await;
        expect(M::POST, "/v1/organizations/{id}/accounts", &r, 201);
        let acc = r.str("id");
        let r = call(M::GET, format!("/v1/organizations/{org}/accounts"), None).await;
        expect(M::GET, "/v1/organizations/{id}/accounts", &r, 200);
        let r = call(M::GET, format!("/v1/accounts/{acc}"), None).await;
        expect(M::GET, "/v1/accounts/{id}", &r, 200);
        let r = call(M::PATCH, format!("/v1/accounts/{acc}"), Some(json!({"status": "active"}))).await;
        expect(M::PATCH, "/v1/accounts/{id}", &r, 200);

        // A user with every nullable field null, then with each set.
        let r = call(M::POST, "/v1/users".into(), Some(json!({"organization_id": org, "email": "c@contract.example"}))).await;
        expect(M::POST, "/v1/users", &r, 201);
        let user = r.str("id");
        assert!(r.body["first_name"].is_null() && r.body["phone"].is_null(), "{}", r.body);
        let r = call(M::PATCH, format!("/v1/users/{user}"), Some(json!({
            "first_name": "Cora", "phone": {"prefix": "+1", "number": null},
            "settings": {"time_zone": "UTC", "number_format": {"decimal_separator": "."}},
        }))).await;
        expect(M::PATCH, "/v1/users/{id}", &r, 200);
        let r = call(M::GET, format!("/v1/users/{user}"), None).await;
        expect(M::GET, "/v1/users/{id}", &r, 200);
        let r = call(M::GET, format!("/v1/users?organization_id={org}&account_id={acc}&email=c%40contract.example&limit=10"), None).await;
        expect(M::GET, "/v1/users", &r, 200);

        let r = call(M::POST, format!("/v1/accounts/{acc}/members"), Some(json!({"user_id": user}))).await;
        expect(M::POST, "/v1/accounts/{id}/members", &r, 201);
        let r = call(M::GET, format!("/v1/accounts/{acc}/members"), None).await;
        expect(M::GET, "/v1/accounts/{id}/members", &r, 200);

        let r = call(M::GET, "/v1/permissions?limit=1000".into(), None).await;
        expect(M::GET, "/v1/permissions", &r, 200);
        let r = call(M::POST, format!("/v1/organizations/{org}/permissions"), Some(json!({"code": "widgets:read"}))).await;
        expect(M::POST, "/v1/organizations/{id}/permissions", &r, 201);
        let r = call(M::GET, format!("/v1/organizations/{org}/roles"), None).await;
        expect(M::GET, "/v1/organizations/{id}/roles", &r, 200);
        let r = call(M::POST, format!("/v1/organizations/{org}/roles"), Some(json!({"id": "widgeteer", "name": "Widgeteer", "permissions": ["widgets:read"]}))).await;
        expect(M::POST, "/v1/organizations/{id}/roles", &r, 201);
        let r = call(M::GET, format!("/v1/organizations/{org}/roles/widgeteer"), None).await;
        expect(M::GET, "/v1/organizations/{id}/roles/{role_id}", &r, 200);
        let r = call(M::PATCH, format!("/v1/organizations/{org}/roles/widgeteer"), Some(json!({"description": "makes widgets"}))).await;
        expect(M::PATCH, "/v1/organizations/{id}/roles/{role_id}", &r, 200);

        let grant = json!({"role_id": "widgeteer", "scope": {"type": "account", "id": acc}});
        let r = call(M::POST, format!("/v1/users/{user}/grants"), Some(grant.clone())).await;
        expect(M::POST, "/v1/users/{id}/grants", &r, 201);
        let grant_id = r.str("id");
        let r = call(M::POST, format!("/v1/users/{user}/grants"), Some(grant)).await;
        expect(M::POST, "/v1/users/{id}/grants", &r, 200);
        let r = call(M::POST, format!("/v1/users/{user}/grants"), Some(json!({"permission_id": "widgets:read", "scope": {"type": "organization", "id": org}}))).await;
        expect(M::POST, "/v1/users/{id}/grants", &r, 201);
        let r = call(M::GET, format!("/v1/users/{user}/grants"), None).await;
        expect(M::GET, "/v1/users/{id}/grants", &r, 200);

        // A group, its member and its grant.
        let r = call(M::POST, format!("/v1/organizations/{org}/groups"), Some(json!({"name": "Widget team", "description": "makes widgets"}))).await;
        expect(M::POST, "/v1/organizations/{id}/groups", &r, 201);
        let group = r.str("id");
        let r = call(M::POST, format!("/v1/organizations/{org}/groups"), Some(json!({"name": "widget team"}))).await;
        expect(M::POST, "/v1/organizations/{id}/groups", &r, 409);
        let r = call(M::GET, format!("/v1/organizations/{org}/groups"), None).await;
        expect(M::GET, "/v1/organizations/{id}/groups", &r, 200);
        let r = call(M::GET, format!("/v1/groups/{group}"), None).await;
        expect(M::GET, "/v1/groups/{id}", &r, 200);
        let r = call(M::PATCH, format!("/v1/groups/{group}"), Some(json!({"name": "Widgeteers"}))).await;
        expect(M::PATCH, "/v1/groups/{id}", &r, 200);
        let member = json!({"user_id": user, "expires_at": "2999-01-01T00:00:00Z"});
        let r = call(M::POST, format!("/v1/groups/{group}/members"), Some(member.clone())).await;
        expect(M::POST, "/v1/groups/{id}/members", &r, 201);
        let r = call(M::POST, format!("/v1/groups/{group}/members"), Some(member)).await;
        expect(M::POST, "/v1/groups/{id}/members", &r, 200);
        let r = call(M::GET, format!("/v1/groups/{group}/members"), None).await;
        expect(M::GET, "/v1/groups/{id}/members", &r, 200);
        let r = call(M::PATCH, format!("/v1/groups/{group}/members/{user}"), Some(json!({"expires_at": null}))).await;
        expect(M::PATCH, "/v1/groups/{id}/members/{user_id}", &r, 200);
        let r = call(M::GET, format!("/v1/users/{user}/groups"), None).await;
        expect(M::GET, "/v1/users/{id}/groups", &r, 200);
        let group_grant = json!({"role_id": "widgeteer", "scope": {"type": "account", "id": acc}, "expires_at": "2999-01-01T00:00:00Z"});
        let r = call(M::POST, format!("/v1/groups/{group}/grants"), Some(group_grant.clone())).await;
        expect(M::POST, "/v1/groups/{id}/grants", &r, 201);
        let group_grant_id = r.str("id");
        let r = call(M::POST, format!("/v1/groups/{group}/grants"), Some(group_grant)).await;
        expect(M::POST, "/v1/groups/{id}/grants", &r, 200);
        let r = call(M::GET, format!("/v1/groups/{group}/grants"), None).await;
        expect(M::GET, "/v1/groups/{id}/grants", &r, 200);
        let r = call(M::PATCH, format!("/v1/groups/{group}/grants/{group_grant_id}"), Some(json!({"expires_at": null}))).await;
        expect(M::PATCH, "/v1/groups/{id}/grants/{grant_id}", &r, 200);
        let r = call(M::PATCH, format!("/v1/users/{user}/grants/{grant_id}"), Some(json!({"expires_at": "2999-01-01T00:00:00Z"}))).await;
        expect(M::PATCH, "/v1/users/{id}/grants/{grant_id}", &r, 200);

        let check = json!({"user_id": user, "permission": "widgets:read", "account_id": acc, "explain": true});
        let r = call(M::POST, "/v1/check".into(), Some(check.clone())).await;
        expect(M::POST, "/v1/check", &r, 200);
        assert_eq!(r.body["allowed"], json!(true), "{}", r.body);
        let denied = json!({"user_id": user, "permission": "users:write", "organization_id": org, "explain": true});
        let r = call(M::POST, "/v1/check".into(), Some(denied.clone())).await;
        expect(M::POST, "/v1/check", &r, 200);
        let r = call(M::POST, "/v1/check/batch".into(), Some(json!({"checks": [check, denied]}))).await;
        expect(M::POST, "/v1/check/batch", &r, 200);
        let r = call(M::POST, "/v1/lookup/accounts".into(), Some(json!({"user_id": user, "permission": "widgets:read"}))).await;
        expect(M::POST, "/v1/lookup/accounts", &r, 200);
        let r = call(M::POST, "/v1/lookup/users".into(), Some(json!({"permission": "widgets:read", "account_id": acc}))).await;
        expect(M::POST, "/v1/lookup/users", &r, 200);
        let r = call(M::GET, format!("/v1/users/{user}/effective-permissions?account_id={acc}"), None).await;
        expect(M::GET, "/v1/users/{id}/effective-permissions", &r, 200);
        let r = call(M::POST, "/v1/what-if".into(), Some(json!({
            "requests": [
                {"method": "PATCH", "path": format!("/v1/users/{user}"), "body": {"last_name": "Preview"}},
                {"method": "DELETE", "path": format!("/v1/users/{user}/grants/{grant_id}")},
                // The group holds the same role there: leaving it is what loses it.
                {"method": "DELETE", "path": format!("/v1/groups/{group}/members/{user}")},
                {"method": "PATCH", "path": format!("/v1/users/{user}"), "body": {"email": null}},
            ],
            "checks": [check, denied],
        }))).await;
        expect(M::POST, "/v1/what-if", &r, 200);
        assert_eq!(r.body["results"].as_array().map(Vec::len), Some(4), "{}", r.body);
        assert!(r.body["impact"]["lost"].as_array().is_some_and(|l| !l.is_empty()), "{}", r.body);
        let r = call(M::PATCH, format!("/v1/users/{user}?dry_run=true"), Some(json!({"last_name": "Dry"}))).await;
        expect(M::PATCH, "/v1/users/{id}", &r, 200);
        let r = call(M::DELETE, format!("/v1/users/{user}/grants/{grant_id}?dry_run=true"), None).await;
        expect(M::DELETE, "/v1/users/{id}/grants/{grant_id}", &r, 204);
        let r = call(M::PATCH, format!("/v1/users/{user}?dry_run=maybe"), Some(json!({}))).await;
        expect(M::PATCH, "/v1/users/{id}", &r, 400);

        let r = call(M::POST, "/v1/api-keys".into(), Some(json!({"user_id": user, "name": "ci", "expires_at": "2999-01-01T00:00:00Z"}))).await;
        expect(M::POST, "/v1/api-keys", &r, 201);
        let key = r.str("id");
        let r = call(M::GET, "/v1/api-keys".into(), None).await;
        expect(M::GET, "/v1/api-keys", &r, 200);
        let r = call(M::DELETE, format!("/v1/api-keys/{key}"), None).await;
        expect(M::DELETE, "/v1/api-keys/{id}", &r, 204);

        // The errors every operation shares.
        let r = call(M::GET, format!("/v1/users/{}", uuid::Uuid::new_v4()), None).await;
        expect(M::GET, "/v1/users/{id}", &r, 404);
        let r = call(M::GET, "/v1/users/not-a-uuid".into(), None).await;
        expect(M::GET, "/v1/users/{id}", &r, 400);
        let r = call(M::GET, "/v1/users?limit=0".into(), None).await;
        expect(M::GET, "/v1/users", &r, 400);
        let r = app.call(M::GET, "/v1/users", None, None).await;
        expect(M::GET, "/v1/users", &r, 401);
        let r = native_support::send_bytes(&app, M::POST, "/v1/users", Some(&owner), &[("content-type", "text/plain")], b"{}".to_vec()).await;
        expect(M::POST, "/v1/users", &r, 415);
        let r = native_support::send_bytes(&app, M::POST, "/v1/users", Some(&owner), &[("content-type", "application/json")], vec![b' '; 2 << 20]).await;
        expect(M::POST, "/v1/users", &r, 413);
        let r = call(M::PATCH, format!("/v1/users/{user}"), Some(json!({"email": null}))).await;
        expect(M::PATCH, "/v1/users/{id}", &r, 400);
        let r = app.call_with(M::PATCH, &format!("/v1/organizations/{org}"), Some(&owner), Some(json!({})), &[("if-match", "\"1\"")]).await;
        expect(M::PATCH, "/v1/organizations/{id}", &r, 412);
        let r = call(M::DELETE, format!("/v1/organizations/{org}"), None).await;
        expect(M::DELETE, "/v1/organizations/{id}", &r, 409);
        let r = call(M::DELETE, format!("/v1/users/{}", app.owner_id), None).await;
        expect(M::DELETE, "/v1/users/{id}", &r, 403);

        // Everything goes again.
        let r = call(M::DELETE, format!("/v1/users/{user}/grants/{grant_id}"), None).await;
        expect(M::DELETE, "/v1/users/{id}/grants/{grant_id}", &r, 204);
        let r = call(M::DELETE, format!("/v1/groups/{group}/grants/{group_grant_id}"), None).await;
        expect(M::DELETE, "/v1/groups/{id}/grants/{grant_id}", &r, 204);
        let r = call(M::DELETE, format!("/v1/groups/{group}/members/{user}"), None).await;
        expect(M::DELETE, "/v1/groups/{id}/members/{user_id}", &r, 204);
        let r = call(M::DELETE, format!("/v1/groups/{group}"), None).await;
        expect(M::DELETE, "/v1/groups/{id}", &r, 204);
        let r = call(M::DELETE, format!("/v1/organizations/{org}/roles/widgeteer"), None).await;
        expect(M::DELETE, "/v1/organizations/{id}/roles/{role_id}", &r, 204);
        let r = call(M::DELETE, format!("/v1/accounts/{acc}/members/{user}"), None).await;
        expect(M::DELETE, "/v1/accounts/{id}/members/{user_id}", &r, 204);
        let r = call(M::DELETE, format!("/v1/users/{user}"), None).await;
        expect(M::DELETE, "/v1/users/{id}", &r, 204);
        let r = call(M::DELETE, format!("/v1/accounts/{acc}"), None).await;
        expect(M::DELETE, "/v1/accounts/{id}", &r, 204);
        // (A soft-deleted user stays in its organization: delete an empty one.)
        let r = call(M::POST, "/v1/organizations".into(), Some(json!({"name": "Empty", "slug": "empty"}))).await;
        expect(M::POST, "/v1/organizations", &r, 201);
        let r = call(M::DELETE, format!("/v1/organizations/{}", r.str("id")), None).await;
        expect(M::DELETE, "/v1/organizations/{id}", &r, 204);

        let r = call(M::GET, "/v1/audit-events?limit=1000".into(), None).await;
        expect(M::GET, "/v1/audit-events", &r, 200);
        let events = r.body["items"].as_array().expect("items");
        assert!(events.iter().any(|e| e["before"].is_null()), "a creation");
        assert!(events.iter().any(|e| e["after"].is_null()), "a deletion");

        for path in ["/healthz", "/readyz", "/.well-known/openid-configuration"] {
            let r = app.call(M::GET, path, None, None).await;
            expect(M::GET, path, &r, 200);
        }

        // Tokens: issued, refused in RFC 6749's shape, verified by the JWKS.
        let form = |body: String| {
            let app = &app;
            async move {
                let req = axum::http::Request::builder()
                    .method(M::POST)
                    .uri("/v1/oauth/token")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(axum::body::Body::from(body))
                    .expect("request");
                app.raw(req).await
            }
        };
        let r = call(M::POST, "/v1/api-keys".into(), Some(json!({"user_id": app.owner_id, "name": "oauth"}))).await;
        let (key_id, secret) = (r.str("key_id"), r.str("key"));
        let r = form(format!("grant_type=client_credentials&client_id={key_id}&client_secret={secret}&scope=users:read")).await;
        expect(M::POST, "/v1/oauth/token", &r, 200);
        let r = form("grant_type=implicit".into()).await;
        expect(M::POST, "/v1/oauth/token", &r, 400);
        let r = form(format!("grant_type=client_credentials&client_id={key_id}&client_secret=nope")).await;
        expect(M::POST, "/v1/oauth/token", &r, 401);
        let r = app.call(M::GET, "/.well-known/jwks.json", None, None).await;
        expect(M::GET, "/.well-known/jwks.json", &r, 200);
        assert_eq!(r.body["keys"].as_array().map(Vec::len), Some(1), "{}", r.body);
    })
    .await;
}
