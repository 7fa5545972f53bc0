//! The event feed (issue 12), on every backend: a write's entity events and
//! `access.changed` with their type, organization, actor, request id and
//! revision, `seq` gapless; `access.changed` deltas equal to the difference
//! of `effective-permissions` (role grant, group membership, group grant,
//! role edit, user disabled); an expiry told when the sweeper removes the
//! grant; `access.changed.bulk` for a role held by more than 1,000 users;
//! the long poll (at once, woken by a write, empty after `wait`); the SSE
//! stream resumed with `Last-Event-ID` missing and repeating nothing, and
//! ended by a server shutdown; tenant isolation and refusals exactly as the
//! audit list's; bad input; and the audit list's `subject_id`, `action`,
//! `from` and `to` filters.
//!
//! Nothing here asserts a duration: waits poll with a generous deadline, and
//! every `timeout` is a hang guard.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::common;
use crate::support::native_support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{each_backend, Resp, TestApp};
use http_body_util::BodyExt;
use native_support::assert_problem;
use roster_domain::ops::{self, GrantSubject};
use roster_domain::{Context, Email, OrganizationId, RoleId, Scope};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tower::ServiceExt;

/// How long a test waits for what must happen before it fails (a liveness
/// bound, not a measurement).
const DEADLINE: Duration = Duration::from_secs(30);

fn org_scope(org: &str) -> Value {
    json!({"type": "organization", "id": org})
}

fn account_scope(acc: &str) -> Value {
    json!({"type": "account", "id": acc})
}

/// The `seq` of the last event committed.
async fn last_seq(app: &TestApp) -> i64 {
    app.state.store.last_event_seq().await.unwrap()
}

/// Every event after `after` that `token` may read, through the API.
async fn events_after(app: &TestApp, token: &str, after: i64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = after;
    loop {
        let r = app
            .get(&format!("/v1/events?after={after}&limit=1000"), token)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let items = r.body["items"].as_array().unwrap().clone();
        if items.is_empty() {
            assert_eq!(r.body["next_after"], json!(after));
            return out;
        }
        after = r.body["next_after"].as_i64().unwrap();
        assert_eq!(items.last().unwrap()["seq"], json!(after));
        out.extend(items);
    }
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// A scope as `(type, id)`, whichever way it is written.
fn scope_key(s: &Value) -> (String, String) {
    (
        s["type"].as_str().unwrap().to_owned(),
        s["id"].as_str().unwrap_or("").to_owned(),
    )
}

type Pairs = BTreeSet<(String, (String, String))>;

/// `(permission id, scope)` of `user`'s effective permissions at each of
/// `targets` (`organization_id=…` or `account_id=…`), as the owner sees them.
async fn effective(app: &TestApp, user: &str, targets: &[String]) -> Pairs {
    let mut out = Pairs::new();
    for t in targets {
        let r = app
            .get(
                &format!("/v1/users/{user}/effective-permissions?{t}"),
                &app.owner,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for p in r.body["permissions"].as_array().unwrap() {
            out.insert((
                p["permission_id"].as_str().unwrap().to_owned(),
                scope_key(&p["scope"]),
            ));
        }
    }
    out
}

/// The union of `gained` and of `lost` of `user`'s `access.changed` events.
fn deltas(events: &[Value], user: &str) -> (Pairs, Pairs) {
    let mut gained = Pairs::new();
    let mut lost = Pairs::new();
    for e in of_type(events, "access.changed") {
        if e["data"]["user_id"] != user {
            continue;
        }
        for (list, into) in [("gained", &mut gained), ("lost", &mut lost)] {
            for p in e["data"][list].as_array().unwrap() {
                into.insert((
                    p["permission"].as_str().unwrap().to_owned(),
                    scope_key(&p["scope"]),
                ));
            }
        }
    }
    (gained, lost)
}

/// Runs `write`, then asserts that `user`'s `access.changed` events of it
/// add up to the difference of its effective permissions at `targets`, and
/// that the difference is not empty. Returns the write's events.
async fn assert_delta<F, Fut>(
    app: &TestApp,
    user: &str,
    targets: &[String],
    what: &str,
    write: F,
) -> Vec<Value>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let before = effective(app, user, targets).await;
    let from = last_seq(app).await;
    write().await;
    let after = effective(app, user, targets).await;
    let events = events_after(app, &app.owner, from).await;
    let (gained, lost) = deltas(&events, user);
    let want_gained: Pairs = after.difference(&before).cloned().collect();
    let want_lost: Pairs = before.difference(&after).cloned().collect();
    assert!(
        !want_gained.is_empty() || !want_lost.is_empty(),
        "{what}: the effective permissions did not change"
    );
    assert_eq!(gained, want_gained, "{what}: gained");
    assert_eq!(lost, want_lost, "{what}: lost");
    assert_eq!(
        of_type(&events, "access.changed")
            .iter()
            .filter(|e| e["data"]["user_id"] == user)
            .count(),
        1,
        "{what}: one access.changed for the user"
    );
    events
}

#[tokio::test]
async fn a_write_yields_its_entity_event_and_access_changed() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let from = last_seq(&app).await;
        let r = app
            .call_with(
                Method::POST,
                &format!("/v1/users/{}/grants", a.target),
                Some(&a.org_admin.1),
                Some(json!({"role_id": "viewer", "scope": org_scope(&a.org_a)})),
                &[("x-request-id", "feed-test-1")],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let revision = r.revision().unwrap();
        let events = events_after(&app, &app.owner, from).await;
        assert_eq!(events.len(), 2, "{events:#?}");
        let (created, changed) = (&events[0], &events[1]);
        assert_eq!(created["type"], "grant.created");
        assert_eq!(changed["type"], "access.changed");
        for e in &events {
            assert_eq!(e["organization_id"], json!(a.org_a), "{e}");
            assert_eq!(e["actor_id"], json!(a.org_admin.0), "{e}");
            assert_eq!(e["request_id"], "feed-test-1", "{e}");
            assert_eq!(e["revision"], json!(revision), "{e}");
            assert!(e["id"].as_str().unwrap().parse::<uuid::Uuid>().is_ok());
            OffsetDateTime::parse(e["occurred_at"].as_str().unwrap(), &Rfc3339).unwrap();
        }
        assert_eq!(created["data"]["object"]["id"], r.body["id"]);
        assert_eq!(created["data"]["subject_id"], json!(a.target));
        assert_eq!(changed["data"]["user_id"], json!(a.target));
        assert_eq!(changed["data"]["organization_id"], json!(a.org_a));
        assert!(!changed["data"]["gained"].as_array().unwrap().is_empty());
        assert_eq!(changed["data"]["lost"], json!([]));

        // A write that changes nobody's access has its entity event only.
        let from = last_seq(&app).await;
        let r = app
            .patch(
                &format!("/v1/users/{}", a.target),
                &a.org_admin.1,
                json!({"first_name": "Renamed"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let events = events_after(&app, &app.owner, from).await;
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["user.updated"]);
        assert_eq!(events[0]["data"]["previous"]["first_name"], "Test");
        assert_eq!(events[0]["data"]["object"]["first_name"], "Renamed");

        // The whole feed: seq from 1, strictly increasing, without a gap.
        let all = events_after(&app, &app.owner, 0).await;
        let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs.first(), Some(&1));
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "gapless: {seqs:?}"
        );
        assert_eq!(*seqs.last().unwrap(), last_seq(&app).await);
        // The bootstrap's events are the system's.
        assert!(all[0]["actor_id"].is_null(), "{}", all[0]);
        // Every type is a listed one.
        for e in &all {
            let t = e["type"].as_str().unwrap();
            assert!(roster_domain::event::TYPES.contains(&t), "{t}");
        }
    })
    .await;
}

#[tokio::test]
async fn access_changed_equals_the_difference_of_effective_permissions() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let targets = [
            format!("organization_id={}", a.org_a),
            format!("account_id={}", a.acc_a1),
        ];
        let user = |n: &'static str| {
            let app = &app;
            let org = a.org_a.clone();
            async move { app.user(&org, &format!("{n}@a.example")).await }
        };

        // A role grant.
        let u1 = user("feed1").await;
        assert_delta(&app, &u1, &targets, "role grant", || async {
            app.grant(&u1, "viewer", org_scope(&a.org_a)).await;
        })
        .await;

        // A group membership (the group holds a role).
        let g1 = app
            .post(
                &format!("/v1/organizations/{}/groups", a.org_a),
                &app.owner,
                json!({"name": "Readers"}),
            )
            .await
            .str("id");
        let r = app
            .post(
                &format!("/v1/groups/{g1}/grants"),
                &app.owner,
                json!({"role_id": "viewer", "scope": org_scope(&a.org_a)}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let u2 = user("feed2").await;
        let events = assert_delta(&app, &u2, &targets, "group membership", || async {
            let r = app
                .post(
                    &format!("/v1/groups/{g1}/members"),
                    &app.owner,
                    json!({"user_id": u2}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        })
        .await;
        let added = of_type(&events, "group_member.added");
        assert_eq!(added.len(), 1);
        assert_eq!(added[0]["data"]["subject_id"], json!(u2));

        // A group grant (the user is already a member).
        let g2 = app
            .post(
                &format!("/v1/organizations/{}/groups", a.org_a),
                &app.owner,
                json!({"name": "Account A1"}),
            )
            .await
            .str("id");
        let u3 = user("feed3").await;
        let r = app
            .post(
                &format!("/v1/groups/{g2}/members"),
                &app.owner,
                json!({"user_id": u3}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let events = assert_delta(&app, &u3, &targets, "group grant", || async {
            let r = app
                .post(
                    &format!("/v1/groups/{g2}/grants"),
                    &app.owner,
                    json!({"role_id": "viewer", "scope": account_scope(&a.acc_a1)}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        })
        .await;
        assert_eq!(
            of_type(&events, "grant.created")[0]["data"]["subject_id"],
            json!(g2)
        );

        // A role edit.
        let r = app
            .post(
                &format!("/v1/organizations/{}/roles", a.org_a),
                &app.owner,
                json!({"id": "clerk", "name": "Clerk", "permissions": ["users:read"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let u4 = user("feed4").await;
        app.grant(&u4, "clerk", org_scope(&a.org_a)).await;
        assert_delta(&app, &u4, &targets, "role edit", || async {
            let r = app
                .patch(
                    &format!("/v1/organizations/{}/roles/clerk", a.org_a),
                    &app.owner,
                    json!({"permissions": ["accounts:read"]}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        })
        .await;

        // A user disabled.
        let u5 = user("feed5").await;
        app.grant(&u5, "viewer", account_scope(&a.acc_a1)).await;
        let events = assert_delta(&app, &u5, &targets, "user disabled", || async {
            let r = app
                .patch(
                    &format!("/v1/users/{u5}"),
                    &app.owner,
                    json!({"status": "disabled"}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        })
        .await;
        let (gained, _) = deltas(&events, &u5);
        assert!(gained.is_empty());
        assert!(effective(&app, &u5, &targets).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_expiry_is_told_when_the_sweeper_removes_the_grant() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let u = app.user(&a.org_a, "expiring@a.example").await;
        let expires = OffsetDateTime::now_utc() + Duration::from_millis(1500);
        let r = app
            .post(
                &format!("/v1/users/{u}/grants"),
                &app.owner,
                json!({"role_id": "viewer", "scope": org_scope(&a.org_a),
                       "expires_at": expires.format(&Rfc3339).unwrap()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let grant = r.str("id");
        let from = last_seq(&app).await;
        let sweeper = roster_server::expiry::spawn(&app.state);
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let events = loop {
            let events = events_after(&app, &app.owner, from).await;
            if !of_type(&events, "grant.expired").is_empty() {
                break events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gave up waiting for grant.expired"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        sweeper.abort();
        let expired = of_type(&events, "grant.expired");
        assert_eq!(expired.len(), 1, "{events:#?}");
        let e = expired[0];
        assert!(e["actor_id"].is_null(), "{e}");
        assert_eq!(e["data"]["reason"], "expired");
        assert_eq!(e["data"]["object"]["id"], json!(grant));
        assert_eq!(e["data"]["subject_id"], json!(u));
        let (gained, lost) = deltas(&events, &u);
        assert!(gained.is_empty());
        assert!(!lost.is_empty());
        let changed: Vec<&Value> = of_type(&events, "access.changed")
            .into_iter()
            .filter(|c| c["data"]["user_id"] == json!(u))
            .collect();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0]["revision"], e["revision"], "the same write");
        assert!(
            effective(&app, &u, &[format!("organization_id={}", a.org_a)])
                .await
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn the_long_poll_answers_at_once_waits_for_a_write_or_gives_up() {
    each_backend(|app| async move {
        let a = app.actors().await;
        // Events exist: the answer does not wait (a hang guard well under `wait`).
        let r = tokio::time::timeout(
            Duration::from_secs(20),
            app.get("/v1/events?after=0&wait=30&limit=5", &app.owner),
        )
        .await
        .expect("answered before its wait");
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["items"].as_array().unwrap().len(), 5);
        assert_eq!(r.body["next_after"], json!(5));

        // None within `wait`: empty, `next_after` unchanged.
        let last = last_seq(&app).await;
        let r = app
            .get(&format!("/v1/events?after={last}&wait=1"), &app.owner)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["items"], json!([]));
        assert_eq!(r.body["next_after"], json!(last));

        // A write during the wait ends it with that write's events.
        let router = app.router.clone();
        let owner = app.owner.clone();
        let poll = tokio::spawn(async move {
            native_support::send(
                &router,
                Method::GET,
                &format!("/v1/events?after={last}&wait=30&types=user.created"),
                Some(&owner),
                None,
                &[],
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let u = app.user(&a.org_a, "polled@a.example").await;
        let r = tokio::time::timeout(Duration::from_secs(25), poll)
            .await
            .expect("the poll answered once the write was committed")
            .unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{}", r.body);
        assert_eq!(items[0]["type"], "user.created");
        assert_eq!(items[0]["data"]["object"]["id"], json!(u));
        assert_eq!(r.body["next_after"], items[0]["seq"]);

        // Another organization's write does not end a poll filtered to A,
        // then A's does.
        let router = app.router.clone();
        let token = a.org_admin.1.clone();
        let after = last_seq(&app).await;
        let poll = tokio::spawn(async move {
            native_support::send(
                &router,
                Method::GET,
                &format!("/v1/events?after={after}&wait=30"),
                Some(&token),
                None,
                &[],
            )
            .await
        });
        app.user(&a.org_b, "elsewhere@b.example").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let u = app.user(&a.org_a, "mine@a.example").await;
        let r = tokio::time::timeout(Duration::from_secs(25), poll)
            .await
            .expect("answered")
            .unwrap();
        let items = r.body["items"].as_array().unwrap();
        assert!(!items.is_empty());
        assert!(items.iter().all(|e| e["organization_id"] == json!(a.org_a)));
        assert_eq!(items[0]["data"]["object"]["id"], json!(u));
    })
    .await;
}

// ----- Server-Sent Events ------------------------------------------------------

/// One parsed Server-Sent Event.
#[derive(Debug)]
struct Sse {
    id: i64,
    event: String,
    data: Value,
}

/// An open event stream (through the router).
struct Stream {
    body: Body,
    buf: String,
}

impl Stream {
    async fn open(app: &TestApp, query: &str, last_event_id: Option<i64>) -> Self {
        let mut b = Request::builder()
            .uri(format!("/v1/events/stream{query}"))
            .header("authorization", format!("Bearer {}", app.owner));
        if let Some(id) = last_event_id {
            b = b.header("last-event-id", id.to_string());
        }
        let resp = app
            .router
            .clone()
            .oneshot(b.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            body: resp.into_body(),
            buf: String::new(),
        }
    }

    /// The next event (comments skipped).
    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                match id {
                    Some(id) => {
                        return Sse {
                            id,
                            event: event.unwrap(),
                            data: serde_json::from_str(&data).unwrap(),
                        }
                    }
                    None => continue, // a comment (heartbeat)
                }
            }
            let frame = tokio::time::timeout(DEADLINE, self.body.frame())
                .await
                .expect("an event in time")
                .expect("the stream is open")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.buf.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }
}

#[tokio::test]
async fn the_stream_resumes_with_last_event_id_missing_and_repeating_nothing() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let start = last_seq(&app).await;
        let mut got: Vec<i64> = Vec::new();
        // Three events, then the client goes away.
        let mut s = Stream::open(&app, &format!("?after={start}"), None).await;
        let u1 = app.user(&a.org_a, "s1@a.example").await;
        app.grant(&u1, "viewer", org_scope(&a.org_a)).await;
        for _ in 0..3 {
            let e = s.next().await;
            assert_eq!(e.data["seq"], json!(e.id));
            assert_eq!(e.data["type"], json!(e.event));
            got.push(e.id);
        }
        drop(s);
        // Written while disconnected.
        for i in 0..4 {
            app.user(&a.org_b, &format!("s-away{i}@b.example")).await;
        }
        let mut s = Stream::open(&app, "?after=0", Some(*got.last().unwrap())).await;
        let end = last_seq(&app).await;
        while *got.last().unwrap() < end {
            got.push(s.next().await.id);
        }
        // Live events after the catch-up.
        let u2 = app.user(&a.org_a, "s2@a.example").await;
        let e = s.next().await;
        assert_eq!(e.event, "user.created");
        assert_eq!(e.data["data"]["object"]["id"], json!(u2));
        got.push(e.id);
        let want: Vec<i64> = (start + 1..=last_seq(&app).await).collect();
        assert_eq!(got, want, "every event once, in order");

        // A type filter and an organization.
        let mut s = Stream::open(
            &app,
            &format!(
                "?after={start}&types=access.changed&organization_id={}",
                a.org_a
            ),
            None,
        )
        .await;
        let e = s.next().await;
        assert_eq!(e.event, "access.changed");
        assert_eq!(e.data["data"]["user_id"], json!(u1));
        assert_eq!(e.data["organization_id"], json!(a.org_a));
    })
    .await;
}

/// A server shutting down ends its open event streams at once: `serve`
/// returns although its grace period is far longer than the test waits.
#[tokio::test]
async fn a_shutdown_ends_open_streams() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = roster_store::testing::test_databases()
        .await
        .into_iter()
        .next()
        .unwrap();
    let app = TestApp::new(db).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(roster_server::serve_with(
        listener,
        app.router.clone(),
        async move {
            let _ = stopped.await;
        },
        roster_server::ServeOptions {
            shutdown_grace: Duration::from_secs(600),
            ..Default::default()
        },
    ));
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        format!(
            "GET /v1/events/stream?after=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
            app.owner
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // The headers and the first events arrive.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("id: 1") {
        let n = tokio::time::timeout(DEADLINE, conn.read(&mut buf))
            .await
            .expect("events in time")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    stop.send(()).unwrap();
    tokio::time::timeout(DEADLINE, server)
        .await
        .expect("serve returned without waiting out its grace")
        .unwrap()
        .unwrap();
    // And the stream is closed.
    let closed = tokio::time::timeout(DEADLINE, async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was closed");
}

// ----- visibility ----------------------------------------------------------------

#[tokio::test]
async fn another_tenants_events_are_never_visible() {
    each_backend(|app| async move {
        let a = app.actors().await;
        app.user(&a.org_a, "more@a.example").await;
        // A Roster-wide event (no organization): a signing key.
        roster_server::keys::ensure(&app.state, roster_domain::SigningAlgorithm::EdDSA)
            .await
            .unwrap();
        let (other, other_token) = &a.other_tenant;
        app.grant(other, "viewer", org_scope(&a.org_b)).await; // an event of B
        let seen = events_after(&app, other_token, 0).await;
        assert!(!seen.is_empty());
        assert!(
            seen.iter().all(|e| e["organization_id"] == json!(a.org_b)),
            "only B's events (no Roster-wide ones either)"
        );
        let seen_a = events_after(&app, &a.org_admin.1, 0).await;
        assert!(seen_a
            .iter()
            .all(|e| e["organization_id"] == json!(a.org_a)));
        // The owner (global) sees everything, Roster-wide events included.
        let all = events_after(&app, &app.owner, 0).await;
        assert_eq!(all.len() as i64, last_seq(&app).await);
        assert!(all
            .iter()
            .any(|e| e["type"] == "signing_key.created" && e["organization_id"].is_null()));

        // Refusals exactly as the audit list's.
        let cases = [
            (&a.other_tenant.1, format!("organization_id={}", a.org_a)),
            (&a.other_tenant.1, format!("organization_id={}", a.org_b)),
            (&a.org_admin.1, String::new()),
            (&a.nobody.1, String::new()),
            (&a.nobody.1, format!("organization_id={}", a.org_a)),
            (&a.viewer.1, String::new()),
            (
                &a.org_admin.1,
                format!("organization_id={}", uuid::Uuid::new_v4()),
            ),
        ];
        let mut statuses = BTreeSet::new();
        for (token, q) in &cases {
            let audit = app.get(&format!("/v1/audit-events?{q}"), token).await;
            let feed = app.get(&format!("/v1/events?{q}"), token).await;
            assert_eq!(feed.status, audit.status, "{q}: {}", feed.body);
            let stream = stream_status(&app, token, q).await;
            assert_eq!(stream.status, audit.status, "stream {q}: {}", stream.body);
            if !audit.status.is_success() {
                assert_problem(&feed, audit.status.as_u16(), None);
                assert_problem(&stream, audit.status.as_u16(), None);
            }
            statuses.insert(feed.status.as_u16());
        }
        assert!(
            statuses.contains(&403) && statuses.contains(&404) && statuses.contains(&200),
            "{statuses:?}"
        );
        let r = app
            .get(
                &format!("/v1/events?organization_id={}", a.org_a),
                &a.other_tenant.1,
            )
            .await;
        assert_problem(&r, 404, None);
        let r = app.get("/v1/events", "not-a-key").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

/// The status (and, for a refusal, the body) of opening a stream.
async fn stream_status(app: &TestApp, token: &str, q: &str) -> Resp {
    let req = Request::builder()
        .uri(format!("/v1/events/stream?{q}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    if status.is_success() {
        return Resp {
            status,
            headers,
            body: Value::Null,
        };
    }
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap(),
    }
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    each_backend(|app| async move {
        for (q, field) in [
            ("after=abc", "after"),
            ("after=-1", "after"),
            ("after=1.5", "after"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=x", "limit"),
            ("wait=31", "wait"),
            ("wait=-1", "wait"),
            ("wait=soon", "wait"),
            ("types=user.exploded", "types"),
            ("types=user.created,nope", "types"),
            ("types=", "types"),
            ("organization_id=acme", "organization_id"),
            ("colour=red", "colour"),
        ] {
            let r = app.get(&format!("/v1/events?{q}"), &app.owner).await;
            assert_problem(&r, 400, Some(field));
            if q.starts_with("limit") || q.starts_with("wait") {
                continue; // not parameters of the stream
            }
            let s = stream_status(&app, &app.owner, q).await;
            assert_problem(&s, 400, Some(field));
        }
        let r = native_support::send(
            &app.router,
            Method::GET,
            "/v1/events/stream",
            Some(&app.owner),
            None,
            &[("last-event-id", "yesterday".to_owned())],
        )
        .await;
        assert_problem(&r, 400, Some("Last-Event-ID"));
        // Good values still work.
        let r = app
            .get(
                "/v1/events?after=0&limit=1000&wait=0&types=user.created,access.changed",
                &app.owner,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["type"] == "user.created" || e["type"] == "access.changed"));
    })
    .await;
}

// ----- the audit list's new filters ---------------------------------------------

#[tokio::test]
async fn the_audit_list_filters_by_subject_action_and_time() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let u = app.user(&a.org_a, "subject@a.example").await;
        let t0 = OffsetDateTime::now_utc() - Duration::from_secs(1);
        let grant = app.grant(&u, "viewer", org_scope(&a.org_a)).await;
        let t1 = OffsetDateTime::now_utc() + Duration::from_secs(1);
        let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap().replace('+', "%2B");
        let list = |q: String| {
            let app = &app;
            async move {
                let r = app.get(&format!("/v1/audit-events?{q}"), &app.owner).await;
                assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
                r.body["items"].as_array().unwrap().clone()
            }
        };
        // The grant is found by the user it changes, not only by its own id.
        let by_subject = list(format!("subject_id={u}")).await;
        assert!(
            by_subject
                .iter()
                .any(|e| e["action"] == "grant.create" && e["target_id"] == grant["id"]),
            "{by_subject:#?}"
        );
        assert!(by_subject.iter().all(|e| e["subject_id"] == json!(u)));
        let by_target = list(format!("target_id={u}")).await;
        assert!(by_target.iter().all(|e| e["action"] != "grant.create"));
        // By action.
        let creates = list("action=grant.create&limit=1000".into()).await;
        assert!(creates.len() >= 5);
        assert!(creates.iter().all(|e| e["action"] == "grant.create"));
        let both = list(format!("action=grant.create&subject_id={u}")).await;
        assert_eq!(both.len(), 1);
        // By time.
        let within = list(format!("subject_id={u}&from={}&to={}", fmt(t0), fmt(t1))).await;
        assert_eq!(within.len(), by_subject.len());
        assert!(list(format!("subject_id={u}&from={}", fmt(t1)))
            .await
            .is_empty());
        assert!(list(format!("subject_id={u}&to={}", fmt(t0)))
            .await
            .is_empty());
        // Bad input.
        for (q, field) in [
            ("subject_id=someone", "subject_id"),
            ("from=yesterday", "from"),
            ("to=2026-13-01T00:00:00Z", "to"),
            ("action=Grant.Create", "action"),
            ("action=", "action"),
            ("action=grant%20create", "action"),
        ] {
            let r = app.get(&format!("/v1/audit-events?{q}"), &app.owner).await;
            assert_problem(&r, 400, Some(field));
        }
    })
    .await;
}

// ----- bulk ---------------------------------------------------------------------

#[tokio::test]
async fn a_role_held_by_more_than_1000_users_yields_one_bulk_event() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let r = app
            .post(
                &format!("/v1/organizations/{}/roles", a.org_a),
                &app.owner,
                json!({"id": "clerk", "name": "Clerk", "permissions": ["users:read"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        // 1001 holders in one write of the system (one commit, cheap).
        let org: OrganizationId = a.org_a.parse().unwrap();
        app.state
            .writer
            .write(Context::system(OffsetDateTime::now_utc()), move |d| {
                for i in 0..1001 {
                    let u = ops::create_user(
                        d,
                        ops::NewUser {
                            id: None,
                            organization_id: org,
                            email: Email::parse(&format!("clerk{i}@a.example"))?,
                            first_name: None,
                            last_name: None,
                            phone: None,
                            settings: None,
                            external_ids: Default::default(),
                            status: None,
                        },
                    )?;
                    ops::create_grant(
                        d,
                        u.id,
                        ops::NewGrant {
                            subject: GrantSubject::Role(RoleId::parse("clerk")?),
                            scope: Scope::Organization(org),
                            expires_at: None,
                        },
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let from = last_seq(&app).await;
        let r = app
            .patch(
                &format!("/v1/organizations/{}/roles/clerk", a.org_a),
                &a.org_admin.1,
                json!({"permissions": ["accounts:read"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let events = events_after(&app, &app.owner, from).await;
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["role.updated", "access.changed.bulk"]);
        let bulk = &events[1];
        assert_eq!(bulk["organization_id"], json!(a.org_a));
        assert_eq!(bulk["actor_id"], json!(a.org_admin.0));
        assert_eq!(bulk["data"]["role"]["id"], "clerk");
        assert_eq!(bulk["data"]["users"], 1001);
        let perm = |code: &str| {
            let app = &app;
            let code = code.to_owned();
            async move {
                let r = app.get("/v1/permissions?limit=1000", &app.owner).await;
                r.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["code"] == json!(code))
                    .unwrap()["id"]
                    .clone()
            }
        };
        assert_eq!(
            bulk["data"]["gained"],
            json!([{"permission": perm("accounts:read").await}])
        );
        assert_eq!(
            bulk["data"]["lost"],
            json!([{"permission": perm("users:read").await}])
        );
    })
    .await;
}

// ----- retention ----------------------------------------------------------------

/// The retention task trims events older than the retention and nothing
/// else; a registered trim (`Retention::also`) gets its own cut-off; the
/// feed numbers on after a trim; the audit trail is not trimmed.
#[tokio::test]
async fn retention_trims_old_events_only() {
    use roster_server::retention::Retention;
    use std::sync::{Arc, Mutex};
    each_backend(|app| async move {
        let a = app.actors().await;
        let last = last_seq(&app).await;
        let audit = app.audit_count().await;
        let seen: Arc<Mutex<Vec<OffsetDateTime>>> = Arc::default();
        let hook = {
            let seen = seen.clone();
            Arc::new(move |before: OffsetDateTime| {
                seen.lock().unwrap().push(before);
                Box::pin(async { Ok(()) }) as futures::future::BoxFuture<'static, _>
            })
        };
        let retention =
            Retention::new(&app.state).also("deliveries", Duration::from_secs(3600), hook);
        // Now: everything is younger than 30 days.
        let now = OffsetDateTime::now_utc();
        assert_eq!(retention.run_once(now).await, 0);
        assert_eq!(events_after(&app, &app.owner, 0).await.len() as i64, last);
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            &[now - Duration::from_secs(3600)]
        );
        // 31 days on: everything is older.
        let later = now + Duration::from_secs(31 * 86400);
        assert_eq!(retention.run_once(later).await, 0);
        assert!(events_after(&app, &app.owner, 0).await.is_empty());
        assert_eq!(
            app.audit_count().await,
            audit,
            "the audit trail keeps everything"
        );
        // The feed numbers on.
        app.user(&a.org_a, "after-trim@a.example").await;
        let events = events_after(&app, &app.owner, 0).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["seq"], json!(last + 1));
    })
    .await;
}
