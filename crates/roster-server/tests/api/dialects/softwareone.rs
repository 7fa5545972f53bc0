//! SoftwareOne's `PUT /compat/softwareone/public/v1/accounts/accounts/{accountId}/users/{userId}`
//! against SPEC §2 and the seed's documented schema, per backend.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use crate::support::common;
use crate::support::openapi30;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{each_backend, Actors, Resp, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const VENDOR: &str = "softwareone";
const FRAGMENT_PATH: &str = "/public/v1/accounts/accounts/{accountId}/users/{userId}";

fn url(account: &str, user: &str) -> String {
    format!("/compat/softwareone/public/v1/accounts/accounts/{account}/users/{user}")
}

/// A tenant-A cast plus an operations account, a platform operator
/// (`admin` at that operations account, so `platform:accounts:manage` there,
/// but `users:write` on that account only) and a group of A without grants.
/// The organization admin is a platform operator too, with `users:write` on
/// the whole organization (what changing group memberships needs).
struct Cast {
    a: Actors,
    ops_a: String,
    operator: (String, String),
    group: String,
}

async fn setup(app: &TestApp) -> Cast {
    let a = app.actors().await;
    let ops_a = app.account(&a.org_a, "Ops A", "operations").await;
    let op = app.user(&a.org_a, "operator@a.example").await;
    app.grant(&op, "admin", json!({"type": "account", "id": ops_a}))
        .await;
    let key = app.key(&op).await;
    let group = new_group(app, &a.org_a, "Billing").await;
    Cast {
        a,
        ops_a,
        operator: (op, key),
        group,
    }
}

/// A group of `org`, created by the owner through the native API.
async fn new_group(app: &TestApp, org: &str, name: &str) -> String {
    let r = app
        .post(
            &format!("/v1/organizations/{org}/groups"),
            &app.owner,
            json!({"name": name}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.str("id")
}

/// The ids of the user's groups, through the native API.
async fn native_groups(app: &TestApp, user: &str) -> Vec<String> {
    let r = app
        .get(&format!("/v1/users/{user}/groups"), &app.owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn put(app: &TestApp, token: Option<&str>, account: &str, user: &str, body: Value) -> Resp {
    app.call(Method::PUT, &url(account, user), token, Some(body))
        .await
}

async fn put_raw(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Resp {
    let mut b = Request::builder().method(Method::PUT).uri(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    app.raw(b.body(Body::from(body)).unwrap()).await
}

/// Asserts a 200 whose body is an `AccountUser` exactly per the seed.
fn assert_account_user(r: &Resp) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let schema = openapi30::response_schema(VENDOR, FRAGMENT_PATH, "put", 200);
    openapi30::assert_valid("AccountUser", &schema, &r.body);
}

/// Asserts a ProblemDetails answer with `status` (and, when given, an
/// `errors` entry for `field`).
fn assert_problem(r: &Resp, status: StatusCode, field: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(ct, "application/json", "{}", r.body);
    for k in ["type", "title", "detail", "instance"] {
        assert!(r.body[k].is_string(), "`{k}` missing: {}", r.body);
    }
    assert_eq!(r.body["status"], status.as_u16(), "{}", r.body);
    assert!(r.body["errors"].is_object(), "{}", r.body);
    let schema = openapi30::named_schema(VENDOR, "ProblemDetails");
    openapi30::assert_valid("ProblemDetails", &schema, &r.body);
    if let Some(f) = field {
        let msgs = r.body["errors"][f]
            .as_array()
            .unwrap_or_else(|| panic!("no errors[{f}] in {}", r.body));
        assert!(
            !msgs.is_empty() && msgs.iter().all(Value::is_string),
            "{}",
            r.body
        );
    }
}

async fn native_user(app: &TestApp, user: &str) -> Value {
    let r = app.get(&format!("/v1/users/{user}"), &app.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

async fn membership(app: &TestApp, account: &str, user: &str) -> Value {
    let r = app
        .get(
            &format!("/v1/accounts/{account}/members?limit=1000"),
            &app.owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == user)
        .cloned()
        .expect("membership")
}

#[test]
fn validator_bites() {
    let schema = openapi30::response_schema(VENDOR, FRAGMENT_PATH, "put", 200);
    openapi30::assert_valid(
        "minimal",
        &schema,
        &json!({"id": "x", "phone": null, "settings": {"timeZone": null}}),
    );
    openapi30::assert_invalid("extra property", &schema, &json!({"id": "x", "roles": []}));
    openapi30::assert_invalid(
        "nested extra property",
        &schema,
        &json!({"account": {"id": "a", "kind": "x"}}),
    );
    openapi30::assert_invalid("enum", &schema, &json!({"account": {"type": "client"}}));
    openapi30::assert_invalid(
        "date-time",
        &schema,
        &json!({"audit": {"created": {"at": "yesterday"}}}),
    );
    openapi30::assert_invalid("non-nullable", &schema, &json!({"email": null}));
}

#[tokio::test]
async fn operator_updates_profile_and_membership() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let (acc, target) = (&c.a.acc_a1, &c.a.target);
        let body = json!({
            "email": "renamed@a.example",
            "firstName": "Rita",
            "lastName": "Renamed",
            "phone": {"prefix": "+34", "number": "600 000 000"},
            "settings": {"cultureCode": "es-ES", "languageCode": "es", "timeZone": "Europe/Madrid",
                         "numberFormat": {"decimalSeparator": ",", "groupSeparator": "."}},
            "status": "Disabled",
        });
        let r = put(&app, Some(&c.operator.1), acc, target, body).await;
        assert_account_user(&r);
        let b = &r.body;
        assert_eq!(b["id"], *target);
        assert_eq!(b["email"], "renamed@a.example");
        assert_eq!(b["name"], "Rita Renamed");
        assert_eq!(b["user"]["id"], *target);
        assert_eq!(b["status"], "Disabled");
        assert_eq!(
            b["phone"],
            json!({"prefix": "+34", "number": "600 000 000"})
        );
        assert_eq!(b["settings"]["cultureCode"], "es-ES");
        assert_eq!(b["settings"]["numberFormat"]["decimalSeparator"], ",");
        assert_eq!(b["groups"], json!([]));
        assert_eq!(b["account"]["id"], *acc);
        assert_eq!(b["account"]["type"], "Client");
        assert_eq!(b["account"]["status"], "Active");
        assert_eq!(b["modules"], json!([]));
        // The audit trail: created by the owner (who added the member),
        // updated by the operator in this request.
        assert_eq!(b["audit"]["created"]["by"]["id"], app.owner_id);
        assert_eq!(b["audit"]["invited"]["by"]["id"], app.owner_id);
        assert_eq!(b["audit"]["joined"]["by"]["id"], app.owner_id);
        assert_eq!(b["audit"]["updated"]["by"]["id"], c.operator.0);
        assert_eq!(b["audit"]["updated"]["by"]["name"], "Test User");
        // The revision is the account user's: the later of user and membership.
        let rev = r.revision().expect("Roster-Revision");
        assert_eq!(b["revision"], rev);

        // The native API sees both halves.
        let u = native_user(&app, target).await;
        assert_eq!(u["email"], "renamed@a.example");
        assert_eq!(u["phone"]["prefix"], "+34");
        assert_eq!(u["settings"]["time_zone"], "Europe/Madrid");
        let m = membership(&app, acc, target).await;
        assert_eq!(m["status"], "disabled");
        assert_eq!(m["groups"], json!([]));

        // An org-level admin is a platform operator too once the org has an
        // operations account (it holds `platform:accounts:manage` there).
        let r = put(
            &app,
            Some(&c.a.org_admin.1),
            acc,
            target,
            json!({"status": "Active"}),
        )
        .await;
        assert_account_user(&r);
        assert_eq!(r.body["status"], "Active");
    })
    .await;
}

#[tokio::test]
async fn delta_leaves_absent_fields_alone_and_null_clears() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let (acc, target, tok) = (&c.a.acc_a1, &c.a.target, &c.operator.1);
        let r = put(&app, Some(tok), acc, target, json!({
            "phone": {"prefix": "+1", "number": "555"},
            "settings": {"cultureCode": "en-US", "timeZone": "America/New_York", "dateFormat": "MM/dd/yyyy"},
        }))
        .await;
        assert_account_user(&r);
        // Only the time zone changes; the other settings, the phone and the
        // names stay.
        let r = put(&app, Some(tok), acc, target, json!({"settings": {"timeZone": "Europe/Paris"}})).await;
        assert_account_user(&r);
        assert_eq!(r.body["settings"]["timeZone"], "Europe/Paris");
        assert_eq!(r.body["settings"]["cultureCode"], "en-US");
        assert_eq!(r.body["settings"]["dateFormat"], "MM/dd/yyyy");
        assert_eq!(r.body["phone"]["number"], "555");
        assert_eq!(r.body["firstName"], "Test");
        // `null` clears a nullable key, and a nullable object.
        let r = put(&app, Some(tok), acc, target, json!({"settings": {"dateFormat": null}, "phone": {"prefix": null}})).await;
        assert_account_user(&r);
        assert_eq!(r.body["settings"]["dateFormat"], Value::Null);
        assert_eq!(r.body["phone"], json!({"prefix": null, "number": "555"}));
        let r = put(&app, Some(tok), acc, target, json!({"phone": null, "settings": null})).await;
        assert_account_user(&r);
        assert!(r.body.get("phone").is_none() && r.body.get("settings").is_none(), "{}", r.body);
        let u = native_user(&app, target).await;
        assert_eq!(u["phone"], Value::Null);
        // An empty delta changes nothing and writes no audit event.
        let before = app.audit_count().await;
        let r = put(&app, Some(tok), acc, target, json!({})).await;
        assert_account_user(&r);
        assert_eq!(app.audit_count().await, before);
    })
    .await;
}

#[tokio::test]
async fn read_only_fields_are_ignored_and_unknown_fields_rejected() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let (acc, target, tok) = (&c.a.acc_a1, &c.a.target, &c.operator.1);
        let first = put(&app, Some(tok), acc, target, json!({})).await;
        assert_account_user(&first);
        // GET-modify-PUT: the client sends the whole object back.
        let mut full = first.body.clone();
        full["firstName"] = json!("Roundtrip");
        full["name"] = json!("ignored");
        full["id"] = json!("ignored");
        full["account"]["type"] = json!("Vendor");
        full["$meta"] = json!({"omitted": ["audit"]});
        let r = put(&app, Some(tok), acc, target, full).await;
        assert_account_user(&r);
        assert_eq!(r.body["firstName"], "Roundtrip");
        assert_eq!(r.body["id"], *target);
        assert_eq!(r.body["account"]["type"], "Client");

        let before = app.audit_count().await;
        let r = put(
            &app,
            Some(tok),
            acc,
            target,
            json!({"firstName": "X", "nickname": "x"}),
        )
        .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, Some("nickname"));
        let r = put(
            &app,
            Some(tok),
            acc,
            target,
            json!({"settings": {"theme": "dark"}}),
        )
        .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, Some("settings.theme"));
        // Read-only fields must still have their documented types.
        let r = put(
            &app,
            Some(tok),
            acc,
            target,
            json!({"account": {"type": "Reseller"}}),
        )
        .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, Some("account.type"));
        assert_eq!(app.audit_count().await, before);
        assert_eq!(native_user(&app, target).await["first_name"], "Roundtrip");
    })
    .await;
}

#[tokio::test]
async fn unauthenticated_is_401() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let body = json!({"firstName": "Nope"});
        for token in [
            None,
            Some("not-a-key"),
            Some("roster_0000000000000000_nope"),
        ] {
            let r = put(&app, token, &c.a.acc_a1, &c.a.target, body.clone()).await;
            assert_problem(&r, StatusCode::UNAUTHORIZED, None);
            assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer");
        }
        // Another scheme is not a bearer token.
        let req = Request::builder()
            .method(Method::PUT)
            .uri(url(&c.a.acc_a1, &c.a.target))
            .header("authorization", format!("Token {}", c.operator.1))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        assert_problem(&app.raw(req).await, StatusCode::UNAUTHORIZED, None);
        assert_eq!(native_user(&app, &c.a.target).await["first_name"], "Test");
    })
    .await;
}

#[tokio::test]
async fn callers_without_platform_permission_are_403() {
    each_backend(|app| async move {
        let a = app.actors().await;
        let body = json!({"firstName": "Nope"});
        // No operations account in the organization yet: even an
        // organization admin is no platform operator.
        let r = put(
            &app,
            Some(&a.org_admin.1),
            &a.acc_a1,
            &a.target,
            body.clone(),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, None);
        // An account admin of a client account holds
        // `platform:accounts:manage` there, which is not an operations account.
        let r = put(
            &app,
            Some(&a.account_admin.1),
            &a.acc_a1,
            &a.target,
            body.clone(),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, None);
        for (_, tok) in [&a.viewer, &a.nobody] {
            let r = put(&app, Some(tok), &a.acc_a1, &a.target, body.clone()).await;
            assert_problem(&r, StatusCode::FORBIDDEN, None);
        }
        // A disabled operations account confers nothing either.
        let ops = app.account(&a.org_a, "Ops A", "operations").await;
        let r = app
            .patch(
                &format!("/v1/accounts/{ops}"),
                &app.owner,
                json!({"status": "disabled"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = put(
            &app,
            Some(&a.org_admin.1),
            &a.acc_a1,
            &a.target,
            body.clone(),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, None);
        assert_eq!(native_user(&app, &a.target).await["first_name"], "Test");
    })
    .await;
}

#[tokio::test]
async fn self_may_edit_profile_but_not_status_or_groups() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let (acc, target) = (&c.a.acc_a1, &c.a.target);
        let own = app.key(target).await;
        let r = put(
            &app,
            Some(&own),
            acc,
            target,
            json!({"firstName": "Myself", "settings": {"languageCode": "de"}}),
        )
        .await;
        assert_account_user(&r);
        assert_eq!(r.body["firstName"], "Myself");
        let before = app.audit_count().await;
        let r = put(
            &app,
            Some(&own),
            acc,
            target,
            json!({"lastName": "Sneaky", "status": "Disabled"}),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, None);
        let r = put(
            &app,
            Some(&own),
            acc,
            target,
            json!({"groups": [{"id": c.group}]}),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, None);
        assert_eq!(app.audit_count().await, before);
        assert!(native_groups(&app, target).await.is_empty());
        assert_eq!(native_user(&app, target).await["last_name"], "User");
        assert_eq!(membership(&app, acc, target).await["status"], "active");
        // An operator cannot change its own account-user status either.
        app.member(&c.ops_a, &c.operator.0).await;
        let r = put(
            &app,
            Some(&c.operator.1),
            &c.ops_a,
            &c.operator.0,
            json!({"status": "Disabled"}),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, None);
    })
    .await;
}

#[tokio::test]
async fn another_tenant_is_404() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let a = &c.a;
        // Tenant B's admin, a platform operator of B, cannot see A's users.
        app.account(&a.org_b, "Ops B", "operations").await;
        let body = json!({"firstName": "Nope"});
        let r = put(
            &app,
            Some(&a.other_tenant.1),
            &a.acc_a1,
            &a.target,
            body.clone(),
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, None);
        // A's operator cannot reach B's accounts or users.
        let b_user = app.user(&a.org_b, "member@b.example").await;
        app.member(&a.acc_b1, &b_user).await;
        let r = put(&app, Some(&c.operator.1), &a.acc_b1, &b_user, body.clone()).await;
        assert_problem(&r, StatusCode::NOT_FOUND, None);
        let r = put(
            &app,
            Some(&c.operator.1),
            &a.acc_b1,
            &a.target,
            body.clone(),
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, None);
        // Not a member of that account, unknown ids, ids of another shape.
        let r = put(
            &app,
            Some(&c.operator.1),
            &a.acc_a2,
            &a.target,
            body.clone(),
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, None);
        let unknown = "00000000-0000-4000-8000-000000000000";
        let r = put(&app, Some(&c.operator.1), &a.acc_a1, unknown, body.clone()).await;
        assert_problem(&r, StatusCode::NOT_FOUND, None);
        let r = put(
            &app,
            Some(&c.operator.1),
            "ACC-1234-5678",
            "USR-1234-5678",
            body.clone(),
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, None);
        assert_eq!(native_user(&app, &a.target).await["first_name"], "Test");
        assert_eq!(native_user(&app, &b_user).await["first_name"], "Test");
    })
    .await;
}

#[tokio::test]
async fn stale_body_revision_is_409() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let (acc, target, tok) = (&c.a.acc_a1, &c.a.target, &c.operator.1);
        let first = put(&app, Some(tok), acc, target, json!({})).await;
        assert_account_user(&first);
        let rev = first.body["revision"].as_i64().unwrap();
        // Current revision: accepted, and the object moves on.
        let r = put(
            &app,
            Some(tok),
            acc,
            target,
            json!({"revision": rev, "firstName": "One"}),
        )
        .await;
        assert_account_user(&r);
        assert!(r.body["revision"].as_i64().unwrap() > rev);
        // A membership change alone also moves the account user's
        // revision, a change of its groups too, even a removal.
        let r2 = put(
            &app,
            Some(tok),
            acc,
            target,
            json!({"revision": r.body["revision"], "status": "Invited"}),
        )
        .await;
        assert_account_user(&r2);
        assert!(r2.body["revision"].as_i64().unwrap() > r.body["revision"].as_i64().unwrap());
        let admin = &c.a.org_admin.1;
        let r3 = put(
            &app,
            Some(admin),
            acc,
            target,
            json!({"revision": r2.body["revision"], "groups": [{"id": c.group}]}),
        )
        .await;
        assert_account_user(&r3);
        assert!(r3.body["revision"].as_i64().unwrap() > r2.body["revision"].as_i64().unwrap());
        let r2 = put(
            &app,
            Some(admin),
            acc,
            target,
            json!({"revision": r3.body["revision"], "groups": []}),
        )
        .await;
        assert_account_user(&r2);
        assert!(r2.body["revision"].as_i64().unwrap() > r3.body["revision"].as_i64().unwrap());
        // The stale revision of before the removal is refused too.
        let r = put(
            &app,
            Some(admin),
            acc,
            target,
            json!({"revision": r3.body["revision"], "groups": [{"id": c.group}]}),
        )
        .await;
        assert_problem(&r, StatusCode::CONFLICT, None);
        // The old revision is stale: 409, nothing applied.
        let before = app.audit_count().await;
        let r = put(
            &app,
            Some(tok),
            acc,
            target,
            json!({"revision": rev, "firstName": "Two"}),
        )
        .await;
        assert_problem(&r, StatusCode::CONFLICT, None);
        let r = put(
            &app,
            Some(tok),
            acc,
            target,
            json!({"revision": r2.body["revision"].as_i64().unwrap() + 1, "firstName": "Two"}),
        )
        .await;
        assert_problem(&r, StatusCode::CONFLICT, None);
        assert_eq!(app.audit_count().await, before);
        assert_eq!(native_user(&app, target).await["first_name"], "One");
        // Not a revision at all.
        for bad in [json!(-1), json!("7"), json!(1.5), json!(null)] {
            let r = put(&app, Some(tok), acc, target, json!({"revision": bad})).await;
            assert_problem(&r, StatusCode::BAD_REQUEST, Some("revision"));
        }
    })
    .await;
}

#[tokio::test]
async fn an_invalid_last_field_leaves_everything_unapplied() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let (acc, target, tok) = (&c.a.acc_a1, &c.a.target, &c.operator.1);
        let before = app.audit_count().await;
        // The last group is unknown; it is only found inside the write,
        // after the profile half was planned.
        let unknown = "00000000-0000-4000-8000-000000000000";
        let r = put(
            &app,
            Some(&c.a.org_admin.1),
            acc,
            target,
            json!({
                "email": "changed@a.example", "firstName": "Changed",
                "groups": [{"id": c.group}, {"id": unknown}],
            }),
        )
        .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, Some("groups[1].id"));
        // Invalid values found while parsing.
        let cases = [
            (
                json!({"firstName": "Changed", "status": "Sleeping"}),
                "status",
            ),
            (
                json!({"firstName": "Changed", "email": "not-an-email"}),
                "email",
            ),
            (json!({"firstName": "Changed", "lastName": ""}), "lastName"),
            (
                json!({"firstName": "Changed", "phone": {"number": "call me"}}),
                "phone.number",
            ),
            (
                json!({"firstName": "Changed", "settings": {"timeZone": "x".repeat(65)}}),
                "settings.timeZone",
            ),
            (
                json!({"firstName": "Changed", "groups": [{"id": c.group}, {"logo": "l"}]}),
                "groups[1].id",
            ),
            (
                json!({"firstName": "Changed", "groups": [{"id": c.group}, {"id": "billing", "name": "billing"}]}),
                "groups[1].id",
            ),
            (json!({"firstName": "Changed", "email": null}), "email"),
            (json!({"firstName": 5}), "firstName"),
        ];
        for (body, field) in cases {
            let r = put(&app, Some(tok), acc, target, body).await;
            assert_problem(&r, StatusCode::BAD_REQUEST, Some(field));
        }
        // Someone else's email: a conflict, nothing applied.
        let r = put(
            &app,
            Some(tok),
            acc,
            target,
            json!({"firstName": "Changed", "email": "viewer@a.example"}),
        )
        .await;
        assert_problem(&r, StatusCode::CONFLICT, Some("email"));
        assert_eq!(app.audit_count().await, before);
        let u = native_user(&app, target).await;
        assert_eq!(
            (u["email"].as_str(), u["first_name"].as_str()),
            (Some("target@a.example"), Some("Test"))
        );
        assert_eq!(membership(&app, acc, target).await["groups"], json!([]));
        assert!(native_groups(&app, target).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn check_answers_at_once_after_a_write() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let (acc, target) = (&c.a.acc_a1, &c.a.target);
        app.grant(target, "viewer", json!({"type": "account", "id": acc})).await;
        let r = put(&app, Some(&c.operator.1), acc, target, json!({"status": "Disabled", "firstName": "Now"})).await;
        assert_account_user(&r);
        let rev = r.revision().expect("revision");
        // The index has the write's revision at once (no 503 waiting), and
        // the membership status is not part of the decision (SPEC §2.1).
        let chk = app
            .post("/v1/check", &app.owner, json!({"user_id": target, "permission": "users:read", "account_id": acc, "min_revision": rev}))
            .await;
        assert_eq!(chk.status, StatusCode::OK, "{}", chk.body);
        assert_eq!(chk.body["allowed"], true);
        assert!(chk.body["revision"].as_u64().unwrap() >= rev);
        // A self edit through the dialect is visible to the native API at once.
        let own = app.key(target).await;
        let r = put(&app, Some(&own), acc, target, json!({"lastName": "Later"})).await;
        assert_account_user(&r);
        assert_eq!(native_user(&app, target).await["last_name"], "Later");
    })
    .await;
}

#[tokio::test]
async fn bad_input_gets_problem_details() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let path = url(&c.a.acc_a1, &c.a.target);
        let tok = Some(c.operator.1.as_str());
        let json_ct = Some("application/json");
        for (ct, body, status) in [
            (
                json_ct,
                b"{\"firstName\": ".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (json_ct, b"[]".to_vec(), StatusCode::BAD_REQUEST),
            (json_ct, b"".to_vec(), StatusCode::BAD_REQUEST),
            (json_ct, b"\"x\"".to_vec(), StatusCode::BAD_REQUEST),
            (
                Some("text/plain"),
                b"{}".to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (None, b"{}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
            (
                json_ct,
                vec![b' '; 2 * 1024 * 1024],
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
        ] {
            let r = put_raw(&app, tok, &path, ct, body).await;
            assert_problem(&r, status, None);
        }
        // The seed's other media types are JSON too.
        for ct in [
            "text/json",
            "application/merge-patch+json",
            "application/json; charset=utf-8",
        ] {
            let r = put_raw(
                &app,
                tok,
                &path,
                Some(ct),
                b"{\"firstName\":\"Typed\"}".to_vec(),
            )
            .await;
            assert_account_user(&r);
        }
        // Other methods and paths below the base URL answer in this dialect's shape.
        let r = app.call(Method::GET, &path, tok, None).await;
        assert_problem(&r, StatusCode::METHOD_NOT_ALLOWED, None);
        assert_eq!(r.headers.get("allow").unwrap(), "PUT");
        let r = app
            .call(
                Method::PUT,
                "/compat/softwareone/public/v1/accounts/accounts/x",
                tok,
                Some(json!({})),
            )
            .await;
        assert_problem(&r, StatusCode::NOT_FOUND, None);
        // A problem names the request.
        let r = put(&app, tok, &c.a.acc_a1, &c.a.target, json!({"firstName": 1})).await;
        assert_eq!(r.body["instance"], path);
        assert_eq!(
            r.body["traceId"].as_str(),
            r.headers.get("x-request-id").and_then(|v| v.to_str().ok())
        );
    })
    .await;
}

#[tokio::test]
async fn a_platform_operator_cannot_switch_off_the_global_operator() {
    each_backend(|app| async move {
        // The global owner is an account user of its home organization's
        // operations account; a platform operator of that organization
        // manages every account user there, but cannot re-point the email
        // a token maps to of one holding more than it does (SPEC §2.3).
        app.member(&app.ops_account, &app.owner_id).await;
        let op = app.user(&app.org, "platform@home.example").await;
        app.grant(
            &op,
            "admin",
            json!({"type": "account", "id": app.ops_account}),
        )
        .await;
        let key = app.key(&op).await;
        let before = membership(&app, &app.ops_account, &app.owner_id).await;
        for body in [
            json!({"email": "mine@home.example"}),
            json!({"email": "mine@home.example", "status": "Disabled"}),
        ] {
            let r = put(&app, Some(&key), &app.ops_account, &app.owner_id, body).await;
            assert_problem(&r, StatusCode::FORBIDDEN, None);
            assert!(
                r.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("escalation guard"),
                "{}",
                r.body
            );
        }
        assert_eq!(
            membership(&app, &app.ops_account, &app.owner_id).await,
            before
        );
        assert_eq!(
            native_user(&app, &app.owner_id).await["email"],
            "owner@test.example"
        );
        // A plain account user of the organization is still theirs to manage.
        let plain = app.user(&app.org, "plain@home.example").await;
        app.member(&app.ops_account, &plain).await;
        let r = put(
            &app,
            Some(&key),
            &app.ops_account,
            &plain,
            json!({"status": "Disabled", "email": "p2@home.example"}),
        )
        .await;
        assert_account_user(&r);
    })
    .await;
}

/// SPEC §2.9: a key given twice, at the top or nested at any depth, is a
/// `400` naming it (never "the last one wins"), and nothing is applied.
#[tokio::test]
async fn duplicate_keys_are_400_naming_the_key() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let (acc, target, tok) = (&c.a.acc_a1, &c.a.target, &c.operator.1);
        let path = url(acc, target);
        let before = app.audit_count().await;
        let revision = app.state.engine.revision();
        for (body, field, key) in [
            (
                r#"{"firstName":"A","firstName":"B"}"#,
                "firstName",
                "firstName",
            ),
            (
                r#"{"lastName":"L","settings":{"timeZone":"UTC","timeZone":"CET"}}"#,
                "settings.timeZone",
                "timeZone",
            ),
            (
                r#"{"settings":{"numberFormat":{"groupSeparator":".","groupSeparator":","}}}"#,
                "settings.numberFormat.groupSeparator",
                "groupSeparator",
            ),
            (
                r#"{"groups":[{"id":"a"},{"id":"b","name":"b","id":"c"}]}"#,
                "groups[1].id",
                "id",
            ),
            // Read-only members are parsed too, and just as strictly.
            (
                r#"{"firstName":"A","audit":{"created":{"at":null,"at":null}}}"#,
                "audit.created.at",
                "at",
            ),
        ] {
            let r = put_raw(
                &app,
                Some(tok),
                &path,
                Some("application/json"),
                body.as_bytes().to_vec(),
            )
            .await;
            assert_problem(&r, StatusCode::BAD_REQUEST, Some(field));
            let msg = r.body["errors"][field][0].as_str().unwrap_or_default();
            assert!(msg.contains(&format!("`{key}`")), "{body}: {}", r.body);
            assert!(
                r.body["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(field),
                "{body}: {}",
                r.body
            );
        }
        assert_eq!(app.state.engine.revision(), revision);
        assert_eq!(app.audit_count().await, before);
        let u = native_user(&app, target).await;
        assert_eq!(
            (u["first_name"].as_str(), u["last_name"].as_str()),
            (Some("Test"), Some("User"))
        );
        assert!(u["settings"].is_null(), "{u}");
        assert_eq!(membership(&app, acc, target).await["groups"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn a_scoped_token_acts_only_within_its_scopes() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let (acc, target) = (&c.a.acc_a1, &c.a.target);
        let reads = [
            "organizations:read",
            "accounts:read",
            "users:read",
            "roles:read",
            "grants:read",
            "audit:read",
        ];
        let body = json!({"firstName": "Scoped"});
        let k = app.scoped_key(&c.operator.0, &reads).await;
        let r = put(&app, k["key"].as_str(), acc, target, body.clone()).await;
        assert_problem(&r, StatusCode::FORBIDDEN, None);
        assert_ne!(native_user(&app, target).await["first_name"], "Scoped");
        let operating: Vec<&str> = reads
            .iter()
            .copied()
            .chain(["platform:accounts:manage", "users:write"])
            .collect();
        let k = app.scoped_key(&c.operator.0, &operating).await;
        let r = put(&app, k["key"].as_str(), acc, target, body).await;
        assert_account_user(&r);
        assert_eq!(native_user(&app, target).await["first_name"], "Scoped");
    })
    .await;
}

#[tokio::test]
async fn groups_are_the_users_roster_groups() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let (acc, target) = (&c.a.acc_a1, &c.a.target);
        let admin = &c.a.org_admin.1;
        // A second group, holding `viewer` on A2 (which the org admin holds
        // too, so it may hand it out).
        let readers = new_group(&app, &c.a.org_a, "Readers").await;
        let r = app
            .patch(
                &format!("/v1/groups/{readers}"),
                &app.owner,
                json!({"description": "Read A2"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let r = app
            .post(
                &format!("/v1/groups/{readers}/grants"),
                &app.owner,
                json!({"role_id": "viewer", "scope": {"type": "account", "id": c.a.acc_a2}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert!(!app.check(target, "accounts:read", &c.a.acc_a2).await);

        let r = put(
            &app,
            Some(admin),
            acc,
            target,
            json!({"groups": [{"id": readers, "name": "ignored"}, {"id": c.group}, {"id": c.group}]}),
        )
        .await;
        assert_account_user(&r);
        let mut expected = vec![(c.group.clone(), "Billing"), (readers.clone(), "Readers")];
        expected.sort();
        let got: Vec<(String, &str)> = r.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["id"].as_str().unwrap().to_owned(), g["name"].as_str().unwrap()))
            .collect();
        assert_eq!(got, expected, "{}", r.body);
        let described = r.body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == json!(readers))
            .unwrap();
        assert_eq!(described["description"], "Read A2");
        assert!(described["revision"].is_i64(), "{}", r.body);
        // They are Roster groups: the member holds their grants, the native
        // API lists them, and the membership's own labels are untouched.
        assert!(app.check(target, "accounts:read", &c.a.acc_a2).await);
        let mut native = native_groups(&app, target).await;
        native.sort();
        assert_eq!(
            native,
            expected.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>()
        );
        assert_eq!(membership(&app, acc, target).await["groups"], json!([]));
        // The audit trail records each membership, in the same write.
        let rev = r.revision().unwrap();
        let mut actions: Vec<String> = crate::support::native_support::audit_events(&app)
            .await
            .into_iter()
            .filter(|e| e.revision == rev)
            .map(|e| e.action)
            .collect();
        actions.sort();
        assert_eq!(
            actions,
            ["group_member.add", "group_member.add", "membership.update"]
        );

        // Another account of the organization shows the same groups.
        app.member(&c.a.acc_a2, target).await;
        let r = put(&app, Some(admin), &c.a.acc_a2, target, json!({})).await;
        assert_account_user(&r);
        assert_eq!(r.body["groups"].as_array().unwrap().len(), 2, "{}", r.body);

        // A list is the whole truth: the groups not listed are left.
        let r = put(&app, Some(admin), acc, target, json!({"groups": [{"id": c.group}]})).await;
        assert_account_user(&r);
        assert_eq!(r.body["groups"].as_array().unwrap().len(), 1, "{}", r.body);
        assert_eq!(r.body["groups"][0]["id"], json!(c.group));
        assert!(!app.check(target, "accounts:read", &c.a.acc_a2).await);
        // Absent: left alone; the same list again: nothing written.
        let before = app.audit_count().await;
        let r = put(&app, Some(admin), acc, target, json!({"firstName": "Kept"})).await;
        assert_account_user(&r);
        assert_eq!(r.body["groups"].as_array().unwrap().len(), 1, "{}", r.body);
        let after_name = app.audit_count().await;
        assert_eq!(after_name, before + 1);
        let r = put(&app, Some(admin), acc, target, json!({"groups": [{"id": c.group}]})).await;
        assert_account_user(&r);
        assert_eq!(app.audit_count().await, after_name);
        let r = put(&app, Some(admin), acc, target, json!({"groups": []})).await;
        assert_account_user(&r);
        assert_eq!(r.body["groups"], json!([]));
        assert!(native_groups(&app, target).await.is_empty());

        // Unknown groups: 400 naming the entry, whether the id names nothing,
        // another organization's group, or is no Roster id at all.
        let b_group = new_group(&app, &c.a.org_b, "B's").await;
        let before = app.audit_count().await;
        let mut messages = BTreeSet::new();
        for id in [
            "00000000-0000-4000-8000-000000000000",
            b_group.as_str(),
            "GRP-1234-5678",
        ] {
            let r = put(
                &app,
                Some(admin),
                acc,
                target,
                json!({"firstName": "Changed", "groups": [{"id": c.group}, {"id": id}]}),
            )
            .await;
            assert_problem(&r, StatusCode::BAD_REQUEST, Some("groups[1].id"));
            messages.insert(r.body["errors"]["groups[1].id"][0].as_str().unwrap().replace(id, "<id>"));
        }
        assert_eq!(messages.len(), 1, "{messages:?}");
        let many: Vec<Value> = (0..1001).map(|_| json!({"id": c.group})).collect();
        let r = put(&app, Some(admin), acc, target, json!({"groups": many})).await;
        assert_problem(&r, StatusCode::BAD_REQUEST, Some("groups"));
        assert_eq!(app.audit_count().await, before);
        assert_eq!(native_user(&app, target).await["first_name"], "Kept");
    })
    .await;
}

#[tokio::test]
async fn group_changes_follow_the_guards() {
    each_backend(|app| async move {
        let c = setup(&app).await;
        let (acc, target) = (&c.a.acc_a1, &c.a.target);
        let admin = &c.a.org_admin.1;
        // Escalation: a group holding `owner` hands out what an organization
        // admin does not hold.
        let owners = new_group(&app, &c.a.org_a, "Owners").await;
        let r = app
            .post(
                &format!("/v1/groups/{owners}/grants"),
                &app.owner,
                json!({"role_id": "owner", "scope": {"type": "organization", "id": c.a.org_a}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let own = app.key(target).await;
        let before = app.audit_count().await;
        let r = put(
            &app,
            Some(admin),
            acc,
            target,
            json!({"firstName": "No", "groups": [{"id": owners}]}),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, None);
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains("escalation guard"),
            "{}",
            r.body
        );
        // A platform operator without `users:write` on the organization
        // manages account users, not group memberships.
        let r = put(
            &app,
            Some(&c.operator.1),
            acc,
            target,
            json!({"groups": [{"id": c.group}]}),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, None);
        // Self guard: nobody changes their own groups...
        let r = put(
            &app,
            Some(&own),
            acc,
            target,
            json!({"groups": [{"id": c.group}]}),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, None);
        assert_eq!(app.audit_count().await, before);
        assert!(native_groups(&app, target).await.is_empty());
        // ...but sending back the groups one has is no change.
        let r = put(
            &app,
            Some(&own),
            acc,
            target,
            json!({"firstName": "Me", "groups": []}),
        )
        .await;
        assert_account_user(&r);
        // An administrator cannot take itself out of a group either.
        let me = &c.a.org_admin.0;
        app.member(acc, me).await;
        let r = app
            .post(
                &format!("/v1/groups/{}/members", c.group),
                &app.owner,
                json!({"user_id": me}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let r = put(&app, Some(admin), acc, me, json!({"groups": []})).await;
        assert_problem(&r, StatusCode::FORBIDDEN, None);
        assert_eq!(native_groups(&app, me).await, vec![c.group.clone()]);
        let r = put(
            &app,
            Some(admin),
            acc,
            me,
            json!({"firstName": "Same", "groups": [{"id": c.group}]}),
        )
        .await;
        assert_account_user(&r);
        assert_eq!(r.body["groups"][0]["id"], json!(c.group));
    })
    .await;
}

/// The documented example: the demo administrator puts the demo member in
/// the demo `Billing` group.
#[tokio::test]
async fn the_documented_example_sets_a_demo_group() {
    each_backend(|app| async move {
        roster_server::demo::load(&app.state).await.expect("demo");
        let group = roster_server::demo::BILLING_GROUP.to_string();
        let r = put(
            &app,
            Some(roster_server::demo::ADMIN_TOKEN),
            &roster_server::demo::CLIENT_ACCOUNT.to_string(),
            &roster_server::demo::MEMBER.to_string(),
            json!({"firstName": "Mia", "phone": {"prefix": "+34", "number": "600 000 000"},
                   "settings": {"timeZone": "Europe/Madrid"}, "groups": [{"id": group}]}),
        )
        .await;
        assert_account_user(&r);
        assert_eq!(r.body["groups"][0]["id"], json!(group));
        assert_eq!(r.body["groups"][0]["name"], "Billing");
    })
    .await;
}
