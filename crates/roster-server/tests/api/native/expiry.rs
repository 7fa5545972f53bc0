//! Time-bound grants (issue 11 §2), on every backend: a check observes a
//! grant's expiry with no write at all (nothing committed, nothing
//! audited, the grant still stored); the expiry sweeper then removes it
//! as the system (`grant.expire`, actor `null`, reason `expired`), in
//! bounded batches; `PATCH` of a grant's `expires_at` under the guards;
//! the lockout guard counting only permanent grants; expired grants
//! loaded by a restart are still ignored; and, on PostgreSQL, one
//! replica sweeping at a time, another taking over when it stops.
//!
//! Nothing here asserts a duration: every wait polls with a generous
//! deadline, and "before expiry" is asserted only when the clock says the
//! test got there before the expiry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::common;
use crate::support::native_support;

use axum::http::StatusCode;
use common::{each_backend, Resp, TestApp};
use native_support::{assert_problem, audit_events, etag, fingerprint};
use roster_domain::ops::{self, GrantSubject, NewGrant, NewUser};
use roster_domain::{Context, Email, OrganizationId, RoleId, Scope, UserId};
use roster_server::{bootstrap, AppState, Config};
use roster_store::testing::{TestDatabase, TEST_DATABASE_URL_VAR};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How long a test waits for what must happen before it fails (a liveness
/// bound, not a measurement).
const DEADLINE: Duration = Duration::from_secs(30);

/// How long an expiring grant of these tests lives.
const SOON: Duration = Duration::from_millis(1500);

/// `SOON` from now, to the millisecond (the server keeps microseconds).
fn soon() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc() + SOON;
    t.replace_nanosecond(u32::from(t.millisecond()) * 1_000_000)
        .expect("whole milliseconds")
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("format")
}

fn parse(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().expect("a timestamp"), &Rfc3339).expect("RFC 3339")
}

fn org_scope(org: &str) -> Value {
    json!({"type": "organization", "id": org})
}

fn account_scope(acc: &str) -> Value {
    json!({"type": "account", "id": acc})
}

/// Polls `f` until it holds; fails after [`DEADLINE`].
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Grants `body` to `user` as the owner; returns the grant.
async fn grant(app: &TestApp, user: &str, body: Value) -> Value {
    let r = app
        .post(&format!("/v1/users/{user}/grants"), &app.owner, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

/// The ids of `user`'s stored grants, as the owner lists them.
async fn grant_ids(app: &TestApp, user: &str) -> BTreeSet<String> {
    let r = app
        .get(&format!("/v1/users/{user}/grants"), &app.owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|g| g["id"].as_str().expect("id").to_owned())
        .collect()
}

/// `POST /v1/check` with `explain`, as the owner.
async fn check(app: &TestApp, user: &str, permission: &str, account: &str) -> Resp {
    let r = app
        .post(
            "/v1/check",
            &app.owner,
            json!({"user_id": user, "permission": permission, "account_id": account, "explain": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r
}

/// Where one grant of `user` (`grants:write` at `account`) shows.
#[derive(Debug, PartialEq)]
struct Seen {
    /// `POST /v1/check` allows it.
    check: bool,
    /// `POST /v1/check/batch` allows it.
    batch: bool,
    /// Effective permissions name the grant.
    effective: bool,
    /// `POST /v1/lookup/accounts` lists the account.
    accounts: bool,
    /// `POST /v1/lookup/users` lists the user.
    users: bool,
}

impl Seen {
    fn everywhere(yes: bool) -> Self {
        Self {
            check: yes,
            batch: yes,
            effective: yes,
            accounts: yes,
            users: yes,
        }
    }
}

async fn seen(app: &TestApp, user: &str, account: &str, grant_id: &str) -> Seen {
    let c = check(app, user, "grants:write", account).await;
    let b = app
        .post(
            "/v1/check/batch",
            &app.owner,
            json!({"checks": [{"user_id": user, "permission": "grants:write", "account_id": account}]}),
        )
        .await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.body);
    let e = app
        .get(
            &format!("/v1/users/{user}/effective-permissions?account_id={account}"),
            &app.owner,
        )
        .await;
    assert_eq!(e.status, StatusCode::OK, "{}", e.body);
    let la = app
        .post(
            "/v1/lookup/accounts",
            &app.owner,
            json!({"user_id": user, "permission": "grants:write"}),
        )
        .await;
    assert_eq!(la.status, StatusCode::OK, "{}", la.body);
    let lu = app
        .post(
            "/v1/lookup/users",
            &app.owner,
            json!({"permission": "grants:write", "account_id": account}),
        )
        .await;
    assert_eq!(lu.status, StatusCode::OK, "{}", lu.body);
    let lists = |r: &Resp, id: &str| {
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|x| x == id)
    };
    Seen {
        check: c.body["allowed"] == json!(true),
        batch: b.body["results"][0]["allowed"] == json!(true),
        effective: e.body["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .any(|p| p["grant_id"] == json!(grant_id)),
        accounts: lists(&la, account),
        users: lists(&lu, user),
    }
}

/// The audit events about `target_id`, as the owner reads them.
async fn trail(app: &TestApp, target_id: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/v1/audit-events?target_id={target_id}"),
            &app.owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"].as_array().expect("items").clone()
}

// ----- expiry without a write ------------------------------------------------------

#[tokio::test]
async fn a_check_observes_expiry_with_no_write() {
    // No sweeper runs here: the test app starts none.
    each_backend(|app| async move {
        let a = app.actors().await;
        let u = app.user(&a.org_a, "temporary@a.example").await;
        let expires = soon();
        let g = grant(
            &app,
            &u,
            json!({"role_id": "admin", "scope": account_scope(&a.acc_a1), "expires_at": rfc3339(expires)}),
        )
        .await;
        assert_eq!(parse(&g["expires_at"]), expires, "{g}");
        let gid = g["id"].as_str().expect("id").to_owned();
        let grants = format!("/v1/users/{u}/grants");
        let before = fingerprint(&app, Some(&grants)).await;

        let early = seen(&app, &u, &a.acc_a1, &gid).await;
        if OffsetDateTime::now_utc() < expires {
            assert_eq!(early, Seen::everywhere(true), "before its expiry the grant counts");
        } else {
            eprintln!("note: the test reached the grant after its expiry; the before-half was not observed");
        }

        eventually("a check to observe the expiry", || async {
            check(&app, &u, "grants:write", &a.acc_a1).await.body["allowed"] == json!(false)
        })
        .await;
        let c = check(&app, &u, "grants:write", &a.acc_a1).await;
        assert_eq!(c.body["allowed"], json!(false), "{}", c.body);
        assert_eq!(c.body["explanation"]["reason"], json!("expired"), "{}", c.body);
        assert_eq!(
            c.body["revision"].as_u64(),
            Some(before.revision),
            "expiry took effect at the revision that created the grant: {}",
            c.body
        );
        assert_eq!(seen(&app, &u, &a.acc_a1, &gid).await, Seen::everywhere(false));
        // A permission the grant never gave is denied for want of a grant.
        let other = check(&app, &u, "organizations:write", &a.acc_a1).await;
        assert_eq!(other.body["explanation"]["reason"], json!("no_grant"), "{}", other.body);

        // Nothing was written: same revision, same audit trail, and the
        // grant is still stored and listed, with its expiry.
        assert_eq!(
            fingerprint(&app, Some(&grants)).await,
            before,
            "observing an expiry wrote something"
        );
        assert!(grant_ids(&app, &u).await.contains(&gid));
    })
    .await;
}

// ----- the sweeper ---------------------------------------------------------------

#[tokio::test]
async fn the_sweeper_removes_expired_grants_as_the_system() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let sweeper = roster_server::expiry::spawn(&app.state);
        let u = app.user(&a.org_a, "contractor@a.example").await;
        let expiring = grant(
            &app,
            &u,
            json!({"role_id": "admin", "scope": account_scope(&a.acc_a1), "expires_at": rfc3339(soon())}),
        )
        .await;
        let expiring = expiring["id"].as_str().expect("id").to_owned();
        let later = OffsetDateTime::now_utc() + Duration::from_secs(3600);
        let lasting = grant(
            &app,
            &u,
            json!({"role_id": "viewer", "scope": org_scope(&a.org_a), "expires_at": rfc3339(later)}),
        )
        .await;
        let permanent = grant(&app, &u, json!({"role_id": "member", "scope": account_scope(&a.acc_a2)})).await;

        eventually("the sweeper to remove the expired grant", || async {
            !grant_ids(&app, &u).await.contains(&expiring)
        })
        .await;
        let left = grant_ids(&app, &u).await;
        let expected: BTreeSet<String> = [&lasting, &permanent]
            .iter()
            .map(|g| g["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(left, expected, "only the expired grant was removed");

        // The audit trail: created by the owner, expired by the system.
        let events = trail(&app, &expiring).await;
        let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
        assert_eq!(actions, ["grant.create", "grant.expire"], "{events:?}");
        let (created, expired) = (&events[0], &events[1]);
        assert_eq!(created["actor_id"], json!(app.owner_id), "{created}");
        assert_eq!(created["reason"], Value::Null, "{created}");
        assert_eq!(expired["actor_id"], Value::Null, "{expired}");
        assert_eq!(expired["reason"], json!("expired"), "{expired}");
        assert_eq!(expired["organization_id"], json!(a.org_a), "{expired}");
        assert_eq!(expired["before"]["id"], json!(expiring), "{expired}");
        assert_eq!(expired["after"], Value::Null, "{expired}");
        let swept_at = expired["revision"].as_u64().expect("revision");
        assert_eq!(
            app.state.store.current_revision().await.expect("revision"),
            swept_at,
            "the removal is one committed write and nothing after it"
        );

        // Stored state, checks and lookups agree: the grant is gone.
        let c = check(&app, &u, "grants:write", &a.acc_a1).await;
        assert_eq!(c.body["allowed"], json!(false), "{}", c.body);
        assert_eq!(c.body["explanation"]["reason"], json!("no_grant"), "{}", c.body);
        assert!(c.body["revision"].as_u64().expect("revision") >= swept_at);
        let model = app.state.store.load_model().await.expect("load");
        let uid: UserId = u.parse().expect("uuid");
        assert_eq!(model.grants_of(uid).count(), 2, "the database agrees");
        sweeper.abort();
    })
    .await;
}

#[tokio::test]
async fn the_sweeper_removes_many_in_bounded_writes() {
    each_backend(|app| async move {
        let org: OrganizationId = app.org("Many").await.parse().expect("uuid");
        let sweeper = roster_server::expiry::spawn(&app.state);
        // One write gives 250 users two grants each and one more: more than
        // one sweep's worth.
        let n = 250;
        let expires = OffsetDateTime::now_utc() + SOON;
        let (users, _) = app
            .state
            .writer
            .write(Context::system(OffsetDateTime::now_utc()), move |d| {
                let mut users = Vec::new();
                for i in 0..n {
                    let u = ops::create_user(
                        d,
                        NewUser {
                            id: None,
                            organization_id: org,
                            email: Email::parse(&format!("many{i}@many.example"))?,
                            first_name: None,
                            last_name: None,
                            phone: None,
                            settings: None,
                            external_ids: BTreeMap::new(),
                            status: None,
                        },
                    )?;
                    let roles: &[&str] = if i == 0 {
                        &["viewer", "member", "admin"]
                    } else {
                        &["viewer", "member"]
                    };
                    for role in roles {
                        ops::create_grant(
                            d,
                            u.id,
                            NewGrant {
                                subject: GrantSubject::Role(RoleId::parse(role)?),
                                scope: Scope::Organization(org),
                                expires_at: Some(expires),
                            },
                        )?;
                    }
                    users.push(u.id);
                }
                Ok(users)
            })
            .await
            .expect("setup");
        let total = 2 * n + 1;
        assert!(total > roster_server::expiry::BATCH);

        eventually("the sweeper to remove every expired grant", || async {
            let m = app.state.engine.snapshot();
            users.iter().all(|u| m.grants_of(*u).next().is_none())
        })
        .await;
        let expired: Vec<_> = audit_events(&app)
            .await
            .into_iter()
            .filter(|e| e.action == "grant.expire")
            .collect();
        assert_eq!(expired.len(), total, "one event per grant");
        let mut per_write: BTreeMap<u64, usize> = BTreeMap::new();
        for e in &expired {
            assert_eq!(e.actor_id, None);
            assert_eq!(e.reason.as_deref(), Some("expired"));
            *per_write.entry(e.revision).or_default() += 1;
        }
        assert!(
            per_write.len() >= 2
                && per_write
                    .values()
                    .all(|&k| k <= roster_server::expiry::BATCH),
            "removals are bounded per write: {per_write:?}"
        );
        let model = app.state.store.load_model().await.expect("load");
        assert!(users.iter().all(|u| model.grants_of(*u).next().is_none()));
        sweeper.abort();
    })
    .await;
}

// ----- PATCH and POST of expires_at -----------------------------------------------

#[tokio::test]
async fn patching_a_grants_expiry() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let g = grant(&app, &a.target, json!({"role_id": "viewer", "scope": account_scope(&a.acc_a1)})).await;
        assert_eq!(g["expires_at"], Value::Null, "{g}");
        let path = format!("/v1/users/{}/grants/{}", a.target, g["id"].as_str().expect("id"));
        let list = format!("/v1/users/{}/grants", a.target);

        // Set.
        let at = OffsetDateTime::now_utc() + Duration::from_secs(86_400);
        let at = at.replace_nanosecond(0).expect("whole seconds");
        let r = app.patch(&path, &app.owner, json!({"expires_at": rfc3339(at)})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(parse(&r.body["expires_at"]), at, "{}", r.body);
        let set_rev = etag(&r);
        assert_eq!(r.body["revision"].as_u64(), Some(set_rev));
        assert_eq!(r.revision(), Some(set_rev), "the write's revision");
        let events = trail(&app, g["id"].as_str().expect("id")).await;
        let update = events.last().expect("an event");
        assert_eq!(update["action"], json!("grant.update"), "{update}");
        assert_eq!(update["actor_id"], json!(app.owner_id), "{update}");
        assert_eq!(update["before"]["expires_at"], Value::Null, "{update}");

        // Absent: unchanged, and nothing written.
        let before = fingerprint(&app, Some(&list)).await;
        let r = app.patch(&path, &app.owner, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(parse(&r.body["expires_at"]), at, "{}", r.body);
        assert_eq!(etag(&r), set_rev);
        // The same expiry again changes nothing either.
        let r = app.patch(&path, &app.owner, json!({"expires_at": rfc3339(at)})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(etag(&r), set_rev);
        assert_eq!(fingerprint(&app, Some(&list)).await, before);

        // Bad input: 400 naming the field, nothing written.
        for bad in [
            json!({"expires_at": "2000-01-01T00:00:00Z"}),
            json!({"expires_at": rfc3339(OffsetDateTime::now_utc() - Duration::from_secs(1))}),
            json!({"expires_at": "tomorrow"}),
            json!({"expires_at": "2030-01-01"}),
            json!({"expires_at": 1_900_000_000}),
        ] {
            let r = app.patch(&path, &app.owner, bad.clone()).await;
            assert_problem(&r, 400, Some("expires_at"));
        }
        let r = app.patch(&path, &app.owner, json!({"expires": null})).await;
        assert_problem(&r, 400, Some("expires"));
        assert_eq!(fingerprint(&app, Some(&list)).await, before, "bad input wrote something");

        // If-Match: a stale revision is 412; the current one passes.
        let later = at + Duration::from_secs(3600);
        let r = app
            .call_with(
                axum::http::Method::PATCH,
                &path,
                Some(&app.owner),
                Some(json!({"expires_at": rfc3339(later)})),
                &[("if-match", &format!("\"{}\"", set_rev - 1))],
            )
            .await;
        assert_problem(&r, 412, Some("If-Match"));
        assert_eq!(fingerprint(&app, Some(&list)).await, before);
        let r = app
            .call_with(
                axum::http::Method::PATCH,
                &path,
                Some(&app.owner),
                Some(json!({"expires_at": rfc3339(later)})),
                &[("if-match", &format!("\"{set_rev}\""))],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(parse(&r.body["expires_at"]), later, "{}", r.body);
        assert!(etag(&r) > set_rev);

        // Clear: the grant is permanent again.
        let r = app.patch(&path, &app.owner, json!({"expires_at": null})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["expires_at"], Value::Null, "{}", r.body);
        let listed = app.get(&list, &app.owner).await;
        assert_eq!(listed.body["items"][0]["expires_at"], Value::Null, "{}", listed.body);

        // POST with an expiry in the past, or not a timestamp: 400 naming it.
        for bad in [json!("2000-01-01T00:00:00Z"), json!("next week"), Value::Null] {
            let before = fingerprint(&app, Some(&list)).await;
            let r = app
                .post(&list, &app.owner, json!({"role_id": "member", "scope": account_scope(&a.acc_a2), "expires_at": bad}))
                .await;
            assert_problem(&r, 400, Some("expires_at"));
            assert_eq!(fingerprint(&app, Some(&list)).await, before);
        }
    })
    .await;
}

#[tokio::test]
async fn patching_an_expiry_passes_the_guards() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let in_a_day = rfc3339(OffsetDateTime::now_utc() + Duration::from_secs(86_400));

        // Escalation: an organization admin may not change a grant of
        // `owner` (it lacks `organizations:write`)...
        let owner_grant = grant(
            &app,
            &a.target,
            json!({"role_id": "owner", "scope": org_scope(&a.org_a)}),
        )
        .await;
        let owner_path = format!(
            "/v1/users/{}/grants/{}",
            a.target,
            owner_grant["id"].as_str().expect("id")
        );
        let watch = format!("/v1/users/{}/grants", a.target);
        let before = fingerprint(&app, Some(&watch)).await;
        let r = app
            .patch(&owner_path, &a.org_admin.1, json!({"expires_at": in_a_day}))
            .await;
        assert_problem(&r, 403, None);
        assert_eq!(r.body["error_code"], json!("forbidden"), "{}", r.body);
        assert_eq!(fingerprint(&app, Some(&watch)).await, before);
        // ... but one it could hand out itself, it may.
        let viewer_grant = grant(
            &app,
            &a.target,
            json!({"role_id": "viewer", "scope": account_scope(&a.acc_a1)}),
        )
        .await;
        let viewer_path = format!(
            "/v1/users/{}/grants/{}",
            a.target,
            viewer_grant["id"].as_str().expect("id")
        );
        let r = app
            .patch(
                &viewer_path,
                &a.org_admin.1,
                json!({"expires_at": in_a_day}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // A viewer may not change grants at all; another tenant does not see them.
        let r = app
            .patch(&viewer_path, &a.viewer.1, json!({"expires_at": null}))
            .await;
        assert_problem(&r, 403, None);
        let r = app
            .patch(&viewer_path, &a.other_tenant.1, json!({"expires_at": null}))
            .await;
        assert_problem(&r, 404, None);
        // (The `owner` grant would keep A open below: it goes.)
        let r = app.delete(&owner_path, &app.owner).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

        // Self guard: nobody changes their own grant's expiry.
        let own = app
            .get(&format!("/v1/users/{}/grants", a.org_admin.0), &app.owner)
            .await;
        let own_id = own.body["items"][0]["id"]
            .as_str()
            .expect("grant")
            .to_owned();
        let own_path = format!("/v1/users/{}/grants/{own_id}", a.org_admin.0);
        let watch = format!("/v1/users/{}/grants", a.org_admin.0);
        let before = fingerprint(&app, Some(&watch)).await;
        let r = app
            .patch(&own_path, &a.org_admin.1, json!({"expires_at": in_a_day}))
            .await;
        assert_problem(&r, 403, None);
        assert_eq!(fingerprint(&app, Some(&watch)).await, before);

        // Lockout: the organization admin's grant is A's last permanent
        // `grants:write` on the organization; making it expire is 409.
        let r = app
            .patch(&own_path, &app.owner, json!({"expires_at": in_a_day}))
            .await;
        assert_problem(&r, 409, None);
        assert_eq!(r.body["error_code"], json!("lockout"), "{}", r.body);
        assert_eq!(fingerprint(&app, Some(&watch)).await, before);
        // With a second permanent administrator it may expire.
        let second = app.user(&a.org_a, "second@a.example").await;
        grant(
            &app,
            &second,
            json!({"role_id": "admin", "scope": org_scope(&a.org_a)}),
        )
        .await;
        let r = app
            .patch(&own_path, &app.owner, json!({"expires_at": in_a_day}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    })
    .await;
}

#[tokio::test]
async fn the_lockout_guard_counts_only_permanent_grants() {
    each_backend(|app| async move {
        let org = app.org("Keepers").await;
        let permanent = app.user(&org, "permanent@keepers.example").await;
        let temporary = app.user(&org, "temporary@keepers.example").await;
        let kept = grant(
            &app,
            &permanent,
            json!({"role_id": "admin", "scope": org_scope(&org)}),
        )
        .await;
        let in_a_day = rfc3339(OffsetDateTime::now_utc() + Duration::from_secs(86_400));
        let expiring = grant(
            &app,
            &temporary,
            json!({"role_id": "admin", "scope": org_scope(&org), "expires_at": in_a_day}),
        )
        .await;
        let kept_path = format!(
            "/v1/users/{permanent}/grants/{}",
            kept["id"].as_str().expect("id")
        );
        let watch = format!("/v1/users/{permanent}/grants");

        // The expiring admin does not keep the organization open.
        let before = fingerprint(&app, Some(&watch)).await;
        let r = app.delete(&kept_path, &app.owner).await;
        assert_problem(&r, 409, None);
        assert_eq!(r.body["error_code"], json!("lockout"), "{}", r.body);
        let r = app
            .patch(
                &format!("/v1/users/{permanent}"),
                &app.owner,
                json!({"status": "disabled"}),
            )
            .await;
        assert_problem(&r, 409, None);
        assert_eq!(fingerprint(&app, Some(&watch)).await, before);

        // Once the other grant is permanent, the first may go.
        let r = app
            .patch(
                &format!(
                    "/v1/users/{temporary}/grants/{}",
                    expiring["id"].as_str().expect("id")
                ),
                &app.owner,
                json!({"expires_at": null}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = app.delete(&kept_path, &app.owner).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    })
    .await;
}

// ----- restart ----------------------------------------------------------------------

/// `app`'s database opened again by a new server (its own store, model,
/// writer and engine); the old one is dropped.
async fn restarted(app: TestApp) -> TestApp {
    let TestApp {
        db,
        state,
        router,
        owner,
        owner_id,
        org,
        ops_account,
    } = app;
    drop(router);
    drop(state);
    let store = db.open().await.expect("open store");
    let state = AppState::start(store, Config::default())
        .await
        .expect("start");
    let router = roster_server::router(state.clone());
    TestApp {
        db,
        state,
        router,
        owner,
        owner_id,
        org,
        ops_account,
    }
}

#[tokio::test]
async fn expired_grants_loaded_by_a_restart_are_still_ignored() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let u = app.user(&a.org_a, "restart@a.example").await;
        let g = grant(
            &app,
            &u,
            json!({"role_id": "admin", "scope": account_scope(&a.acc_a1), "expires_at": rfc3339(soon())}),
        )
        .await;
        let gid = g["id"].as_str().expect("id").to_owned();
        eventually("the grant to expire", || async {
            check(&app, &u, "grants:write", &a.acc_a1).await.body["allowed"] == json!(false)
        })
        .await;
        let revision = app.state.store.current_revision().await.expect("revision");

        let app = restarted(app).await;
        assert_eq!(app.state.engine.revision(), revision);
        assert!(
            grant_ids(&app, &u).await.contains(&gid),
            "the expired grant was loaded (nobody swept it)"
        );
        let c = check(&app, &u, "grants:write", &a.acc_a1).await;
        assert_eq!(c.body["allowed"], json!(false), "{}", c.body);
        assert_eq!(c.body["explanation"]["reason"], json!("expired"), "{}", c.body);
        assert_eq!(seen(&app, &u, &a.acc_a1, &gid).await, Seen::everywhere(false));
        assert_eq!(app.state.store.current_revision().await.expect("revision"), revision);

        // The restarted server's sweeper removes it.
        let sweeper = roster_server::expiry::spawn(&app.state);
        eventually("the sweeper to remove the loaded expired grant", || async {
            !grant_ids(&app, &u).await.contains(&gid)
        })
        .await;
        let events = trail(&app, &gid).await;
        assert_eq!(events.last().map(|e| e["action"].clone()), Some(json!("grant.expire")));
        sweeper.abort();
    })
    .await;
}

// ----- replicas: one sweeper at a time -------------------------------------------------

async fn postgres() -> Option<TestDatabase> {
    match std::env::var(TEST_DATABASE_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(
            TestDatabase::postgres(url.trim())
                .await
                .expect("create test database"),
        ),
        _ => {
            eprintln!("note: {TEST_DATABASE_URL_VAR} not set; the replica test of the sweeper needs PostgreSQL and was skipped");
            None
        }
    }
}

async fn replica(db: &TestDatabase) -> AppState {
    let store = db.open().await.expect("open store");
    let state = AppState::start(store, Config::default())
        .await
        .expect("start");
    state.spawn_follower();
    state
}

/// The `grant.expire` events about `grant`, read from the database.
async fn expirations(state: &AppState, grant: &str) -> usize {
    state
        .store
        .audit_for_target(grant)
        .await
        .expect("audit")
        .iter()
        .filter(|e| e.action == "grant.expire")
        .count()
}

#[tokio::test]
async fn one_replica_sweeps_and_another_takes_over_when_it_stops() {
    let Some(db) = postgres().await else { return };
    let a = replica(&db).await;
    let b = replica(&db).await;
    let boot = bootstrap::bootstrap(&a, "Replicated", "owner@sweep.example")
        .await
        .expect("bootstrap");
    let org: OrganizationId = boot.organization_id.parse().expect("uuid");
    let owner: UserId = boot.user_id.parse().expect("uuid");

    // Gives the owner a grant expiring soon, through `on`; returns its id.
    let expiring = |on: &AppState| {
        let writer = on.writer.clone();
        async move {
            let expires = OffsetDateTime::now_utc() + SOON;
            let ((g, _), _) = writer
                .write(Context::system(OffsetDateTime::now_utc()), move |d| {
                    ops::create_grant(
                        d,
                        owner,
                        NewGrant {
                            subject: GrantSubject::Role(RoleId::parse("viewer")?),
                            scope: Scope::Organization(org),
                            expires_at: Some(expires),
                        },
                    )
                })
                .await
                .expect("grant");
            g.id.to_string()
        }
    };
    // Waits until both replicas' models have lost `grant`, then checks it
    // was removed exactly once.
    let swept = |grant: String| {
        let (a, b) = (&a, &b);
        async move {
            for (name, r) in [("A", a), ("B", b)] {
                eventually(
                    &format!("replica {name} to see the grant swept"),
                    || async {
                        !r.engine
                            .snapshot()
                            .grants_of(owner)
                            .any(|g| g.id.to_string() == grant)
                    },
                )
                .await;
            }
            assert_eq!(expirations(a, &grant).await, 1, "removed once");
        }
    };

    // Both replicas run a sweeper; one of them removes the grant.
    let sweep_a = roster_server::expiry::spawn(&a);
    let sweep_b = roster_server::expiry::spawn(&b);
    swept(expiring(&a).await).await;

    // A's sweeper stops (its leadership, if it had it, goes with it): B's
    // sweeps, whoever wrote the grant.
    sweep_a.abort();
    let _ = sweep_a.await;
    swept(expiring(&a).await).await;

    // And the other way round.
    let sweep_a = roster_server::expiry::spawn(&a);
    sweep_b.abort();
    let _ = sweep_b.await;
    swept(expiring(&b).await).await;
    sweep_a.abort();
}
