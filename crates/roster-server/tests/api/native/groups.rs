//! Groups through the native API (SPEC §1, §2): CRUD with ETags, members
//! (who may be one), a member holding the group's grants in checks,
//! explanations, effective permissions and lookups, and every guard of
//! SPEC §2 through groups: escalation, self, lockout and tenant isolation.
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
use native_support::{assert_problem, audit_events, etag, fingerprint};
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn org_scope(org: &str) -> Value {
    json!({"type": "organization", "id": org})
}

fn account_scope(acc: &str) -> Value {
    json!({"type": "account", "id": acc})
}

/// An RFC 3339 time a year from now.
fn next_year() -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A UUID that names nothing.
fn nowhere() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Creates a group as `token`; returns the answer.
async fn create_as(app: &TestApp, token: &str, org: &str, name: &str) -> Resp {
    app.post(
        &format!("/v1/organizations/{org}/groups"),
        token,
        json!({"name": name}),
    )
    .await
}

/// Creates a group as the owner; returns its id.
async fn group(app: &TestApp, org: &str, name: &str) -> String {
    let r = create_as(app, &app.owner, org, name).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.str("id")
}

/// Gives a group a role at a scope as the owner; returns the grant.
async fn group_grant(app: &TestApp, group: &str, role: &str, scope: Value) -> Value {
    let r = app
        .post(
            &format!("/v1/groups/{group}/grants"),
            &app.owner,
            json!({"role_id": role, "scope": scope}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

/// Adds a member as `token`.
async fn add_as(app: &TestApp, token: &str, group: &str, user: &str) -> Resp {
    app.post(
        &format!("/v1/groups/{group}/members"),
        token,
        json!({"user_id": user}),
    )
    .await
}

/// Adds a member as the owner.
async fn add(app: &TestApp, group: &str, user: &str) {
    let r = add_as(app, &app.owner, group, user).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// Asserts a refused request changed nothing (revision, audit trail, the
/// owner's view of `watch`) and was answered `status` with `code`.
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

/// `POST /v1/check` as the owner, with its explanation.
async fn check(app: &TestApp, user: &str, permission: &str, account: &str) -> Value {
    let r = app
        .post(
            "/v1/check",
            &app.owner,
            json!({"user_id": user, "permission": permission, "account_id": account, "explain": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn crud_with_etags_and_if_match() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let base = format!("/v1/organizations/{}/groups", a.org_a);
        let r = app
            .post(
                &base,
                &a.org_admin.1,
                json!({"name": "Billing", "description": "Pays"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.str("id");
        assert_eq!(r.body["organization_id"], json!(a.org_a));
        assert_eq!(r.body["name"], "Billing");
        assert_eq!(r.body["description"], "Pays");
        assert_eq!(r.body["created_by"], json!(a.org_admin.0));
        assert_eq!(etag(&r), r.body["revision"].as_u64().unwrap());
        assert_eq!(r.revision(), r.body["revision"].as_u64());
        let created = r.body.clone();

        // The name is unique in the organization, case-insensitively; not
        // across organizations.
        let r = app
            .post(&base, &a.org_admin.1, json!({"name": "billing"}))
            .await;
        assert_problem(&r, 409, Some("name"));
        let r = create_as(&app, &a.other_tenant.1, &a.org_b, "Billing").await;
        assert_eq!(r.status, 201, "{}", r.body);

        // Bad input names the field.
        for (body, field) in [
            (json!({"name": ""}), "name"),
            (json!({"name": "x".repeat(201)}), "name"),
            (json!({"name": null}), "name"),
            (json!({}), "name"),
            (
                json!({"name": "Ok", "description": "d".repeat(1001)}),
                "description",
            ),
            (json!({"name": "Ok", "description": null}), "description"),
            (json!({"name": "Ok", "colour": "red"}), "colour"),
        ] {
            let r = app.post(&base, &a.org_admin.1, body.clone()).await;
            assert_problem(&r, 400, Some(field));
        }

        // Read and list: users:read is enough; writing needs users:write.
        let r = app.get(&format!("/v1/groups/{id}"), &a.viewer.1).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, created);
        assert_eq!(etag(&r), created["revision"].as_u64().unwrap());
        let second = group(&app, &a.org_a, "Support").await;
        let r = app.get(&format!("{base}?limit=1"), &a.viewer.1).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
        let cursor = r.str("next_cursor");
        let r2 = app
            .get(&format!("{base}?limit=1&cursor={cursor}"), &a.viewer.1)
            .await;
        assert_eq!(r2.status, 200, "{}", r2.body);
        let seen: BTreeSet<String> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .chain(r2.body["items"].as_array().unwrap())
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(seen, BTreeSet::from([id.clone(), second.clone()]));
        assert_eq!(r2.body["next_cursor"], Value::Null);
        let r = create_as(&app, &a.viewer.1, &a.org_a, "Nope").await;
        assert_problem(&r, 403, None);
        for path in [format!("/v1/groups/{id}"), base.clone()] {
            let r = app.get(&path, &a.nobody.1).await;
            assert_problem(&r, 403, None);
        }

        // PATCH: If-Match, partial, read-only fields ignored, unknown refused.
        let path = format!("/v1/groups/{id}");
        let rev = created["revision"].as_u64().unwrap();
        let stale = format!("\"{}\"", rev - 1);
        let r = app
            .call_with(
                Method::PATCH,
                &path,
                Some(&a.org_admin.1),
                Some(json!({"name": "Payments"})),
                &[("if-match", &stale)],
            )
            .await;
        assert_problem(&r, 412, Some("If-Match"));
        let mut sent_back = created.clone();
        sent_back["name"] = json!("Payments");
        sent_back["id"] = json!(nowhere());
        let r = app
            .call_with(
                Method::PATCH,
                &path,
                Some(&a.org_admin.1),
                Some(sent_back),
                &[("if-match", &format!("\"{rev}\""))],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["name"], "Payments");
        assert_eq!(r.body["description"], "Pays");
        assert_eq!(r.body["id"], json!(id));
        let rev2 = r.body["revision"].as_u64().unwrap();
        assert!(rev2 > rev);
        assert_eq!(etag(&r), rev2);
        let r = app
            .patch(&path, &a.org_admin.1, json!({"description": ""}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["description"], "");
        assert_eq!(r.body["name"], "Payments");
        let r = app
            .patch(&path, &a.org_admin.1, json!({"name": "support"}))
            .await;
        assert_problem(&r, 409, Some("name"));
        for (body, field) in [
            (json!({"name": null}), "name"),
            (json!({"description": null}), "description"),
            (json!({"members": []}), "members"),
        ] {
            let r = app.patch(&path, &a.org_admin.1, body).await;
            assert_problem(&r, 400, Some(field));
        }
        let r = app.patch(&path, &a.viewer.1, json!({"name": "X"})).await;
        assert_problem(&r, 403, None);

        // DELETE: If-Match too.
        let r = app
            .call_with(
                Method::DELETE,
                &path,
                Some(&a.org_admin.1),
                None,
                &[("if-match", &stale)],
            )
            .await;
        assert_problem(&r, 412, Some("If-Match"));
        let r = app.delete(&path, &a.viewer.1).await;
        assert_problem(&r, 403, None);
        let r = app.delete(&path, &a.org_admin.1).await;
        assert_eq!(r.status, 204, "{}", r.body);
        assert!(r.revision().is_some());
        let r = app.get(&path, &a.org_admin.1).await;
        assert_problem(&r, 404, None);
        let r = app.delete(&path, &a.org_admin.1).await;
        assert_problem(&r, 404, None);
        // Its name is free again.
        let r = app
            .post(&base, &a.org_admin.1, json!({"name": "Payments"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn members_are_live_users_of_the_groups_organization() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let g = group(&app, &a.org_a, "Team").await;
        let members = format!("/v1/groups/{g}/members");
        let admin = &a.org_admin.1;

        // A user of another organization: 400 to whoever may see it, and
        // to an administrator of A the same 404 as a user that does not exist.
        let b_user = app.user(&a.org_b, "someone@b.example").await;
        let r = add_as(&app, &app.owner, &g, &b_user).await;
        assert_problem(&r, 400, Some("user_id"));
        let r = add_as(&app, admin, &g, &b_user).await;
        assert_problem(&r, 404, None);
        let stranger = masked(&r, &[&b_user]);
        let random = nowhere();
        let r = add_as(&app, admin, &g, &random).await;
        assert_problem(&r, 404, None);
        assert_eq!(masked(&r, &[&random]), stranger);
        // A deleted user is no user.
        let gone = app.user(&a.org_a, "gone@a.example").await;
        let r = app.delete(&format!("/v1/users/{gone}"), &app.owner).await;
        assert_eq!(r.status, 204, "{}", r.body);
        let r = add_as(&app, admin, &g, &gone).await;
        assert_problem(&r, 404, None);

        // Bad input names the field.
        let past = "2001-01-01T00:00:00Z";
        for (body, field) in [
            (json!({"user_id": "not-a-uuid"}), "user_id"),
            (json!({}), "user_id"),
            (
                json!({"user_id": a.target, "expires_at": "tomorrow"}),
                "expires_at",
            ),
            (
                json!({"user_id": a.target, "expires_at": past}),
                "expires_at",
            ),
            (
                json!({"user_id": a.target, "expires_at": null}),
                "expires_at",
            ),
            (json!({"user_id": a.target, "role": "x"}), "role"),
        ] {
            let r = app.post(&members, admin, body).await;
            assert_problem(&r, 400, Some(field));
        }

        // Added: 201; added again: 200 with the membership as it is.
        let until = next_year();
        let r = app
            .post(
                &members,
                admin,
                json!({"user_id": a.target, "expires_at": until}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["group_id"], json!(g));
        assert_eq!(r.body["user_id"], json!(a.target));
        assert_eq!(r.body["created_by"], json!(a.org_admin.0));
        assert!(r.body["expires_at"].is_string(), "{}", r.body);
        let m = r.body.clone();
        assert_eq!(etag(&r), m["revision"].as_u64().unwrap());
        let r = app
            .post(&members, admin, json!({"user_id": a.target}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, m);

        // Listed, and among the user's groups with the expiry.
        let r = app.get(&members, &a.viewer.1).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["items"], json!([m]));
        let r = app
            .get(&format!("/v1/users/{}/groups", a.target), &a.viewer.1)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.body);
        assert_eq!(r.body["items"][0]["id"], json!(g));
        assert_eq!(r.body["items"][0]["name"], "Team");
        assert_eq!(r.body["items"][0]["expires_at"], m["expires_at"]);
        // The user may read its own groups.
        let own = app.key(&a.target).await;
        let r = app
            .get(&format!("/v1/users/{}/groups", a.target), &own)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app
            .get(&format!("/v1/users/{}/groups", a.target), &a.nobody.1)
            .await;
        assert_problem(&r, 403, None);

        // PATCH the expiry: If-Match, null clears, absent leaves it.
        let one = format!("{members}/{}", a.target);
        let rev = m["revision"].as_u64().unwrap();
        let r = app
            .call_with(
                Method::PATCH,
                &one,
                Some(admin),
                Some(json!({"expires_at": null})),
                &[("if-match", &format!("\"{}\"", rev + 100))],
            )
            .await;
        assert_problem(&r, 412, Some("If-Match"));
        let r = app
            .call_with(
                Method::PATCH,
                &one,
                Some(admin),
                Some(json!({"expires_at": null})),
                &[("if-match", &format!("\"{rev}\""))],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["expires_at"], Value::Null);
        let rev2 = etag(&r);
        assert!(rev2 > rev);
        let mut sent_back = r.body.clone();
        sent_back.as_object_mut().unwrap().remove("expires_at");
        let r = app.patch(&one, admin, sent_back).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(etag(&r), rev2);
        assert_eq!(r.body["expires_at"], Value::Null);
        let r = app.patch(&one, admin, json!({"expires_at": until})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["expires_at"].is_string(), "{}", r.body);
        for (body, field) in [
            (json!({"expires_at": "soon"}), "expires_at"),
            (json!({"expires_at": past}), "expires_at"),
            (json!({"group": "x"}), "group"),
        ] {
            let r = app.patch(&one, admin, body).await;
            assert_problem(&r, 400, Some(field));
        }
        let r = app
            .patch(&one, &a.viewer.1, json!({"expires_at": null}))
            .await;
        assert_problem(&r, 403, None);
        let r = app
            .patch(
                &format!("{members}/{}", a.viewer.0),
                admin,
                json!({"expires_at": null}),
            )
            .await;
        assert_problem(&r, 404, None);

        // DELETE.
        let r = app.delete(&one, &a.viewer.1).await;
        assert_problem(&r, 403, None);
        let r = app.delete(&one, admin).await;
        assert_eq!(r.status, 204, "{}", r.body);
        let r = app.delete(&one, admin).await;
        assert_problem(&r, 404, None);
        let r = app.get(&members, admin).await;
        assert_eq!(r.body["items"], json!([]));
        let r = app
            .get(&format!("/v1/users/{}/groups", a.target), admin)
            .await;
        assert_eq!(r.body["items"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn a_member_holds_the_groups_grants() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let g = group(&app, &a.org_a, "Readers").await;
        let grant = group_grant(&app, &g, "viewer", account_scope(&a.acc_a2)).await;
        assert_eq!(grant["group_id"], json!(g));
        assert_eq!(grant["user_id"], Value::Null);
        let grant_id = grant["id"].as_str().unwrap().to_owned();
        let u = a.target.clone();
        let denied = check(&app, &u, "accounts:read", &a.acc_a2).await;
        assert_eq!(denied["allowed"], false, "{denied}");

        add(&app, &g, &u).await;
        let c = check(&app, &u, "accounts:read", &a.acc_a2).await;
        assert_eq!(c["allowed"], true, "{c}");
        assert_eq!(c["explanation"]["group_id"], json!(g), "{c}");
        assert_eq!(c["explanation"]["grant_id"], json!(grant_id), "{c}");
        assert_eq!(c["explanation"]["role_id"], "viewer", "{c}");
        // Only where the grant's scope reaches.
        let c = check(&app, &u, "accounts:read", &a.acc_a1).await;
        assert_eq!(c["allowed"], false, "{c}");
        // Batches agree.
        let r = app
            .post(
                "/v1/check/batch",
                &app.owner,
                json!({"checks": [
                    {"user_id": u, "permission": "accounts:read", "account_id": a.acc_a2},
                    {"user_id": u, "permission": "accounts:write", "account_id": a.acc_a2},
                ]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["results"][0]["allowed"], true, "{}", r.body);
        assert_eq!(r.body["results"][1]["allowed"], false, "{}", r.body);

        // Effective permissions list the group's grant, naming the group.
        let r = app
            .get(
                &format!("/v1/users/{u}/effective-permissions?account_id={}", a.acc_a2),
                &app.owner,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let perms = r.body["permissions"].as_array().unwrap();
        let read = perms
            .iter()
            .find(|p| p["permission"] == "accounts:read")
            .unwrap_or_else(|| panic!("no accounts:read in {}", r.body));
        assert_eq!(read["group_id"], json!(g));
        assert_eq!(read["grant_id"], json!(grant_id));

        // Lookups include the member.
        let r = app
            .post(
                "/v1/lookup/users",
                &app.owner,
                json!({"permission": "accounts:read", "account_id": a.acc_a2, "limit": 1000}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["items"].as_array().unwrap().contains(&json!(u)), "{}", r.body);
        let r = app
            .post(
                "/v1/lookup/accounts",
                &app.owner,
                json!({"user_id": u, "permission": "accounts:read"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["items"], json!([a.acc_a2]), "{}", r.body);

        // The user's own grants list does not show the group's; the
        // group's does.
        let r = app.get(&format!("/v1/users/{u}/grants"), &app.owner).await;
        assert!(r.body["items"].as_array().unwrap().iter().all(|x| x["id"] != json!(grant_id)));
        let r = app.get(&format!("/v1/groups/{g}/grants"), &a.org_admin.1).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.body);
        assert_eq!(r.body["items"][0]["id"], json!(grant_id));

        // Removing the member takes it away.
        let r = app
            .delete(&format!("/v1/groups/{g}/members/{u}"), &a.org_admin.1)
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
        let c = check(&app, &u, "accounts:read", &a.acc_a2).await;
        assert_eq!(c["allowed"], false, "{c}");
        let r = app
            .post(
                "/v1/lookup/users",
                &app.owner,
                json!({"permission": "accounts:read", "account_id": a.acc_a2, "limit": 1000}),
            )
            .await;
        assert!(!r.body["items"].as_array().unwrap().contains(&json!(u)), "{}", r.body);

        // So does removing the grant.
        add(&app, &g, &u).await;
        assert_eq!(check(&app, &u, "accounts:read", &a.acc_a2).await["allowed"], true);
        let r = app
            .delete(&format!("/v1/groups/{g}/grants/{grant_id}"), &a.org_admin.1)
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(check(&app, &u, "accounts:read", &a.acc_a2).await["allowed"], false);
        let r = app
            .delete(&format!("/v1/groups/{g}/grants/{grant_id}"), &a.org_admin.1)
            .await;
        assert_problem(&r, 404, None);

        // A grant given to a group later reaches its members at once, and
        // its expiry can be set and cleared like a user's grant's.
        let r = app
            .post(
                &format!("/v1/groups/{g}/grants"),
                &a.org_admin.1,
                json!({"permission_id": "users:read", "scope": org_scope(&a.org_a), "expires_at": next_year()}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert!(r.body["expires_at"].is_string(), "{}", r.body);
        let gid = r.str("id");
        let rev = etag(&r);
        assert_eq!(check(&app, &u, "users:read", &a.acc_a1).await["allowed"], true);
        let path = format!("/v1/groups/{g}/grants/{gid}");
        let r = app
            .call_with(
                Method::PATCH,
                &path,
                Some(&a.org_admin.1),
                Some(json!({"expires_at": null})),
                &[("if-match", &format!("\"{}\"", rev + 7))],
            )
            .await;
        assert_problem(&r, 412, Some("If-Match"));
        let r = app
            .call_with(
                Method::PATCH,
                &path,
                Some(&a.org_admin.1),
                Some(json!({"expires_at": null})),
                &[("if-match", &format!("\"{rev}\""))],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["expires_at"], Value::Null);
        // The same body again is 200 with the grant there.
        let r = app
            .post(
                &format!("/v1/groups/{g}/grants"),
                &a.org_admin.1,
                json!({"permission_id": "users:read", "scope": org_scope(&a.org_a)}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.str("id"), gid);
        // Bad grant bodies name the field, as for users.
        for (body, field) in [
            (json!({"scope": org_scope(&a.org_a)}), "role_id"),
            (json!({"role_id": "viewer", "scope": {"type": "planet"}}), "scope.type"),
            (json!({"role_id": "viewer", "scope": org_scope(&a.org_b)}), "scope.id"),
            (json!({"role_id": "viewer", "scope": org_scope(&a.org_a), "expires_at": "later"}), "expires_at"),
            (json!({"role_id": "viewer", "scope": org_scope(&a.org_a), "holder": "me"}), "holder"),
        ] {
            let r = app.post(&format!("/v1/groups/{g}/grants"), &app.owner, body).await;
            assert_problem(&r, 400, Some(field));
        }
    })
    .await;
}

#[tokio::test]
async fn escalation_guard_through_groups() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let watch = format!("/v1/users/{}/groups", a.target);
        // A group holding `owner` on the organization: an organization
        // admin lacks `organizations:write`, so it can neither add nor
        // remove a member, nor give such a grant to a group.
        let owners = group(&app, &a.org_a, "Owners").await;
        let owner_grant = group_grant(&app, &owners, "owner", org_scope(&a.org_a)).await;
        let admin = a.org_admin.1.clone();
        refused(
            &app,
            &watch,
            403,
            "forbidden",
            add_as(&app, &admin, &owners, &a.target),
        )
        .await;
        let plain = group(&app, &a.org_a, "Plain").await;
        refused(
            &app,
            &format!("/v1/groups/{plain}/grants"),
            403,
            "forbidden",
            app.post(
                &format!("/v1/groups/{plain}/grants"),
                &admin,
                json!({"role_id": "owner", "scope": org_scope(&a.org_a)}),
            ),
        )
        .await;
        add(&app, &owners, &a.target).await;
        refused(
            &app,
            &watch,
            403,
            "forbidden",
            app.delete(&format!("/v1/groups/{owners}/members/{}", a.target), &admin),
        )
        .await;
        refused(
            &app,
            &watch,
            403,
            "forbidden",
            app.patch(
                &format!("/v1/groups/{owners}/members/{}", a.target),
                &admin,
                json!({"expires_at": next_year()}),
            ),
        )
        .await;
        refused(
            &app,
            &format!("/v1/groups/{owners}/grants"),
            403,
            "forbidden",
            app.delete(
                &format!(
                    "/v1/groups/{owners}/grants/{}",
                    owner_grant["id"].as_str().unwrap()
                ),
                &admin,
            ),
        )
        .await;
        // Deleting the group takes the grant away from its members too.
        refused(
            &app,
            &watch,
            403,
            "forbidden",
            app.delete(&format!("/v1/groups/{owners}"), &admin),
        )
        .await;

        // An account admin holds `grants:write` on its account only: it
        // cannot add members to a group with an organization-wide grant,
        // but may hand out what it holds where it holds it.
        let readers = group(&app, &a.org_a, "Readers").await;
        group_grant(&app, &readers, "viewer", org_scope(&a.org_a)).await;
        let acc_admin = a.account_admin.1.clone();
        let other = app.user(&a.org_a, "other@a.example").await;
        refused(
            &app,
            &watch,
            403,
            "forbidden",
            add_as(&app, &acc_admin, &readers, &other),
        )
        .await;
        refused(
            &app,
            &format!("/v1/groups/{plain}/grants"),
            403,
            "forbidden",
            app.post(
                &format!("/v1/groups/{plain}/grants"),
                &acc_admin,
                json!({"role_id": "viewer", "scope": account_scope(&a.acc_a2)}),
            ),
        )
        .await;
        let r = app
            .post(
                &format!("/v1/groups/{plain}/grants"),
                &acc_admin,
                json!({"role_id": "viewer", "scope": account_scope(&a.acc_a1)}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);

        // What it may do, it may: the organization admin adds to a group
        // whose grants it holds.
        let r = add_as(&app, &admin, &readers, &other).await;
        assert_eq!(r.status, 201, "{}", r.body);
        // A scoped key acts with at most its scopes.
        let narrow = app
            .scoped_key(
                &a.org_admin.0,
                &["users:read", "users:write", "grants:write"],
            )
            .await;
        let narrow = narrow["key"].as_str().unwrap().to_owned();
        refused(
            &app,
            &watch,
            403,
            "forbidden",
            app.delete(&format!("/v1/groups/{readers}/members/{other}"), &narrow),
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn self_guard_through_groups() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let (me, my_key) = a.org_admin.clone();
        let watch = format!("/v1/users/{me}/groups");
        let g = group(&app, &a.org_a, "Mine").await;
        // Nobody adds themselves, not even to a group without grants.
        refused(
            &app,
            &watch,
            403,
            "self_change",
            add_as(&app, &my_key, &g, &me),
        )
        .await;
        add(&app, &g, &me).await;
        let grant = group_grant(&app, &g, "viewer", account_scope(&a.acc_a1)).await;
        let grant_id = grant["id"].as_str().unwrap();
        // Nor removes themselves or changes their membership.
        refused(
            &app,
            &watch,
            403,
            "self_change",
            app.delete(&format!("/v1/groups/{g}/members/{me}"), &my_key),
        )
        .await;
        refused(
            &app,
            &watch,
            403,
            "self_change",
            app.patch(
                &format!("/v1/groups/{g}/members/{me}"),
                &my_key,
                json!({"expires_at": next_year()}),
            ),
        )
        .await;
        // Nor changes the grants of a group they are in.
        let grants = format!("/v1/groups/{g}/grants");
        refused(
            &app,
            &grants,
            403,
            "self_change",
            app.post(
                &grants,
                &my_key,
                json!({"role_id": "admin", "scope": org_scope(&a.org_a)}),
            ),
        )
        .await;
        refused(
            &app,
            &grants,
            403,
            "self_change",
            app.patch(
                &format!("{grants}/{grant_id}"),
                &my_key,
                json!({"expires_at": next_year()}),
            ),
        )
        .await;
        refused(
            &app,
            &grants,
            403,
            "self_change",
            app.delete(&format!("{grants}/{grant_id}"), &my_key),
        )
        .await;
        // Nor deletes the group (which removes their membership).
        refused(
            &app,
            &watch,
            403,
            "self_change",
            app.delete(&format!("/v1/groups/{g}"), &my_key),
        )
        .await;
        // Another administrator may do all of it.
        let peer = app.user(&a.org_a, "peer@a.example").await;
        app.grant(&peer, "admin", org_scope(&a.org_a)).await;
        let peer_key = app.key(&peer).await;
        let r = app
            .post(
                &grants,
                &peer_key,
                json!({"role_id": "admin", "scope": org_scope(&a.org_a)}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = app
            .delete(&format!("/v1/groups/{g}/members/{me}"), &peer_key)
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
        // Renaming a group one is in changes nobody's access: allowed.
        add(&app, &g, &me).await;
        let r = app
            .patch(&format!("/v1/groups/{g}"), &my_key, json!({"name": "Ours"}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn lockout_guard_through_groups() {
    each_backend(|app| async move {
        // Organization C: its only administrator holds `grants:write` on it
        // through a permanent grant of a group, as a permanent member.
        let c = app.org("Tenant C").await;
        let x = app.user(&c, "x@c.example").await;
        let admins = group(&app, &c, "Admins").await;
        let grant = group_grant(&app, &admins, "admin", org_scope(&c)).await;
        let grant_id = grant["id"].as_str().unwrap().to_owned();
        add(&app, &admins, &x).await;
        let watch = format!("/v1/groups/{admins}/members");
        let lockouts = || {
            vec![
                (
                    Method::DELETE,
                    format!("/v1/groups/{admins}/members/{x}"),
                    None,
                ),
                (
                    Method::PATCH,
                    format!("/v1/groups/{admins}/members/{x}"),
                    Some(json!({"expires_at": next_year()})),
                ),
                (
                    Method::DELETE,
                    format!("/v1/groups/{admins}/grants/{grant_id}"),
                    None,
                ),
                (
                    Method::PATCH,
                    format!("/v1/groups/{admins}/grants/{grant_id}"),
                    Some(json!({"expires_at": next_year()})),
                ),
                (Method::DELETE, format!("/v1/groups/{admins}"), None),
            ]
        };
        for (method, path, body) in lockouts() {
            refused(
                &app,
                &watch,
                409,
                "lockout",
                app.call(method, &path, Some(&app.owner), body),
            )
            .await;
        }
        // Users holding it only until some time do not count: a member
        // whose membership expires, a permanent member of a group whose
        // grant expires.
        let y = app.user(&c, "y@c.example").await;
        let r = app
            .post(
                &format!("/v1/groups/{admins}/members"),
                &app.owner,
                json!({"user_id": y, "expires_at": next_year()}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let temps = group(&app, &c, "Temps").await;
        let r = app
            .post(
                &format!("/v1/groups/{temps}/grants"),
                &app.owner,
                json!({"role_id": "admin", "scope": org_scope(&c), "expires_at": next_year()}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let z = app.user(&c, "z@c.example").await;
        add(&app, &temps, &z).await;
        for (method, path, body) in lockouts() {
            refused(
                &app,
                &watch,
                409,
                "lockout",
                app.call(method, &path, Some(&app.owner), body),
            )
            .await;
        }
        // A second permanent administrator (directly) frees them all.
        let w = app.user(&c, "w@c.example").await;
        app.grant(&w, "admin", org_scope(&c)).await;
        let r = app
            .delete(&format!("/v1/groups/{admins}/members/{x}"), &app.owner)
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
        let r = app
            .delete(&format!("/v1/groups/{admins}"), &app.owner)
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
    })
    .await;
}

/// A problem document with `ids` replaced and the request's own members
/// left out, so that answers about different ids compare on what they reveal.
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
async fn another_tenants_groups_are_not_found() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let g = group(&app, &a.org_a, "A's").await;
        let grant = group_grant(&app, &g, "viewer", account_scope(&a.acc_a1)).await;
        let grant_id = grant["id"].as_str().unwrap().to_owned();
        add(&app, &g, &a.target).await;
        let b_admin = a.other_tenant.1.clone();
        let b_user = app.user(&a.org_b, "member@b.example").await;
        let random_group = nowhere();
        let random_grant = nowhere();

        // Every group route, on A's group as B's admin and on a group that
        // does not exist: the same 404.
        let routes = |group: &str, grant: &str| -> Vec<(Method, String, Option<Value>)> {
            vec![
                (Method::GET, format!("/v1/groups/{group}"), None),
                (
                    Method::PATCH,
                    format!("/v1/groups/{group}"),
                    Some(json!({"name": "Mine"})),
                ),
                (Method::DELETE, format!("/v1/groups/{group}"), None),
                (Method::GET, format!("/v1/groups/{group}/members"), None),
                (
                    Method::POST,
                    format!("/v1/groups/{group}/members"),
                    Some(json!({"user_id": b_user})),
                ),
                (
                    Method::PATCH,
                    format!("/v1/groups/{group}/members/{}", a.target),
                    Some(json!({"expires_at": null})),
                ),
                (
                    Method::DELETE,
                    format!("/v1/groups/{group}/members/{}", a.target),
                    None,
                ),
                (Method::GET, format!("/v1/groups/{group}/grants"), None),
                (
                    Method::POST,
                    format!("/v1/groups/{group}/grants"),
                    Some(json!({"role_id": "viewer", "scope": org_scope(&a.org_b)})),
                ),
                (
                    Method::PATCH,
                    format!("/v1/groups/{group}/grants/{grant}"),
                    Some(json!({"expires_at": null})),
                ),
                (
                    Method::DELETE,
                    format!("/v1/groups/{group}/grants/{grant}"),
                    None,
                ),
            ]
        };
        let watch = format!("/v1/groups/{g}/members");
        for ((method, path, body), (m2, path2, body2)) in routes(&g, &grant_id)
            .into_iter()
            .zip(routes(&random_group, &random_grant))
        {
            let before = fingerprint(&app, Some(&watch)).await;
            let on_a = app.call(method.clone(), &path, Some(&b_admin), body).await;
            assert_problem(&on_a, 404, None);
            let on_nothing = app.call(m2, &path2, Some(&b_admin), body2).await;
            assert_problem(&on_nothing, 404, None);
            assert_eq!(
                masked(&on_a, &[&g, &grant_id]),
                masked(&on_nothing, &[&random_group, &random_grant]),
                "{method} {path} differs from a missing group's answer"
            );
            assert_eq!(
                before,
                fingerprint(&app, Some(&watch)).await,
                "{method} {path} changed something"
            );
        }
        // A's groups listed or created by B: an unknown organization.
        let random_org = nowhere();
        for (method, body) in [
            (Method::GET, None),
            (Method::POST, Some(json!({"name": "Mine"}))),
        ] {
            let on_a = app
                .call(
                    method.clone(),
                    &format!("/v1/organizations/{}/groups", a.org_a),
                    Some(&b_admin),
                    body.clone(),
                )
                .await;
            let on_nothing = app
                .call(
                    method.clone(),
                    &format!("/v1/organizations/{random_org}/groups"),
                    Some(&b_admin),
                    body,
                )
                .await;
            assert_problem(&on_a, 404, None);
            assert_eq!(
                masked(&on_a, &[&a.org_a]),
                masked(&on_nothing, &[&random_org]),
                "{method}"
            );
        }
        // A's user's groups: an unknown user.
        let random_user = nowhere();
        let on_a = app
            .get(&format!("/v1/users/{}/groups", a.target), &b_admin)
            .await;
        let on_nothing = app
            .get(&format!("/v1/users/{random_user}/groups"), &b_admin)
            .await;
        assert_problem(&on_a, 404, None);
        assert_eq!(
            masked(&on_a, &[&a.target]),
            masked(&on_nothing, &[&random_user])
        );
        // B's group grant and member routes about A's objects from B's side.
        let bg = group(&app, &a.org_b, "B's").await;
        let r = app
            .post(
                &format!("/v1/groups/{bg}/members"),
                &b_admin,
                json!({"user_id": a.target}),
            )
            .await;
        let r2 = app
            .post(
                &format!("/v1/groups/{bg}/members"),
                &b_admin,
                json!({"user_id": random_user}),
            )
            .await;
        assert_problem(&r, 404, None);
        assert_eq!(masked(&r, &[&a.target]), masked(&r2, &[&random_user]));
        let r = app
            .post(
                &format!("/v1/groups/{bg}/grants"),
                &b_admin,
                json!({"role_id": "viewer", "scope": account_scope(&a.acc_a1)}),
            )
            .await;
        assert_problem(&r, 404, None);
        // B does not see A's group grant even by its id under its own group.
        let r = app
            .delete(&format!("/v1/groups/{bg}/grants/{grant_id}"), &b_admin)
            .await;
        assert_problem(&r, 404, None);
        // A permission named by a code of A's organization does not tell
        // A's holders from ones that do not exist.
        let r = app
            .post(
                &format!("/v1/organizations/{}/permissions", a.org_a),
                &app.owner,
                json!({"code": "invoices:approve"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let random_user = nowhere();
        for (holder, random) in [
            (
                format!("/v1/groups/{g}"),
                format!("/v1/groups/{random_group}"),
            ),
            (
                format!("/v1/users/{}", a.target),
                format!("/v1/users/{random_user}"),
            ),
        ] {
            let mut answers = BTreeSet::new();
            for code in ["invoices:approve", "no:such"] {
                let body = json!({"permission_id": code, "scope": org_scope(&a.org_b)});
                let on_a = app
                    .post(&format!("{holder}/grants"), &b_admin, body.clone())
                    .await;
                assert_problem(&on_a, 404, None);
                answers.insert(masked(&on_a, &[&g, &a.target]));
                let on_nothing = app.post(&format!("{random}/grants"), &b_admin, body).await;
                assert_problem(&on_nothing, 404, None);
                answers.insert(masked(&on_nothing, &[&random_group, &random_user]));
            }
            assert_eq!(answers.len(), 1, "{holder}: {answers:?}");
        }
        // And A's list never shows B's group.
        let r = app
            .get(
                &format!("/v1/organizations/{}/groups", a.org_a),
                &a.org_admin.1,
            )
            .await;
        assert!(!r.body.to_string().contains(&bg), "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn deleting_a_group_removes_its_grants_and_members() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let g = group(&app, &a.org_a, "Doomed").await;
        let g1 = group_grant(&app, &g, "viewer", account_scope(&a.acc_a1)).await;
        let g2 = group_grant(&app, &g, "member", account_scope(&a.acc_a2)).await;
        let other = app.user(&a.org_a, "other@a.example").await;
        add(&app, &g, &a.target).await;
        add(&app, &g, &other).await;
        assert_eq!(
            check(&app, &other, "accounts:read", &a.acc_a2).await["allowed"],
            true
        );

        let r = app.delete(&format!("/v1/groups/{g}"), &a.org_admin.1).await;
        assert_eq!(r.status, 204, "{}", r.body);
        let rev = r.revision().unwrap();
        let events: Vec<_> = audit_events(&app)
            .await
            .into_iter()
            .filter(|e| e.revision == rev)
            .collect();
        let mut actions: Vec<(String, String)> = events
            .iter()
            .map(|e| (e.action.clone(), e.target_id.clone()))
            .collect();
        actions.sort();
        let mut expected = vec![
            (
                "grant.delete".to_owned(),
                g1["id"].as_str().unwrap().to_owned(),
            ),
            (
                "grant.delete".to_owned(),
                g2["id"].as_str().unwrap().to_owned(),
            ),
            ("group.delete".to_owned(), g.clone()),
            (
                "group_member.remove".to_owned(),
                format!("{g}:{}", a.target),
            ),
            ("group_member.remove".to_owned(), format!("{g}:{other}")),
        ];
        expected.sort();
        assert_eq!(actions, expected);
        assert!(events
            .iter()
            .all(|e| e.actor_id.map(|x| x.to_string()) == Some(a.org_admin.0.clone())));
        assert!(events
            .iter()
            .all(|e| e.after.is_none() && e.before.is_some()));

        // Nothing of it is left: the members lost the grants.
        assert_eq!(
            check(&app, &other, "accounts:read", &a.acc_a2).await["allowed"],
            false
        );
        assert_eq!(
            check(&app, &a.target, "accounts:read", &a.acc_a1).await["allowed"],
            false
        );
        for u in [&a.target, &other] {
            let r = app.get(&format!("/v1/users/{u}/groups"), &app.owner).await;
            assert_eq!(r.body["items"], json!([]), "{}", r.body);
        }
        for path in [
            format!("/v1/groups/{g}/members"),
            format!("/v1/groups/{g}/grants"),
        ] {
            let r = app.get(&path, &app.owner).await;
            assert_problem(&r, 404, None);
        }
        // The audit trail can be read by group.
        let r = app
            .get(&format!("/v1/audit-events?target_id={g}"), &app.owner)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let acts: Vec<&str> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert_eq!(acts, ["group.create", "group.delete"], "{}", r.body);
    })
    .await;
}
