//! Webhook delivery against a real receiver on `127.0.0.1:0` that verifies
//! every signature with the `standardwebhooks` crate: order across an
//! outage, secret rotation, replay, the delivery log, giving up (with a
//! short horizon, through the server's configuration), and two replicas
//! on PostgreSQL delivering each event once.

use crate::support::common::{each_backend_with, TestApp};
use crate::support::receiver::{eventually, Receiver};
use axum::http::{Method, StatusCode};
use roster_server::webhooks::WebhookConfig;
use roster_server::{AppState, Config};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

fn config() -> Config {
    Config {
        allow_private_targets: true,
        webhooks: WebhookConfig {
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            ..WebhookConfig::default()
        },
        ..Config::default()
    }
}

/// Subscribes the bootstrap organization to `types`; returns (id, secret).
pub(crate) async fn subscribe(app: &TestApp, url: &str, types: Value) -> (String, String) {
    let r = app
        .post(
            &format!("/v1/organizations/{}/webhooks", app.org),
            &app.owner,
            json!({ "url": url, "event_types": types }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (r.str("id"), r.str("secret"))
}

/// Enables subscription `id` again (a disabled one starts where it stopped).
pub(crate) async fn enable(app: &TestApp, id: &str) -> crate::support::common::Resp {
    let r = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            &app.owner,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r
}

async fn users(app: &TestApp, n: usize, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(app.user(&app.org, &format!("{tag}{i}@hooks.example")).await);
    }
    out
}

/// The user ids of the `user.created` deliveries, in first-arrival order,
/// and their `seq`s.
fn created(got: &[crate::support::receiver::Got]) -> (Vec<String>, Vec<i64>) {
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    let mut seqs = Vec::new();
    for g in got {
        if g.body["type"] == "user.created" && seen.insert(g.id.clone()) {
            ids.push(g.body["data"]["object"]["id"].as_str().unwrap().to_owned());
            seqs.push(g.body["seq"].as_i64().unwrap());
        }
    }
    (ids, seqs)
}

#[tokio::test]
async fn every_event_arrives_signed_and_in_order_after_an_outage() {
    each_backend_with(config(), |app| async move {
        let rx = Receiver::start().await;
        rx.set_down(true);
        let (id, secret) = subscribe(&app, &rx.url, json!(["user.created"])).await;
        rx.trust(&secret);
        let worker = roster_server::webhooks::spawn(&app.state);
        let made = users(&app, 15, "outage").await;
        eventually("failed attempts", || async { rx.refused() >= 3 }).await;
        // The log shows the failures and when they are retried.
        let log = app
            .get(&format!("/v1/webhooks/{id}/deliveries"), &app.owner)
            .await;
        let failed = log.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["status"] == json!(503));
        if let Some(d) = failed {
            assert!(d["next_retry_at"].is_string(), "{d}");
            assert!(d["error"].is_string(), "{d}");
        }
        rx.set_down(false);
        let got = rx
            .wait_for("every user.created", |g| created(g).0.len() >= made.len())
            .await;
        let (ids, seqs) = created(&got);
        assert_eq!(ids, made, "delivered out of order");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert!(
            rx.unverified().is_empty(),
            "unverified: {:?}",
            rx.unverified()
        );
        for g in &got {
            assert_eq!(
                g.body["id"].as_str(),
                Some(g.id.as_str()),
                "webhook-id is the event id"
            );
            assert_eq!(g.body["organization_id"].as_str(), Some(app.org.as_str()));
            assert_eq!(g.signatures, 1);
        }
        // The log, newest first, shows successes after the failures.
        eventually("the log", || async {
            let r = app
                .get(
                    &format!("/v1/webhooks/{id}/deliveries?limit=1000"),
                    &app.owner,
                )
                .await;
            let items = r.body["items"].as_array().cloned().unwrap_or_default();
            items.iter().filter(|d| d["status"] == json!(204)).count() >= made.len()
                && items.iter().any(|d| d["status"] == json!(503))
        })
        .await;
        let page = app
            .get(&format!("/v1/webhooks/{id}/deliveries?limit=2"), &app.owner)
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let next = page.str("next_cursor");
        let more = app
            .get(
                &format!("/v1/webhooks/{id}/deliveries?limit=2&cursor={next}"),
                &app.owner,
            )
            .await;
        let (a, b) = (&page.body["items"][1]["id"], &more.body["items"][0]["id"]);
        assert!(a.as_i64() > b.as_i64(), "{a} {b}");
        worker.abort();
    })
    .await;
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_and_replay_sends_again() {
    each_backend_with(config(), |app| async move {
        let rx = Receiver::start().await;
        let (id, first) = subscribe(&app, &rx.url, json!(["*"])).await;
        rx.trust(&first);
        let worker = roster_server::webhooks::spawn(&app.state);
        let made = users(&app, 3, "before").await;
        rx.wait_for("three users", |g| created(g).0.len() >= 3)
            .await;
        let r = app
            .call(
                Method::POST,
                &format!("/v1/webhooks/{id}/rotate-secret"),
                Some(&app.owner),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let second = r.str("secret");
        rx.trust(&second);
        let later = users(&app, 1, "after").await;
        let got = rx
            .wait_for("the user after rotation", |g| {
                created(g).0.contains(&later[0])
            })
            .await;
        let after = got
            .iter()
            .find(|g| {
                g.body["type"] == "user.created"
                    && g.body["data"]["object"]["id"] == json!(later[0])
            })
            .unwrap();
        assert_eq!(after.signatures, 2, "old and new secret both sign");
        assert_eq!(after.verified_by, vec![0, 1], "each secret verifies");
        assert!(rx.unverified().is_empty());

        // Replay from before the first user: they come again, same ids.
        let first_seq = got
            .iter()
            .find(|g| g.body["data"]["object"]["id"] == json!(made[0]))
            .unwrap()
            .body["seq"]
            .as_i64()
            .unwrap();
        let before = rx.got().len();
        let r = app
            .post(
                &format!("/v1/webhooks/{id}/replay"),
                &app.owner,
                json!({ "after": first_seq - 1 }),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        let got = rx
            .wait_for("the replay", |g| {
                g[before.min(g.len())..].iter().any(|x| {
                    x.body["data"]["object"]["id"] == json!(later[0])
                        && x.body["type"] == "user.created"
                })
            })
            .await;
        let again: Vec<i64> = got[before..]
            .iter()
            .map(|g| g.body["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(again.first(), Some(&first_seq), "{again:?}");
        assert!(again.windows(2).all(|w| w[0] < w[1]), "{again:?}");
        worker.abort();
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_failing_past_the_horizon_gets_its_subscription_disabled() {
    let mut c = config();
    c.webhooks.give_up_after = Duration::from_millis(500);
    each_backend_with(c, |app| async move {
        let rx = Receiver::start().await;
        rx.set_down(true);
        let (id, secret) = subscribe(&app, &rx.url, json!(["user.created"])).await;
        rx.trust(&secret);
        let worker = roster_server::webhooks::spawn(&app.state);
        users(&app, 2, "doomed").await;
        eventually("the subscription disabled", || async {
            let r = app.get(&format!("/v1/webhooks/{id}"), &app.owner).await;
            r.body["enabled"] == json!(false)
        })
        .await;
        let r = app.get(&format!("/v1/webhooks/{id}"), &app.owner).await;
        assert_eq!(r.body["disabled_reason"], json!("failing"), "{}", r.body);
        let audit = app
            .get(
                &format!("/v1/audit-events?target_id={id}&action=webhook.disable"),
                &app.owner,
            )
            .await;
        let items = audit.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{}", audit.body);
        assert_eq!(items[0]["reason"], json!("failing"));
        assert!(items[0]["actor_id"].is_null());
        let events = app
            .state
            .store
            .events(&roster_store::EventFilter {
                types: Some(vec!["webhook.disabled".into()]),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data["reason"], json!("failing"));
        assert!(!serde_json::to_string(&events[0])
            .unwrap()
            .contains("whsec_"));
        // Enabled again with the endpoint up: the event that failed comes first.
        rx.set_down(false);
        let r = enable(&app, &id).await;
        assert_eq!(r.body["disabled_reason"], Value::Null);
        rx.wait_for("both users", |g| created(g).0.len() >= 2).await;
        assert!(rx.unverified().is_empty());
        worker.abort();
    })
    .await;
}

#[tokio::test]
async fn two_replicas_on_postgres_deliver_each_event_once() {
    let dbs = roster_store::testing::test_databases().await;
    let Some(db) = dbs.into_iter().find(|d| d.backend == "postgres") else {
        eprintln!("skipped: two replicas need PostgreSQL (set ROSTER_TEST_DATABASE_URL)");
        return;
    };
    let app = TestApp::with_config(db, config()).await;
    let other_store = app.db.open().await.unwrap();
    let other = AppState::start(other_store, config()).await.unwrap();
    other.spawn_follower();
    app.state.spawn_follower();
    let rx = Receiver::start().await;
    let (_, secret) = subscribe(&app, &rx.url, json!(["user.created"])).await;
    rx.trust(&secret);
    let w1 = roster_server::webhooks::spawn(&app.state);
    let w2 = roster_server::webhooks::spawn(&other);
    let made = users(&app, 30, "replica").await;
    // Writes on the other replica too.
    let router = roster_server::router(other.clone());
    let mut more = Vec::new();
    for i in 0..10 {
        let r = crate::support::native_support::send(
            &router,
            Method::POST,
            "/v1/users",
            Some(&app.owner),
            Some(&json!({"organization_id": app.org, "email": format!("other{i}@hooks.example"), "first_name": "O", "last_name": "R"})),
            &[],
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        more.push(r.str("id"));
    }
    let all = made.len() + more.len();
    let got = rx
        .wait_for("every user", |g| created(g).0.len() >= all)
        .await;
    let ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    let distinct: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), distinct.len(), "an event was delivered twice");
    let (_, seqs) = created(&got);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(rx.unverified().is_empty());
    w1.abort();
    w2.abort();
}

/// While writes queue behind each other's commits, deliveries take turns
/// at `rate_under_load` (counted as paced); every event still arrives,
/// signed and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_yield_to_saturated_writes_and_lose_nothing() {
    let config = Config {
        webhooks: WebhookConfig {
            rate_under_load: 20,
            ..config().webhooks
        },
        ..config()
    };
    each_backend_with(config, |app| async move {
        let rx = Receiver::start().await;
        let (_, secret) = subscribe(&app, &rx.url, json!(["user.created"])).await;
        rx.trust(&secret);
        let worker = roster_server::webhooks::spawn(&app.state);
        let paced = || app.state.metrics.webhook_paced.get();
        assert_eq!(paced(), 0);
        // Waves of concurrent creations until an attempt had to wait.
        let mut made = Vec::new();
        for wave in 0..200 {
            let emails: Vec<String> = (0..8)
                .map(|i| format!("w{wave}-{i}@pace.example"))
                .collect();
            let batch =
                futures::future::join_all(emails.iter().map(|e| app.user(&app.org, e))).await;
            made.extend(batch);
            if paced() > 0 {
                break;
            }
        }
        assert!(paced() > 0, "no attempt was paced under concurrent writes");
        let got = rx
            .wait_for("every user.created", |g| created(g).0.len() >= made.len())
            .await;
        let (ids, seqs) = created(&got);
        let mut expected = ids.clone();
        expected.sort();
        made.sort();
        assert_eq!(expected, made, "every created user, once");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "out of order: {seqs:?}"
        );
        assert!(
            rx.unverified().is_empty(),
            "unverified: {:?}",
            rx.unverified()
        );
        worker.abort();
    })
    .await;
}
