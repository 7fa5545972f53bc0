//! The rules of SPEC §2 through the native API: escalation, self and
//! lockout guards; partial-update semantics; ETag / If-Match; cursor
//! pagination; the audit trail (before/after, request id, same revision as
//! the write); the revision header; tenant isolation of questions; and the
//! operations endpoints `/healthz`, `/readyz` (`/openapi.json`: see
//! `openapi`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::support::common;
use crate::support::native_support;

use axum::http::Method;
use common::{each_backend, Resp, TestApp};
use native_support::{assert_problem, audit_events, etag, fingerprint, send};
use serde_json::{json, Value};
use std::collections::BTreeSet;

async fn grant_as(app: &TestApp, token: &str, user: &str, body: Value) -> Resp {
    app.post(&format!("/v1/users/{user}/grants"), token, body)
        .await
}

fn org_scope(org: &str) -> Value {
    json!({"type": "organization", "id": org})
}

fn account_scope(acc: &str) -> Value {
    json!({"type": "account", "id": acc})
}

/// Asserts a refused request left everything as it was.
async fn refused(
    app: &TestApp,
    watch: &str,
    status: u16,
    code: &str,
    f: impl std::future::Future<Output = Resp>,
) {
    let before = fingerprint(app, Some(watch)).await;
    let r = f.await;
    assert_problem(&r, status, None);
    assert_eq!(r.body["error_code"], json!(code), "{}", r.body);
    assert_eq!(
        before,
        fingerprint(app, Some(watch)).await,
        "a refused request changed the database"
    );
}

// ----- escalation guard ------------------------------------------------------

#[tokio::test]
async fn escalation_guard() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let grants = format!("/v1/users/{}/grants", a.target);
        let r = app
            .post(
                &format!("/v1/organizations/{}/permissions", a.org_a),
                &app.owner,
                json!({"code": "invoices:approve"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);

        // An organization admin cannot hand out `owner` (it lacks organizations:write)...
        refused(
            &app,
            &grants,
            403,
            "forbidden",
            grant_as(
                &app,
                &a.org_admin.1,
                &a.target,
                json!({"role_id": "owner", "scope": org_scope(&a.org_a)}),
            ),
        )
        .await;
        // ... nor anything at `global` ...
        refused(
            &app,
            &grants,
            403,
            "forbidden",
            grant_as(
                &app,
                &a.org_admin.1,
                &a.target,
                json!({"role_id": "viewer", "scope": {"type": "global"}}),
            ),
        )
        .await;
        // ... nor a custom permission it does not hold.
        refused(
            &app,
            &grants,
            403,
            "forbidden",
            grant_as(
                &app,
                &a.org_admin.1,
                &a.target,
                json!({"permission_id": "invoices:approve", "scope": org_scope(&a.org_a)}),
            ),
        )
        .await;
        // It may hand out what it holds.
        let r = grant_as(
            &app,
            &a.org_admin.1,
            &a.target,
            json!({"role_id": "admin", "scope": org_scope(&a.org_a)}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        // Once it holds the custom permission, it may hand that out too.
        app.post(
            &format!("/v1/users/{}/grants", a.org_admin.0),
            &app.owner,
            json!({"permission_id": "invoices:approve", "scope": org_scope(&a.org_a)}),
        )
        .await;
        let r = grant_as(
            &app,
            &a.org_admin.1,
            &a.target,
            json!({"permission_id": "invoices:approve", "scope": org_scope(&a.org_a)}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        // Granting the same again is a no-op answered 200.
        let again = grant_as(
            &app,
            &a.org_admin.1,
            &a.target,
            json!({"permission_id": "invoices:approve", "scope": org_scope(&a.org_a)}),
        )
        .await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(again.body["id"], r.body["id"]);

        // An account admin acts only at its account.
        let plain = app.user(&a.org_a, "plain@a.example").await;
        let pg = format!("/v1/users/{plain}/grants");
        refused(
            &app,
            &pg,
            403,
            "forbidden",
            grant_as(
                &app,
                &a.account_admin.1,
                &plain,
                json!({"role_id": "viewer", "scope": org_scope(&a.org_a)}),
            ),
        )
        .await;
        refused(
            &app,
            &pg,
            403,
            "forbidden",
            grant_as(
                &app,
                &a.account_admin.1,
                &plain,
                json!({"role_id": "viewer", "scope": {"type": "accounts", "id": a.org_a}}),
            ),
        )
        .await;
        refused(
            &app,
            &pg,
            403,
            "forbidden",
            grant_as(
                &app,
                &a.account_admin.1,
                &plain,
                json!({"role_id": "viewer", "scope": account_scope(&a.acc_a2)}),
            ),
        )
        .await;
        // Another tenant's account is not found, not forbidden.
        refused(
            &app,
            &pg,
            404,
            "not_found",
            grant_as(
                &app,
                &a.account_admin.1,
                &plain,
                json!({"role_id": "viewer", "scope": account_scope(&a.acc_b1)}),
            ),
        )
        .await;
        let r = grant_as(
            &app,
            &a.account_admin.1,
            &plain,
            json!({"role_id": "admin", "scope": account_scope(&a.acc_a1)}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);

        // Nobody takes away more than they hold: the owner gives the target
        // `owner` at A; the organization admin cannot remove it.
        let g = app.grant(&a.target, "owner", org_scope(&a.org_a)).await;
        let gid = g["id"].as_str().expect("id");
        refused(
            &app,
            &grants,
            403,
            "forbidden",
            app.delete(&format!("{grants}/{gid}"), &a.org_admin.1),
        )
        .await;
        // Nor may it mint an API key acting as that more powerful user
        // (a key hands out everything its user holds); for a plain user it may.
        refused(
            &app,
            "/v1/api-keys",
            403,
            "forbidden",
            app.post(
                "/v1/api-keys",
                &a.org_admin.1,
                json!({"user_id": a.target, "name": "impersonate"}),
            ),
        )
        .await;
        let r = app
            .post(
                "/v1/api-keys",
                &a.org_admin.1,
                json!({"user_id": plain, "name": "fine"}),
            )
            .await;
        assert_eq!(
            r.status, 201,
            "`plain` holds admin at A1, within the org admin's own: {}",
            r.body
        );

        // Roles: a custom role may only bundle permissions the actor holds,
        // and changing one must not add (or drop) any the actor lacks.
        let roles = format!("/v1/organizations/{}/roles", a.org_a);
        refused(
            &app,
            &roles,
            403,
            "forbidden",
            app.post(
                &roles,
                &a.org_admin.1,
                json!({"id": "boss", "name": "Boss", "permissions": ["organizations:write"]}),
            ),
        )
        .await;
        let r = app
            .post(
                &roles,
                &a.org_admin.1,
                json!({"id": "helper", "name": "Helper", "permissions": ["users:read"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let helper = format!("{roles}/helper");
        refused(
            &app,
            &helper,
            403,
            "forbidden",
            app.patch(
                &helper,
                &a.org_admin.1,
                json!({"permissions": ["users:read", "organizations:write"]}),
            ),
        )
        .await;
        // Built-in roles are read-only, even for the owner.
        refused(
            &app,
            &format!("{roles}/viewer"),
            403,
            "forbidden",
            app.patch(
                &format!("{roles}/viewer"),
                &app.owner,
                json!({"name": "Mine"}),
            ),
        )
        .await;
    })
    .await;
}

// ----- self guard --------------------------------------------------------------

#[tokio::test]
async fn self_guard() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let me = format!("/v1/users/{}", a.org_admin.0);
        let my_grants = format!("{me}/grants");
        // Nobody changes their own grants, however powerful.
        refused(&app, &my_grants, 403, "self_change", grant_as(&app, &a.org_admin.1, &a.org_admin.0, json!({"role_id": "viewer", "scope": account_scope(&a.acc_a1)}))).await;
        let list = app.get(&my_grants, &a.org_admin.1).await;
        assert_eq!(list.status, 200, "{}", list.body);
        let gid = list.body["items"][0]["id"].as_str().expect("own grant").to_owned();
        refused(&app, &my_grants, 403, "self_change", app.delete(&format!("{my_grants}/{gid}"), &a.org_admin.1)).await;
        // An administrator may not change its own status, nor delete itself.
        refused(&app, &me, 403, "self_change", app.patch(&me, &a.org_admin.1, json!({"status": "disabled"}))).await;
        refused(&app, &me, 403, "self_change", app.delete(&me, &a.org_admin.1)).await;

        // Anyone may edit their own profile fields...
        let nobody = format!("/v1/users/{}", a.nobody.0);
        let r = app
            .patch(&nobody, &a.nobody.1, json!({"first_name": "No", "last_name": "Body", "email": "No.Body@a.example", "phone": {"prefix": "+34", "number": "600 000 000"}, "settings": {"language_code": "es"}}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["email"], json!("No.Body@a.example"));
        assert_eq!(r.body["updated_by"], json!(a.nobody.0));
        // ... but not their status or external ids.
        refused(&app, &nobody, 403, "self_change", app.patch(&nobody, &a.nobody.1, json!({"status": "disabled"}))).await;
        refused(&app, &nobody, 403, "self_change", app.patch(&nobody, &a.nobody.1, json!({"external_ids": {"crm": "1"}}))).await;
        // And nobody edits somebody else's profile without `users:write`.
        refused(&app, &format!("/v1/users/{}", a.target), 403, "forbidden", app.patch(&format!("/v1/users/{}", a.target), &a.nobody.1, json!({"first_name": "X"}))).await;
    })
    .await;
}

// ----- lockout guard -------------------------------------------------------------

#[tokio::test]
async fn lockout_guard() {
    each_backend(|app| async move {
        let a = app.actors().await;
        // The organization admin is A's only organization-level `grants:write`
        // holder; the owner's global grant does not count.
        let admin = format!("/v1/users/{}", a.org_admin.0);
        let grants = app.get(&format!("{admin}/grants"), &app.owner).await;
        let gid = grants.body["items"][0]["id"].as_str().expect("grant").to_owned();
        let grant_path = format!("{admin}/grants/{gid}");
        refused(&app, &admin, 409, "lockout", app.delete(&grant_path, &app.owner)).await;
        refused(&app, &admin, 409, "lockout", app.patch(&admin, &app.owner, json!({"status": "disabled"}))).await;
        refused(&app, &admin, 409, "lockout", app.patch(&admin, &app.owner, json!({"status": "invited"}))).await;
        refused(&app, &admin, 409, "lockout", app.delete(&admin, &app.owner)).await;
        // Another tenant's only admin likewise.
        let b_admin = format!("/v1/users/{}", a.other_tenant.0);
        refused(&app, &b_admin, 409, "lockout", app.delete(&b_admin, &app.owner)).await;

        // An account-level admin does not keep the organization open.
        let acc_level = app.user(&a.org_a, "acc.level@a.example").await;
        app.grant(&acc_level, "admin", json!({"type": "accounts", "id": a.org_a})).await;
        refused(&app, &admin, 409, "lockout", app.delete(&admin, &app.owner)).await;

        // With a second organization admin, the first may go.
        let second = app.user(&a.org_a, "second.admin@a.example").await;
        app.grant(&second, "admin", org_scope(&a.org_a)).await;
        let r = app.delete(&grant_path, &app.owner).await;
        assert_eq!(r.status, 204, "{}", r.body);
        // ... and now the second is the last one.
        let second_path = format!("/v1/users/{second}");
        refused(&app, &second_path, 409, "lockout", app.patch(&second_path, &app.owner, json!({"status": "disabled"}))).await;

        // Changing a custom role can lock out too.
        let org_c = app.org("Tenant C").await;
        let keeper = app.user(&org_c, "keeper@c.example").await;
        let roles = format!("/v1/organizations/{org_c}/roles");
        let r = app.post(&roles, &app.owner, json!({"id": "keeper", "name": "Keeper", "permissions": ["grants:write", "grants:read"]})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        app.grant(&keeper, "keeper", org_scope(&org_c)).await;
        refused(&app, &format!("{roles}/keeper"), 409, "lockout", app.patch(&format!("{roles}/keeper"), &app.owner, json!({"permissions": ["grants:read"]}))).await;
        // An organization that never had an administrator is not locked out by changes.
        let org_d = app.org("Tenant D").await;
        let loner = app.user(&org_d, "loner@d.example").await;
        let r = app.patch(&format!("/v1/users/{loner}"), &app.owner, json!({"status": "disabled"})).await;
        assert_eq!(r.status, 200, "{}", r.body);
    })
    .await;
}

// ----- partial updates ------------------------------------------------------------

#[tokio::test]
async fn partial_updates() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let t = format!("/v1/users/{}", a.target);
        let full = app
            .patch(&t, &app.owner, json!({"phone": {"prefix": "+1", "number": "555"}, "settings": {"time_zone": "Europe/Madrid"}, "external_ids": {"crm": "42"}}))
            .await;
        assert_eq!(full.status, 200, "{}", full.body);

        // Absent fields are left alone.
        let r = app.patch(&t, &app.owner, json!({"first_name": "Ann"})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["first_name"], json!("Ann"));
        for k in ["last_name", "email", "phone", "settings", "external_ids", "status", "organization_id", "created_at"] {
            assert_eq!(r.body[k], full.body[k], "`{k}` changed");
        }
        // An empty patch changes nothing, not even the revision.
        let before = fingerprint(&app, Some(&t)).await;
        let r2 = app.patch(&t, &app.owner, json!({})).await;
        assert_eq!(r2.status, 200, "{}", r2.body);
        assert_eq!(r2.body["revision"], r.body["revision"]);
        assert_eq!(before, fingerprint(&app, Some(&t)).await);

        // `null` clears a nullable field.
        let r = app.patch(&t, &app.owner, json!({"last_name": null, "phone": null})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["last_name"], Value::Null);
        assert_eq!(r.body["phone"], Value::Null);
        assert_eq!(r.body["settings"], full.body["settings"]);
        // ... and is refused, naming the field, where the field is not nullable.
        for field in ["email", "status", "external_ids"] {
            let before = fingerprint(&app, Some(&t)).await;
            let r = app.patch(&t, &app.owner, json!({ field: null })).await;
            assert_problem(&r, 400, Some(field));
            assert_eq!(before, fingerprint(&app, Some(&t)).await);
        }

        // Read-only fields are ignored.
        let other = uuid_like();
        let r = app
            .patch(
                &t,
                &app.owner,
                json!({"id": other, "organization_id": a.org_b, "revision": 1, "created_at": "2000-01-01T00:00:00Z",
                       "created_by": other, "updated_at": "2000-01-01T00:00:00Z", "updated_by": other, "deleted_at": null, "first_name": "Bea"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["id"], json!(a.target));
        assert_eq!(r.body["organization_id"], json!(a.org_a));
        assert_eq!(r.body["first_name"], json!("Bea"));
        assert_ne!(r.body["created_at"], json!("2000-01-01T00:00:00Z"));
        // A GET body can be sent back as a PATCH unchanged.
        let got = app.get(&t, &app.owner).await;
        let r = app.patch(&t, &app.owner, got.body.clone()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, got.body);

        // Unknown fields are refused, naming the field.
        let before = fingerprint(&app, Some(&t)).await;
        assert_problem(&app.patch(&t, &app.owner, json!({"first_name": "X", "nick": "x"})).await, 400, Some("nick"));
        assert_eq!(before, fingerprint(&app, Some(&t)).await);

        // The same on accounts, organizations and roles.
        let acc = format!("/v1/accounts/{}", a.acc_a1);
        let got = app.get(&acc, &app.owner).await;
        let r = app.patch(&acc, &app.owner, json!({"id": other, "organization_id": a.org_b, "revision": 0, "status": "disabled"})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["name"], got.body["name"]);
        assert_eq!(r.body["type"], got.body["type"]);
        assert_eq!(r.body["organization_id"], json!(a.org_a));
        assert_eq!(r.body["status"], json!("disabled"));
        assert_problem(&app.patch(&acc, &app.owner, json!({"colour": "red"})).await, 400, Some("colour"));
        assert_problem(&app.patch(&acc, &app.owner, json!({"name": null})).await, 400, Some("name"));

        let org = format!("/v1/organizations/{}", a.org_a);
        let got = app.get(&org, &app.owner).await;
        let r = app.patch(&org, &app.owner, json!({"id": other, "revision": 0, "name": "Tenant A2"})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["slug"], got.body["slug"]);
        assert_eq!(r.body["id"], got.body["id"]);
        assert_problem(&app.patch(&org, &app.owner, json!({"owner": "me"})).await, 400, Some("owner"));

        let roles = format!("/v1/organizations/{}/roles", a.org_a);
        let r = app.post(&roles, &app.owner, json!({"id": "clerk", "name": "Clerk", "description": "d", "permissions": ["users:read"]})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let clerk = format!("{roles}/clerk");
        let r = app.patch(&clerk, &app.owner, json!({"id": "other", "builtin": true, "organization_id": a.org_b, "revision": 0, "name": "Clerk 2"})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["id"], json!("clerk"));
        assert_eq!(r.body["description"], json!("d"));
        assert_eq!(r.body["permissions"], json!(["users:read"]));
        assert_problem(&app.patch(&clerk, &app.owner, json!({"perms": []})).await, 400, Some("perms"));
    })
    .await;
}

fn uuid_like() -> String {
    roster_domain::UserId::new().to_string()
}

// ----- ETag / If-Match -------------------------------------------------------------

#[tokio::test]
async fn etags_and_if_match() {
    each_backend(|app| async move {
        let a = app.actors().await;
        for path in [
            format!("/v1/users/{}", a.target),
            format!("/v1/accounts/{}", a.acc_a1),
            format!("/v1/organizations/{}", a.org_a),
        ] {
            let body = if path.contains("/users/") {
                json!({"first_name": "E"})
            } else {
                json!({"name": "E"})
            };
            let body2 = if path.contains("/users/") {
                json!({"first_name": "F"})
            } else {
                json!({"name": "F"})
            };
            let g = app.get(&path, &app.owner).await;
            assert_eq!(g.status, 200, "{}", g.body);
            let tag = etag(&g);
            assert_eq!(
                json!(tag),
                g.body["revision"],
                "ETag names the object's revision"
            );
            let hdr = |v: String| vec![("if-match", v)];
            // The current ETag matches.
            let r = send(
                &app.router,
                Method::PATCH,
                &path,
                Some(&app.owner),
                Some(&body),
                &hdr(format!("\"{tag}\"")),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let new_tag = etag(&r);
            assert!(new_tag > tag);
            assert_eq!(json!(new_tag), r.body["revision"]);
            assert_eq!(etag(&app.get(&path, &app.owner).await), new_tag);
            // The old one no longer does: 412, nothing changes.
            let before = fingerprint(&app, Some(&path)).await;
            let r = send(
                &app.router,
                Method::PATCH,
                &path,
                Some(&app.owner),
                Some(&body2),
                &hdr(format!("\"{tag}\"")),
            )
            .await;
            assert_problem(&r, 412, Some("If-Match"));
            assert_eq!(before, fingerprint(&app, Some(&path)).await);
            let r = send(
                &app.router,
                Method::DELETE,
                &path,
                Some(&app.owner),
                None,
                &hdr(format!("\"{tag}\"")),
            )
            .await;
            assert_problem(&r, 412, Some("If-Match"));
            assert_eq!(before, fingerprint(&app, Some(&path)).await);
            // Weak validators and `*` are accepted.
            let r = send(
                &app.router,
                Method::PATCH,
                &path,
                Some(&app.owner),
                Some(&body2),
                &hdr(format!("W/\"{new_tag}\"")),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let r = send(
                &app.router,
                Method::PATCH,
                &path,
                Some(&app.owner),
                Some(&body),
                &hdr("*".into()),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        // Creation answers carry an ETag too; delete honours a current one.
        let r = app
            .post(
                "/v1/users",
                &app.owner,
                json!({"organization_id": a.org_a, "email": "etag@a.example"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let tag = etag(&r);
        let path = format!("/v1/users/{}", r.str("id"));
        let d = send(
            &app.router,
            Method::DELETE,
            &path,
            Some(&app.owner),
            None,
            &[("if-match", format!("\"{tag}\""))],
        )
        .await;
        assert_eq!(d.status, 204, "{}", d.body);
        assert_eq!(app.get(&path, &app.owner).await.status, 404);
        // Roles.
        let roles = format!("/v1/organizations/{}/roles", a.org_a);
        let r = app
            .post(
                &roles,
                &app.owner,
                json!({"id": "tagged", "name": "T", "permissions": []}),
            )
            .await;
        let tag = etag(&r);
        let p = format!("{roles}/tagged");
        let r = send(
            &app.router,
            Method::PATCH,
            &p,
            Some(&app.owner),
            Some(&json!({"name": "U"})),
            &[("if-match", format!("\"{}\"", tag + 1000))],
        )
        .await;
        assert_problem(&r, 412, Some("If-Match"));
    })
    .await;
}

// ----- pagination ------------------------------------------------------------------

/// Walks a list with `limit`, returning every page's ids.
async fn walk(app: &TestApp, base: &str, limit: usize, key: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if base.contains('?') { '&' } else { '?' };
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}{sep}limit={limit}&cursor={c}"),
            None => format!("{base}{sep}limit={limit}"),
        };
        let r = app.get(&path, &app.owner).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let items: Vec<String> = r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| match &i[key] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        assert!(items.len() <= limit, "{path}: more than `limit` items");
        pages.push(items);
        match &r.body["next_cursor"] {
            Value::Null => return pages,
            Value::String(c) => cursor = Some(c.clone()),
            other => panic!("next_cursor must be a string or null, got {other}"),
        }
        assert!(pages.len() < 1000, "pagination does not end");
    }
}

fn flat(pages: &[Vec<String>]) -> Vec<String> {
    pages.iter().flatten().cloned().collect()
}

#[track_caller]
fn assert_walk(pages: &[Vec<String>], expected: &BTreeSet<String>, limit: usize) {
    let all = flat(pages);
    let unique: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "duplicates across pages: {pages:?}"
    );
    assert_eq!(&unique, expected, "the walk misses or adds items");
    let full_pages = expected.len() / limit;
    assert!(
        pages.len() == full_pages || pages.len() == full_pages + 1,
        "{} pages for {} items of {limit}",
        pages.len(),
        expected.len()
    );
    assert!(
        pages[..pages.len() - 1].iter().all(|p| p.len() == limit),
        "short page before the end: {pages:?}"
    );
}

#[tokio::test]
async fn cursor_pagination() {
    each_backend(|app| async move {
        let org = app.org("Paged").await;
        let mut users = BTreeSet::new();
        for i in 0..7 {
            users.insert(app.user(&org, &format!("p{i}@paged.example")).await);
        }
        let mut accounts = BTreeSet::new();
        for i in 0..5 {
            accounts.insert(app.account(&org, &format!("P{i}"), "client").await);
        }
        let acc = accounts.iter().next().expect("account").clone();
        for u in &users {
            app.member(&acc, u).await;
        }

        let base = format!("/v1/users?organization_id={org}");
        for limit in [1, 3, 7, 100] {
            let pages = walk(&app, &base, limit, "id").await;
            assert_walk(&pages, &users, limit);
            // Items come in a stable (id) order.
            let all = flat(&pages);
            let mut sorted = all.clone();
            sorted.sort();
            assert_eq!(all, sorted);
        }
        // Exactly `limit` items: one page, no cursor.
        assert_eq!(walk(&app, &base, 7, "id").await.len(), 1);

        let pages = walk(&app, &format!("/v1/organizations/{org}/accounts"), 2, "id").await;
        assert_walk(&pages, &accounts, 2);
        let pages = walk(&app, &format!("/v1/accounts/{acc}/members"), 3, "user_id").await;
        assert_walk(&pages, &users, 3);
        let all_orgs = flat(&walk(&app, "/v1/organizations", 1000, "id").await)
            .into_iter()
            .collect::<BTreeSet<_>>();
        assert_walk(
            &walk(&app, "/v1/organizations", 1, "id").await,
            &all_orgs,
            1,
        );

        // Lists kept in memory page the same way.
        let holder = users.iter().next().expect("user").clone();
        let mut grants = BTreeSet::new();
        for acc in &accounts {
            grants.insert(
                app.grant(&holder, "viewer", account_scope(acc)).await["id"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
            );
        }
        assert_walk(
            &walk(&app, &format!("/v1/users/{holder}/grants"), 2, "id").await,
            &grants,
            2,
        );
        let mut keys = BTreeSet::new();
        for i in 0..5 {
            let r = app
                .post(
                    "/v1/api-keys",
                    &app.owner,
                    json!({"user_id": holder, "name": format!("k{i}")}),
                )
                .await;
            keys.insert(r.str("id"));
        }
        let all_keys = flat(&walk(&app, "/v1/api-keys", 1000, "id").await)
            .into_iter()
            .collect::<BTreeSet<_>>();
        assert!(all_keys.is_superset(&keys));
        assert_walk(&walk(&app, "/v1/api-keys", 2, "id").await, &all_keys, 2);
        let all_perms = flat(&walk(&app, "/v1/permissions", 1000, "id").await)
            .into_iter()
            .collect::<BTreeSet<_>>();
        assert!(all_perms.len() > 10);
        assert_walk(&walk(&app, "/v1/permissions", 4, "id").await, &all_perms, 4);
        for i in 0..3 {
            let r = app
                .post(
                    &format!("/v1/organizations/{org}/roles"),
                    &app.owner,
                    json!({"id": format!("r{i}"), "name": "R", "permissions": []}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let roles_path = format!("/v1/organizations/{org}/roles");
        let all_roles = flat(&walk(&app, &roles_path, 1000, "id").await);
        assert!(
            all_roles.ends_with(&["r0".to_owned(), "r1".to_owned(), "r2".to_owned()]),
            "built-ins first: {all_roles:?}"
        );
        assert_walk(
            &walk(&app, &roles_path, 3, "id").await,
            &all_roles.iter().cloned().collect(),
            3,
        );
        assert_eq!(
            flat(&walk(&app, &roles_path, 3, "id").await),
            all_roles,
            "the role order is stable across pages"
        );

        // The audit trail pages by `seq` and loses nothing.
        let total = audit_events(&app).await.len();
        let pages = walk(&app, "/v1/audit-events", 10, "seq").await;
        let seqs: Vec<i64> = flat(&pages)
            .iter()
            .map(|s| s.parse().expect("seq"))
            .collect();
        assert_eq!(seqs.len(), total);
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seq must increase");
        // `after` starts past a given seq.
        let r = app
            .get(
                &format!("/v1/audit-events?after={}&limit=1000", seqs[4]),
                &app.owner,
            )
            .await;
        assert_eq!(r.body["items"].as_array().expect("items").len(), total - 5);
    })
    .await;
}

// ----- audit trail and revisions ----------------------------------------------------

/// Every write leaves audit events with the request id, written at the
/// revision the write answered; a failed write leaves none.
#[tokio::test]
async fn audit_events_for_every_write() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let mut n = 0;
        let mut write = |method: Method, path: String, body: Option<Value>| {
            n += 1;
            let rid = format!("audit-test-{n}");
            let app = &app;
            async move {
                let r = send(
                    &app.router,
                    method,
                    &path,
                    Some(&app.owner),
                    body.as_ref(),
                    &[("x-request-id", rid.clone())],
                )
                .await;
                (r, rid)
            }
        };
        let mut expect = Vec::new();
        let (r, rid) = write(
            Method::POST,
            "/v1/organizations".into(),
            Some(json!({"name": "Audited"})),
        )
        .await;
        let org = r.str("id");
        expect.push((r, rid, "organization.create"));
        let (r, rid) = write(
            Method::PATCH,
            format!("/v1/organizations/{org}"),
            Some(json!({"name": "Audited 2"})),
        )
        .await;
        expect.push((r, rid, "organization.update"));
        let (r, rid) = write(
            Method::POST,
            format!("/v1/organizations/{org}/accounts"),
            Some(json!({"name": "X", "type": "vendor"})),
        )
        .await;
        let acc = r.str("id");
        expect.push((r, rid, "account.create"));
        let (r, rid) = write(
            Method::PATCH,
            format!("/v1/accounts/{acc}"),
            Some(json!({"status": "disabled"})),
        )
        .await;
        expect.push((r, rid, "account.update"));
        let (r, rid) = write(
            Method::POST,
            "/v1/users".into(),
            Some(
                json!({"organization_id": org, "email": "audited@x.example", "first_name": "Old"}),
            ),
        )
        .await;
        let user = r.str("id");
        expect.push((r, rid, "user.create"));
        let (r, rid) = write(
            Method::PATCH,
            format!("/v1/users/{user}"),
            Some(json!({"first_name": "New"})),
        )
        .await;
        expect.push((r, rid, "user.update"));
        let (r, rid) = write(
            Method::POST,
            format!("/v1/accounts/{acc}/members"),
            Some(json!({"user_id": user})),
        )
        .await;
        expect.push((r, rid, "membership.create"));
        let (r, rid) = write(
            Method::POST,
            format!("/v1/organizations/{org}/permissions"),
            Some(json!({"code": "x:y"})),
        )
        .await;
        expect.push((r, rid, "permission.create"));
        let (r, rid) = write(
            Method::POST,
            format!("/v1/organizations/{org}/roles"),
            Some(json!({"id": "r", "name": "R", "permissions": ["x:y"]})),
        )
        .await;
        expect.push((r, rid, "role.create"));
        let (r, rid) = write(
            Method::PATCH,
            format!("/v1/organizations/{org}/roles/r"),
            Some(json!({"name": "R2"})),
        )
        .await;
        expect.push((r, rid, "role.update"));
        let (r, rid) = write(
            Method::POST,
            format!("/v1/users/{user}/grants"),
            Some(json!({"role_id": "r", "scope": account_scope(&acc)})),
        )
        .await;
        let gid = r.str("id");
        expect.push((r, rid, "grant.create"));
        let (r, rid) = write(
            Method::DELETE,
            format!("/v1/users/{user}/grants/{gid}"),
            None,
        )
        .await;
        expect.push((r, rid, "grant.delete"));
        let (r, rid) = write(
            Method::DELETE,
            format!("/v1/organizations/{org}/roles/r"),
            None,
        )
        .await;
        expect.push((r, rid, "role.delete"));
        let (r, rid) = write(
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({"user_id": user, "name": "k"})),
        )
        .await;
        let (kid, secret) = (r.str("id"), r.str("key"));
        expect.push((r, rid, "api_key.create"));
        let (r, rid) = write(Method::DELETE, format!("/v1/api-keys/{kid}"), None).await;
        expect.push((r, rid, "api_key.revoke"));
        let (r, rid) = write(
            Method::DELETE,
            format!("/v1/accounts/{acc}/members/{user}"),
            None,
        )
        .await;
        expect.push((r, rid, "membership.delete"));
        let (r, rid) = write(Method::DELETE, format!("/v1/users/{user}"), None).await;
        expect.push((r, rid, "user.delete"));
        let (r, rid) = write(Method::DELETE, format!("/v1/accounts/{acc}"), None).await;
        expect.push((r, rid, "account.delete"));

        let events = audit_events(&app).await;
        let mut last_rev = 0;
        for (r, rid, action) in &expect {
            assert!(r.status.is_success(), "{action}: {} {}", r.status, r.body);
            let rev = r
                .revision()
                .unwrap_or_else(|| panic!("{action}: no Roster-Revision"));
            assert_eq!(rev, last_rev.max(rev), "revisions go forward");
            assert!(rev > last_rev, "{action}: revision {rev} after {last_rev}");
            last_rev = rev;
            let mine: Vec<_> = events
                .iter()
                .filter(|e| e.request_id.as_deref() == Some(rid.as_str()))
                .collect();
            assert!(
                !mine.is_empty(),
                "{action}: no audit event with request id {rid}"
            );
            assert!(
                mine.iter().any(|e| e.action == *action),
                "{action}: actions {:?}",
                mine.iter().map(|e| &e.action).collect::<Vec<_>>()
            );
            for e in &mine {
                assert_eq!(
                    e.revision, rev,
                    "{action}: audit revision {} vs response {rev}",
                    e.revision
                );
                assert_eq!(
                    e.actor_id.map(|u| u.to_string()),
                    Some(app.owner_id.clone())
                );
                match e.action.rsplit('.').next() {
                    Some("create") => assert!(e.before.is_none() && e.after.is_some(), "{action}"),
                    Some("delete") => assert!(e.before.is_some(), "{action}"),
                    _ => assert!(e.before.is_some() && e.after.is_some(), "{action}"),
                }
            }
        }
        // Before/after of an update, through the API.
        let r = app
            .get(
                &format!("/v1/audit-events?target_id={user}&limit=1000"),
                &app.owner,
            )
            .await;
        let upd = r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|e| e["action"] == json!("user.update"))
            .cloned()
            .expect("user.update event");
        assert_eq!(upd["before"]["first_name"], json!("Old"));
        assert_eq!(upd["after"]["first_name"], json!("New"));
        assert_eq!(upd["request_id"], json!("audit-test-6"));
        assert_eq!(upd["organization_id"], json!(org));
        // Secrets never reach the audit trail.
        let dump = serde_json::to_string(
            &events
                .iter()
                .map(|e| (&e.before, &e.after))
                .collect::<Vec<_>>(),
        )
        .expect("json");
        let hash = roster_domain::ops::hash_secret(&secret);
        assert!(
            !dump.contains(&secret) && !dump.contains(&hash),
            "a key secret or its hash is in the audit trail"
        );

        // A failed write adds no audit event and does not advance the revision.
        let before = fingerprint(&app, None).await;
        let r = send(
            &app.router,
            Method::PATCH,
            &format!("/v1/users/{}", a.target),
            Some(&a.viewer.1),
            Some(&json!({"first_name": "No"})),
            &[("x-request-id", "failed-write".into())],
        )
        .await;
        assert_eq!(r.status, 403);
        assert_eq!(r.body["request_id"], json!("failed-write"));
        let r = send(
            &app.router,
            Method::POST,
            "/v1/users",
            Some(&app.owner),
            Some(&json!({"organization_id": a.org_a, "email": "TARGET@a.example"})),
            &[("x-request-id", "failed-write-2".into())],
        )
        .await;
        assert_eq!(r.status, 409);
        assert_eq!(before, fingerprint(&app, None).await);
        assert!(audit_events(&app).await.iter().all(|e| e
            .request_id
            .as_deref()
            .is_none_or(|r| !r.starts_with("failed-write"))));
    })
    .await;
}

#[tokio::test]
async fn revision_header_advances_by_one_per_write() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let t = format!("/v1/users/{}", a.target);
        let start = app.state.store.current_revision().await.expect("revision");
        let mut expected = start;
        for i in 0..5 {
            let r = app.patch(&t, &app.owner, json!({"first_name": format!("R{i}")})).await;
            expected += 1;
            assert_eq!(r.revision(), Some(expected), "{}", r.body);
            assert_eq!(r.body["revision"], json!(expected));
        }
        // A write that changes nothing produces no revision.
        let r = app.patch(&t, &app.owner, json!({"first_name": "R4"})).await;
        assert_eq!(r.revision(), Some(expected));
        assert_eq!(app.state.store.current_revision().await.expect("revision"), expected);
        // Reads and checks say which revision they reflect.
        let h = app.call(Method::GET, "/healthz", None, None).await;
        assert_eq!(h.body["revision"], json!(expected));
        let r = app.post("/v1/check", &app.owner, json!({"user_id": a.target, "permission": "users:read", "account_id": a.acc_a1, "min_revision": expected})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.revision(), Some(expected));
        assert_eq!(r.body["revision"], json!(expected));
    })
    .await;
}

// ----- operations endpoints --------------------------------------------------------

#[tokio::test]
async fn health_and_readiness() {
    each_backend(|app| async move {
        for path in ["/healthz", "/readyz"] {
            let r = app.call(Method::GET, path, None, None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert_eq!(r.body["status"], json!("ok"));
            assert!(r.body["revision"].as_u64().is_some_and(|v| v > 0));
            assert!(r.headers.get("x-request-id").is_some());
        }
    })
    .await;
}

// ----- tenant isolation of authorization questions ---------------------------------

/// A problem document with the ids in it replaced, so that two answers about
/// different ids can be compared for what they reveal.
fn masked(r: &Resp, ids: &[&str]) -> (u16, String) {
    let mut b = r.body.clone();
    if let Some(o) = b.as_object_mut() {
        o.remove("request_id");
        o.remove("instance");
    }
    let mut s = b.to_string();
    for id in ids {
        s = s.replace(id, "<id>");
    }
    (r.status.as_u16(), s)
}

#[tokio::test]
async fn questions_about_other_tenants_users_reveal_nothing() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let (admin, admin_key) = a.org_admin.clone();
        // Users of B: an administrator (holds grants), a disabled one, and a
        // random id that exists nowhere.
        let b_admin = a.other_tenant.0.clone();
        let b_disabled = app.user(&a.org_b, "disabled@b.example").await;
        let r = app
            .patch(&format!("/v1/users/{b_disabled}"), &app.owner, json!({"status": "disabled"}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let random = uuid_like();
        let strangers = [b_admin.as_str(), b_disabled.as_str(), random.as_str()];

        // Single checks, on an account and on the organization, with explain.
        for target in [json!({"account_id": a.acc_a1}), json!({"organization_id": a.org_a})] {
            let mut answers = BTreeSet::new();
            for u in strangers {
                let mut body = json!({"user_id": u, "permission": "users:read", "explain": true});
                body.as_object_mut().unwrap().extend(target.as_object().unwrap().clone());
                let r = app.post("/v1/check", &admin_key, body).await;
                assert_eq!(r.status, 200, "{}", r.body);
                assert_eq!(r.body["explanation"]["reason"], json!("unknown_user"), "{u}: {}", r.body);
                answers.insert(r.body.to_string());
            }
            assert_eq!(answers.len(), 1, "answers differ: {answers:?}");
        }
        // The same through a batch.
        let checks: Vec<Value> = strangers
            .iter()
            .map(|u| json!({"user_id": u, "permission": "users:read", "account_id": a.acc_a1, "explain": true}))
            .collect();
        let r = app.post("/v1/check/batch", &admin_key, json!({"checks": checks})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let results: BTreeSet<String> = r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        assert_eq!(results.len(), 1, "batch results differ: {results:?}");
        assert!(results.iter().all(|x| x.contains("unknown_user")), "{results:?}");

        // Lookups of a stranger's accounts and its effective permissions:
        // the same 404 as for an id that exists nowhere.
        for path_of in [
            |u: &str, _acc: &str| ("/v1/lookup/accounts".to_owned(), Some(json!({"user_id": u, "permission": "users:read"}))),
            |u: &str, acc: &str| (format!("/v1/users/{u}/effective-permissions?account_id={acc}"), None),
        ] {
            let mut answers = BTreeSet::new();
            for u in strangers {
                let (path, body) = path_of(u, &a.acc_a1);
                let r = match body {
                    Some(b) => app.post(&path, &admin_key, b).await,
                    None => app.get(&path, &admin_key).await,
                };
                assert_problem(&r, 404, None);
                answers.insert(masked(&r, &strangers));
            }
            assert_eq!(answers.len(), 1, "answers differ: {answers:?}");
        }
        // Another tenant's account is an unknown account, whatever is asked.
        let mut answers = BTreeSet::new();
        let nowhere = uuid_like();
        for acc in [a.acc_b1.as_str(), nowhere.as_str()] {
            for (path, body) in [
                ("/v1/check", json!({"user_id": admin, "permission": "users:read", "account_id": acc, "explain": true})),
                ("/v1/lookup/users", json!({"permission": "users:read", "account_id": acc})),
            ] {
                let r = app.post(path, &admin_key, body).await;
                assert_problem(&r, 404, None);
                answers.insert((path, masked(&r, &[acc])));
            }
        }
        assert_eq!(answers.len(), 2, "another tenant's account differs from a missing one: {answers:?}");
        let r = app.get(&format!("/v1/users/{admin}/effective-permissions?account_id={}", a.acc_b1), &admin_key).await;
        assert_problem(&r, 404, None);
        assert!(!r.body.to_string().contains(&a.org_b), "names B: {}", r.body);

        // Lookups of users leave out users A cannot see, such as the
        // operator (a `global` grant, its home elsewhere), and a check about
        // it is one about an unknown user.
        let r = app
            .post("/v1/lookup/users", &admin_key, json!({"permission": "users:read", "account_id": a.acc_a1, "limit": 1000}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let seen: BTreeSet<&str> = r.body["items"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(seen.contains(admin.as_str()), "{seen:?}");
        assert!(!seen.contains(app.owner_id.as_str()), "lists the operator: {seen:?}");
        let r = app
            .post("/v1/check", &admin_key, json!({"user_id": app.owner_id, "permission": "users:read", "account_id": a.acc_a1, "explain": true}))
            .await;
        assert_eq!(r.body["explanation"]["reason"], json!("unknown_user"), "{}", r.body);

        // The operator (a global grant) sees what is there.
        let r = app
            .post("/v1/check", &app.owner, json!({"user_id": b_disabled, "permission": "users:read", "account_id": a.acc_a1, "explain": true}))
            .await;
        assert_eq!(r.body["explanation"]["reason"], json!("user_inactive"), "{}", r.body);
        let r = app
            .post("/v1/check", &app.owner, json!({"user_id": b_admin, "permission": "users:read", "account_id": a.acc_b1}))
            .await;
        assert_eq!(r.body["allowed"], json!(true), "{}", r.body);
        let r = app
            .get(&format!("/v1/users/{b_admin}/effective-permissions?account_id={}", a.acc_b1), &app.owner)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!r.body["permissions"].as_array().unwrap().is_empty(), "{}", r.body);
        let r = app
            .post("/v1/lookup/users", &app.owner, json!({"permission": "users:read", "account_id": a.acc_a1, "limit": 1000}))
            .await;
        assert!(r.body["items"].as_array().unwrap().contains(&json!(app.owner_id)), "{}", r.body);
    })
    .await;
}

// ----- escalation guard over whole users -----------------------------------------

#[tokio::test]
async fn an_organization_admin_cannot_take_over_or_switch_off_its_operator() {
    each_backend(|app| async move {
        // An administrator of the organization the operator (global owner)
        // calls home.
        let admin = app.user(&app.org, "admin@home.example").await;
        app.grant(&admin, "admin", org_scope(&app.org)).await;
        let admin_key = app.key(&admin).await;
        let op = format!("/v1/users/{}", app.owner_id);
        let keys = app.get("/v1/api-keys?limit=1000", &app.owner).await;
        let op_key = keys.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["user_id"] == json!(app.owner_id))
            .and_then(|k| k["id"].as_str())
            .expect("the operator's key")
            .to_owned();

        for body in [
            json!({"status": "disabled"}),
            json!({"status": "invited"}),
            json!({"email": "mine@home.example"}),
            json!({"external_ids": {"idp": "my-subject"}}),
        ] {
            refused(
                &app,
                &op,
                403,
                "forbidden",
                app.patch(&op, &admin_key, body),
            )
            .await;
        }
        refused(&app, &op, 403, "forbidden", app.delete(&op, &admin_key)).await;
        refused(
            &app,
            &op,
            403,
            "forbidden",
            app.delete(&format!("/v1/api-keys/{op_key}"), &admin_key),
        )
        .await;
        let r = app
            .patch(&op, &admin_key, json!({"status": "disabled"}))
            .await;
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains("escalation guard"),
            "{}",
            r.body
        );
        // The operator's key still works.
        let r = app.get(&op, &app.owner).await;
        assert_eq!(r.status, 200, "{}", r.body);

        // The administrator still manages users it out-ranks.
        let plain = app.user(&app.org, "plain@home.example").await;
        app.grant(&plain, "member", org_scope(&app.org)).await;
        let plain_path = format!("/v1/users/{plain}");
        for body in [
            json!({"status": "disabled"}),
            json!({"status": "active"}),
            json!({"email": "p2@home.example"}),
            json!({"external_ids": {"idp": "p"}}),
        ] {
            let r = app.patch(&plain_path, &admin_key, body).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        // ... but not one holding something it lacks (an organization owner).
        let peer = app.user(&app.org, "peer@home.example").await;
        app.grant(&peer, "owner", org_scope(&app.org)).await;
        let peer_path = format!("/v1/users/{peer}");
        refused(
            &app,
            &peer_path,
            403,
            "forbidden",
            app.delete(&peer_path, &admin_key),
        )
        .await;
        refused(
            &app,
            &peer_path,
            403,
            "forbidden",
            app.patch(&peer_path, &admin_key, json!({"status": "disabled"})),
        )
        .await;
        // Profile fields stay editable by `users:write`.
        let r = app
            .patch(&peer_path, &admin_key, json!({"first_name": "Pat"}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app.delete(&plain_path, &admin_key).await;
        assert_eq!(r.status, 204, "{}", r.body);
    })
    .await;
}

// ----- email uniqueness ----------------------------------------------------------

#[tokio::test]
async fn emails_are_unique_within_an_organization_only() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let b_admin = a.other_tenant.1.clone();
        let taken = "shared@example.com";
        let in_a = app.user(&a.org_a, taken).await;
        // B cannot learn that A has a user with this address: it is free in B.
        let r = app
            .post(
                "/v1/users",
                &b_admin,
                json!({"organization_id": a.org_b, "email": "Shared@Example.com"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let in_b = r.str("id");
        // Within B it is taken, case-insensitively, on create and on update.
        refused(
            &app,
            &format!("/v1/users/{in_b}"),
            409,
            "conflict",
            app.post(
                "/v1/users",
                &b_admin,
                json!({"organization_id": a.org_b, "email": "SHARED@example.com"}),
            ),
        )
        .await;
        let b_user = format!("/v1/users/{}", a.other_tenant.0);
        refused(
            &app,
            &b_user,
            409,
            "conflict",
            app.patch(&b_user, &app.owner, json!({"email": "shared@EXAMPLE.com"})),
        )
        .await;
        // The email filter answers within what the caller sees.
        let r = app
            .get("/v1/users?email=SHARED@example.com", &b_admin)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.body);
        assert_eq!(r.body["items"][0]["id"], json!(in_b));
        let r = app
            .get("/v1/users?email=shared@example.com", &app.owner)
            .await;
        let mut ids: Vec<&str> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["id"].as_str())
            .collect();
        ids.sort_unstable();
        let mut want = vec![in_a.as_str(), in_b.as_str()];
        want.sort_unstable();
        assert_eq!(ids, want, "{}", r.body);
        let r = app
            .get(
                &format!(
                    "/v1/users?email=shared@example.com&organization_id={}",
                    a.org_a
                ),
                &app.owner,
            )
            .await;
        assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.body);
        assert_eq!(r.body["items"][0]["id"], json!(in_a));
        // Deleting frees the address in its organization.
        let r = app.delete(&format!("/v1/users/{in_b}"), &app.owner).await;
        assert_eq!(r.status, 204, "{}", r.body);
        let r = app
            .post(
                "/v1/users",
                &b_admin,
                json!({"organization_id": a.org_b, "email": taken}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn lookups_page_with_cursors() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let everyone = |limit: u32, cursor: Option<String>| {
            let mut body =
                json!({"permission": "users:read", "organization_id": a.org_a, "limit": limit});
            if let Some(c) = cursor {
                body["cursor"] = json!(c);
            }
            body
        };
        let all = app
            .post("/v1/lookup/users", &app.owner, everyone(1000, None))
            .await;
        assert_eq!(all.status, 200, "{}", all.body);
        assert_eq!(all.body["next_cursor"], Value::Null);
        let want: Vec<Value> = all.body["items"].as_array().unwrap().clone();
        assert!(want.len() >= 3, "{}", all.body);
        let (mut got, mut cursor) = (Vec::new(), None);
        loop {
            let r = app
                .post("/v1/lookup/users", &app.owner, everyone(2, cursor))
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            let items = r.body["items"].as_array().unwrap();
            assert!(items.len() <= 2, "{}", r.body);
            got.extend(items.iter().cloned());
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(got, want);
        // The same for an organization admin's accounts.
        let accounts = |limit: u32, cursor: Option<String>| {
            let mut body =
                json!({"user_id": a.org_admin.0, "permission": "users:read", "limit": limit});
            if let Some(c) = cursor {
                body["cursor"] = json!(c);
            }
            body
        };
        let all = app
            .post("/v1/lookup/accounts", &app.owner, accounts(1000, None))
            .await;
        let want: Vec<Value> = all.body["items"].as_array().unwrap().clone();
        assert_eq!(want.len(), 2, "{}", all.body);
        let first = app
            .post("/v1/lookup/accounts", &app.owner, accounts(1, None))
            .await;
        assert_eq!(first.body["items"], json!([want[0]]), "{}", first.body);
        let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
        let second = app
            .post("/v1/lookup/accounts", &app.owner, accounts(1, Some(cursor)))
            .await;
        assert_eq!(second.body["items"], json!([want[1]]), "{}", second.body);
        assert_eq!(second.body["next_cursor"], Value::Null, "{}", second.body);
    })
    .await;
}
