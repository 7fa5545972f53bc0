//! The native API as a matrix: every route × every actor → the status the
//! rules say (STYLE.md habit 8). Anonymous callers get 401; a user without
//! grants sees nothing and changes nothing; a viewer reads but cannot write;
//! an account admin acts only within its account, an organization admin
//! within its organization; another tenant gets 404 for A's objects (never
//! 403); the global owner may do everything. Every refused request leaves
//! the database as it was (revision, audit trail, the object itself); every
//! accepted write advances the revision by one and leaves an audit event.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::support::common;
use crate::support::native_support;

use axum::http::Method;
use common::{each_backend, Actors, TestApp};
use native_support::{audit_events, fingerprint, send};
use serde_json::{json, Value};

/// The columns of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Nobody,
    Viewer,
    AccountAdmin,
    OrgAdmin,
    OtherTenant,
    Owner,
}

const WHO: [Who; 7] = [
    Who::Anonymous,
    Who::Nobody,
    Who::Viewer,
    Who::AccountAdmin,
    Who::OrgAdmin,
    Who::OtherTenant,
    Who::Owner,
];

/// The rows: one per route (and per interesting target of a route).
#[derive(Clone, Copy, Debug)]
enum Case {
    OrgCreate,
    OrgList,
    OrgGet,
    OrgPatch,
    OrgDeleteNonEmpty,
    OrgDeleteEmpty,
    AccountCreate,
    AccountList,
    AccountGetOwn,
    AccountGetOther,
    AccountPatchOwn,
    AccountPatchOther,
    AccountDelete,
    UserCreate,
    UserList,
    UserGetMember,
    UserGetNonMember,
    UserPatch,
    UserDelete,
    MemberAddOwn,
    MemberAddOther,
    MemberList,
    MemberRemove,
    PermissionList,
    PermissionCreate,
    RoleList,
    RoleGetBuiltin,
    RoleGetCustom,
    RoleCreate,
    RolePatch,
    RoleDelete,
    GrantList,
    GrantCreateAccount,
    GrantCreateOrg,
    GrantDelete,
    Check,
    CheckSelf,
    CheckBatch,
    LookupAccounts,
    LookupUsers,
    EffectivePermissions,
    ApiKeyCreateOther,
    ApiKeyCreateSelf,
    ApiKeyList,
    ApiKeyRevoke,
    AuditList,
    AuditListOrg,
    GroupCreate,
    GroupList,
    GroupGet,
    GroupPatch,
    GroupDelete,
    GroupMemberAdd,
    GroupMemberList,
    GroupMemberPatch,
    GroupMemberRemove,
    GroupGrantList,
    GroupGrantCreate,
    GroupGrantDelete,
    UserGroups,
}

/// Expected status per column: anonymous, nobody, viewer, account admin,
/// organization admin, other tenant, owner.
fn matrix() -> Vec<(Case, [u16; 7])> {
    use Case::*;
    vec![
        (OrgCreate, [401, 403, 403, 403, 403, 403, 201]),
        (OrgList, [401, 200, 200, 200, 200, 200, 200]),
        (OrgGet, [401, 403, 200, 403, 200, 404, 200]),
        (OrgPatch, [401, 403, 403, 403, 403, 404, 200]),
        (OrgDeleteNonEmpty, [401, 403, 403, 403, 403, 404, 409]),
        (OrgDeleteEmpty, [401, 404, 404, 404, 404, 404, 204]),
        (AccountCreate, [401, 403, 403, 403, 201, 404, 201]),
        (AccountList, [401, 200, 200, 200, 200, 404, 200]),
        (AccountGetOwn, [401, 403, 200, 200, 200, 404, 200]),
        (AccountGetOther, [401, 403, 200, 403, 200, 404, 200]),
        (AccountPatchOwn, [401, 403, 403, 200, 200, 404, 200]),
        (AccountPatchOther, [401, 403, 403, 403, 200, 404, 200]),
        (AccountDelete, [401, 403, 403, 403, 204, 404, 204]),
        (UserCreate, [401, 403, 403, 403, 201, 404, 201]),
        (UserList, [401, 200, 200, 200, 200, 200, 200]),
        (UserGetMember, [401, 403, 200, 200, 200, 404, 200]),
        (UserGetNonMember, [401, 403, 200, 403, 200, 404, 200]),
        (UserPatch, [401, 403, 403, 403, 200, 404, 200]),
        (UserDelete, [401, 403, 403, 403, 204, 404, 204]),
        (MemberAddOwn, [401, 403, 403, 201, 201, 404, 201]),
        (MemberAddOther, [401, 403, 403, 403, 201, 404, 201]),
        (MemberList, [401, 403, 200, 200, 200, 404, 200]),
        (MemberRemove, [401, 403, 403, 204, 204, 404, 204]),
        (PermissionList, [401, 200, 200, 200, 200, 200, 200]),
        (PermissionCreate, [401, 403, 403, 403, 201, 404, 201]),
        (RoleList, [401, 403, 200, 403, 200, 404, 200]),
        (RoleGetBuiltin, [401, 403, 200, 403, 200, 404, 200]),
        (RoleGetCustom, [401, 403, 200, 403, 200, 404, 200]),
        (RoleCreate, [401, 403, 403, 403, 201, 404, 201]),
        (RolePatch, [401, 403, 403, 403, 200, 404, 200]),
        (RoleDelete, [401, 403, 403, 403, 204, 404, 204]),
        (GrantList, [401, 403, 200, 200, 200, 404, 200]),
        (GrantCreateAccount, [401, 403, 403, 201, 201, 404, 201]),
        (GrantCreateOrg, [401, 403, 403, 403, 201, 404, 201]),
        (GrantDelete, [401, 403, 403, 204, 204, 404, 204]),
        (Check, [401, 403, 403, 200, 200, 404, 200]),
        (CheckSelf, [401, 200, 200, 200, 200, 404, 200]),
        (CheckBatch, [401, 403, 403, 200, 200, 404, 200]),
        (LookupAccounts, [401, 200, 200, 200, 200, 404, 200]),
        (LookupUsers, [401, 403, 403, 200, 200, 404, 200]),
        (EffectivePermissions, [401, 403, 403, 200, 200, 404, 200]),
        (ApiKeyCreateOther, [401, 403, 403, 403, 201, 404, 201]),
        (ApiKeyCreateSelf, [401, 201, 201, 201, 201, 201, 201]),
        (ApiKeyList, [401, 200, 200, 200, 200, 200, 200]),
        (ApiKeyRevoke, [401, 403, 403, 403, 204, 404, 204]),
        (AuditList, [401, 403, 200, 403, 200, 200, 200]),
        (AuditListOrg, [401, 403, 200, 403, 200, 404, 200]),
        (GroupCreate, [401, 403, 403, 403, 201, 404, 201]),
        (GroupList, [401, 403, 200, 403, 200, 404, 200]),
        (GroupGet, [401, 403, 200, 403, 200, 404, 200]),
        (GroupPatch, [401, 403, 403, 403, 200, 404, 200]),
        (GroupDelete, [401, 403, 403, 403, 204, 404, 204]),
        (GroupMemberAdd, [401, 403, 403, 403, 201, 404, 201]),
        (GroupMemberList, [401, 403, 200, 403, 200, 404, 200]),
        (GroupMemberPatch, [401, 403, 403, 403, 200, 404, 200]),
        (GroupMemberRemove, [401, 403, 403, 403, 204, 404, 204]),
        (GroupGrantList, [401, 403, 200, 200, 200, 404, 200]),
        (GroupGrantCreate, [401, 403, 403, 201, 201, 404, 201]),
        (GroupGrantDelete, [401, 403, 403, 204, 204, 404, 204]),
        (UserGroups, [401, 403, 200, 403, 200, 404, 200]),
    ]
}

/// The cast plus a few objects of tenant A the rows aim at.
struct Fx {
    a: Actors,
    /// The target's `viewer` grant at account A1.
    target_grant: String,
    /// A group of A with the target as member and `viewer` at account A1.
    group: String,
}

/// A group of `org` made by the owner, optionally with `viewer` at `acc`;
/// returns its id and the grant's.
async fn new_group(app: &TestApp, org: &str, name: &str, acc: Option<&str>) -> (String, String) {
    let r = app
        .post(
            &format!("/v1/organizations/{org}/groups"),
            &app.owner,
            json!({"name": name}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let g = r.str("id");
    let mut grant = String::new();
    if let Some(acc) = acc {
        let r = app
            .post(
                &format!("/v1/groups/{g}/grants"),
                &app.owner,
                json!({"role_id": "viewer", "scope": {"type": "account", "id": acc}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        grant = r.str("id");
    }
    (g, grant)
}

/// Adds `user` to `group` as the owner.
async fn join(app: &TestApp, group: &str, user: &str) {
    let r = app
        .post(
            &format!("/v1/groups/{group}/members"),
            &app.owner,
            json!({"user_id": user}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn fixture(app: &TestApp) -> Fx {
    let a = app.actors().await;
    let g = app
        .grant(
            &a.target,
            "viewer",
            json!({"type": "account", "id": a.acc_a1}),
        )
        .await;
    let r = app
        .post(
            &format!("/v1/organizations/{}/permissions", a.org_a),
            &app.owner,
            json!({"code": "invoices:approve"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .post(
            &format!("/v1/organizations/{}/roles", a.org_a),
            &app.owner,
            json!({"id": "clerk", "name": "Clerk", "permissions": ["users:read", "invoices:approve"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (group, _) = new_group(app, &a.org_a, "Team", Some(&a.acc_a1)).await;
    join(app, &group, &a.target).await;
    Fx {
        target_grant: g["id"].as_str().expect("grant id").to_owned(),
        a,
        group,
    }
}

fn token<'a>(app: &'a TestApp, fx: &'a Fx, who: Who) -> Option<&'a str> {
    let a = &fx.a;
    match who {
        Who::Anonymous => None,
        Who::Nobody => Some(&a.nobody.1),
        Who::Viewer => Some(&a.viewer.1),
        Who::AccountAdmin => Some(&a.account_admin.1),
        Who::OrgAdmin => Some(&a.org_admin.1),
        Who::OtherTenant => Some(&a.other_tenant.1),
        Who::Owner => Some(&app.owner),
    }
}

fn user_id<'a>(app: &'a TestApp, fx: &'a Fx, who: Who) -> &'a str {
    let a = &fx.a;
    match who {
        Who::Anonymous | Who::Nobody => &a.nobody.0,
        Who::Viewer => &a.viewer.0,
        Who::AccountAdmin => &a.account_admin.0,
        Who::OrgAdmin => &a.org_admin.0,
        Who::OtherTenant => &a.other_tenant.0,
        Who::Owner => &app.owner_id,
    }
}

/// One prepared request: what to send and which object to watch.
struct Req {
    method: Method,
    path: String,
    body: Option<Value>,
    watch: Option<String>,
}

impl Case {
    fn is_write(self) -> bool {
        use Case::*;
        !matches!(
            self,
            OrgList
                | OrgGet
                | AccountList
                | AccountGetOwn
                | AccountGetOther
                | UserList
                | UserGetMember
                | UserGetNonMember
                | MemberList
                | PermissionList
                | RoleList
                | RoleGetBuiltin
                | RoleGetCustom
                | GrantList
                | Check
                | CheckSelf
                | CheckBatch
                | LookupAccounts
                | LookupUsers
                | EffectivePermissions
                | ApiKeyList
                | AuditList
                | AuditListOrg
                | GroupList
                | GroupGet
                | GroupMemberList
                | GroupGrantList
                | UserGroups
        )
    }
}

fn req(method: Method, path: String, body: Option<Value>, watch: Option<String>) -> Req {
    Req {
        method,
        path,
        body,
        watch,
    }
}

/// Builds the request of `case` for `who`; objects a successful request
/// would consume are made fresh (by the owner) for every attempt.
async fn prepare(app: &TestApp, fx: &Fx, case: Case, who: Who, n: usize) -> Req {
    use Case::*;
    let a = &fx.a;
    let (org, a1, a2) = (&a.org_a, &a.acc_a1, &a.acc_a2);
    let me = user_id(app, fx, who);
    match case {
        OrgCreate => req(
            Method::POST,
            "/v1/organizations".into(),
            Some(json!({"name": format!("New {n}")})),
            None,
        ),
        OrgList => req(Method::GET, "/v1/organizations".into(), None, None),
        OrgGet => req(Method::GET, format!("/v1/organizations/{org}"), None, None),
        OrgPatch => {
            let p = format!("/v1/organizations/{org}");
            req(
                Method::PATCH,
                p.clone(),
                Some(json!({"name": format!("Tenant A {n}")})),
                Some(p),
            )
        }
        OrgDeleteNonEmpty => {
            let p = format!("/v1/organizations/{org}");
            req(Method::DELETE, p.clone(), None, Some(p))
        }
        OrgDeleteEmpty => {
            let e = app.org(&format!("Empty {n}")).await;
            let p = format!("/v1/organizations/{e}");
            req(Method::DELETE, p.clone(), None, Some(p))
        }
        AccountCreate => req(
            Method::POST,
            format!("/v1/organizations/{org}/accounts"),
            Some(json!({"name": format!("New {n}"), "type": "client"})),
            Some(format!("/v1/organizations/{org}/accounts?limit=1000")),
        ),
        AccountList => req(
            Method::GET,
            format!("/v1/organizations/{org}/accounts"),
            None,
            None,
        ),
        AccountGetOwn => req(Method::GET, format!("/v1/accounts/{a1}"), None, None),
        AccountGetOther => req(Method::GET, format!("/v1/accounts/{a2}"), None, None),
        AccountPatchOwn | AccountPatchOther => {
            let acc = if matches!(case, AccountPatchOwn) {
                a1
            } else {
                a2
            };
            let p = format!("/v1/accounts/{acc}");
            req(
                Method::PATCH,
                p.clone(),
                Some(json!({"name": format!("Renamed {n}")})),
                Some(p),
            )
        }
        AccountDelete => {
            let x = app.account(org, &format!("Doomed {n}"), "client").await;
            let p = format!("/v1/accounts/{x}");
            req(Method::DELETE, p.clone(), None, Some(p))
        }
        UserCreate => req(
            Method::POST,
            "/v1/users".into(),
            Some(json!({"organization_id": org, "email": format!("new{n}@a.example")})),
            Some(format!("/v1/users?organization_id={org}&limit=1000")),
        ),
        UserList => req(Method::GET, "/v1/users".into(), None, None),
        UserGetMember => req(Method::GET, format!("/v1/users/{}", a.target), None, None),
        UserGetNonMember => req(
            Method::GET,
            format!("/v1/users/{}", a.org_admin.0),
            None,
            None,
        ),
        UserPatch => {
            let p = format!("/v1/users/{}", a.target);
            req(
                Method::PATCH,
                p.clone(),
                Some(json!({"first_name": format!("Name{n}")})),
                Some(p),
            )
        }
        UserDelete => {
            let x = app.user(org, &format!("doomed{n}@a.example")).await;
            let p = format!("/v1/users/{x}");
            req(Method::DELETE, p.clone(), None, Some(p))
        }
        MemberAddOwn | MemberAddOther => {
            let acc = if matches!(case, MemberAddOwn) { a1 } else { a2 };
            let x = app.user(org, &format!("joiner{n}@a.example")).await;
            req(
                Method::POST,
                format!("/v1/accounts/{acc}/members"),
                Some(json!({"user_id": x})),
                Some(format!("/v1/accounts/{acc}/members?limit=1000")),
            )
        }
        MemberList => req(
            Method::GET,
            format!("/v1/accounts/{a1}/members"),
            None,
            None,
        ),
        MemberRemove => {
            let x = app.user(org, &format!("leaver{n}@a.example")).await;
            app.member(a1, &x).await;
            req(
                Method::DELETE,
                format!("/v1/accounts/{a1}/members/{x}"),
                None,
                Some(format!("/v1/accounts/{a1}/members?limit=1000")),
            )
        }
        PermissionList => req(Method::GET, "/v1/permissions".into(), None, None),
        PermissionCreate => req(
            Method::POST,
            format!("/v1/organizations/{org}/permissions"),
            Some(json!({"code": format!("reports:run{n}")})),
            Some("/v1/permissions".into()),
        ),
        RoleList => req(
            Method::GET,
            format!("/v1/organizations/{org}/roles"),
            None,
            None,
        ),
        RoleGetBuiltin => req(
            Method::GET,
            format!("/v1/organizations/{org}/roles/viewer"),
            None,
            None,
        ),
        RoleGetCustom => req(
            Method::GET,
            format!("/v1/organizations/{org}/roles/clerk"),
            None,
            None,
        ),
        RoleCreate => req(
            Method::POST,
            format!("/v1/organizations/{org}/roles"),
            Some(json!({"id": format!("role-{n}"), "name": "R", "permissions": ["users:read"]})),
            Some(format!("/v1/organizations/{org}/roles")),
        ),
        RolePatch => {
            let p = format!("/v1/organizations/{org}/roles/clerk");
            req(
                Method::PATCH,
                p.clone(),
                Some(json!({"name": format!("Clerk {n}")})),
                Some(p),
            )
        }
        RoleDelete => {
            let r = app
                .post(
                    &format!("/v1/organizations/{org}/roles"),
                    &app.owner,
                    json!({"id": format!("doomed-{n}"), "name": "D", "permissions": ["users:read"]}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            let p = format!("/v1/organizations/{org}/roles/doomed-{n}");
            req(Method::DELETE, p.clone(), None, Some(p))
        }
        GrantList => req(
            Method::GET,
            format!("/v1/users/{}/grants", a.target),
            None,
            None,
        ),
        GrantCreateAccount | GrantCreateOrg => {
            let x = app.user(org, &format!("grantee{n}@a.example")).await;
            let scope = if matches!(case, GrantCreateAccount) {
                json!({"type": "account", "id": a1})
            } else {
                json!({"type": "organization", "id": org})
            };
            req(
                Method::POST,
                format!("/v1/users/{x}/grants"),
                Some(json!({"role_id": "viewer", "scope": scope})),
                Some(format!("/v1/users/{x}/grants")),
            )
        }
        GrantDelete => {
            let x = app.user(org, &format!("revokee{n}@a.example")).await;
            let g = app
                .grant(&x, "viewer", json!({"type": "account", "id": a1}))
                .await;
            let gid = g["id"].as_str().expect("grant id");
            req(
                Method::DELETE,
                format!("/v1/users/{x}/grants/{gid}"),
                None,
                Some(format!("/v1/users/{x}/grants")),
            )
        }
        Check => req(
            Method::POST,
            "/v1/check".into(),
            Some(json!({"user_id": a.target, "permission": "users:read", "account_id": a1})),
            None,
        ),
        CheckSelf => req(
            Method::POST,
            "/v1/check".into(),
            Some(json!({"user_id": me, "permission": "users:read", "account_id": a1})),
            None,
        ),
        CheckBatch => req(
            Method::POST,
            "/v1/check/batch".into(),
            Some(json!({"checks": [
                {"user_id": a.target, "permission": "users:read", "account_id": a1},
                {"user_id": a.target, "permission": "users:write", "account_id": a1},
            ]})),
            None,
        ),
        LookupAccounts => req(
            Method::POST,
            "/v1/lookup/accounts".into(),
            Some(json!({"user_id": a.target, "permission": "users:read"})),
            None,
        ),
        LookupUsers => req(
            Method::POST,
            "/v1/lookup/users".into(),
            Some(json!({"permission": "users:read", "account_id": a1})),
            None,
        ),
        EffectivePermissions => req(
            Method::GET,
            format!(
                "/v1/users/{}/effective-permissions?account_id={a1}",
                a.target
            ),
            None,
            None,
        ),
        ApiKeyCreateOther => req(
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({"user_id": a.target, "name": format!("k{n}")})),
            Some("/v1/api-keys".into()),
        ),
        ApiKeyCreateSelf => req(
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({"user_id": me, "name": format!("k{n}")})),
            Some("/v1/api-keys".into()),
        ),
        ApiKeyList => req(Method::GET, "/v1/api-keys".into(), None, None),
        ApiKeyRevoke => {
            let r = app
                .post(
                    "/v1/api-keys",
                    &app.owner,
                    json!({"user_id": a.target, "name": format!("doomed{n}")}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            req(
                Method::DELETE,
                format!("/v1/api-keys/{}", r.str("id")),
                None,
                Some("/v1/api-keys".into()),
            )
        }
        AuditList => req(Method::GET, "/v1/audit-events".into(), None, None),
        AuditListOrg => req(
            Method::GET,
            format!("/v1/audit-events?organization_id={org}"),
            None,
            None,
        ),
        GroupCreate => req(
            Method::POST,
            format!("/v1/organizations/{org}/groups"),
            Some(json!({"name": format!("Group {n}")})),
            Some(format!("/v1/organizations/{org}/groups?limit=1000")),
        ),
        GroupList => req(
            Method::GET,
            format!("/v1/organizations/{org}/groups"),
            None,
            None,
        ),
        GroupGet => req(Method::GET, format!("/v1/groups/{}", fx.group), None, None),
        GroupPatch => {
            let p = format!("/v1/groups/{}", fx.group);
            req(
                Method::PATCH,
                p.clone(),
                Some(json!({"name": format!("Team {n}")})),
                Some(p),
            )
        }
        GroupDelete => {
            let (g, _) = new_group(app, org, &format!("Doomed {n}"), None).await;
            let p = format!("/v1/groups/{g}");
            req(Method::DELETE, p.clone(), None, Some(p))
        }
        GroupMemberAdd => {
            let x = app.user(org, &format!("grouped{n}@a.example")).await;
            let g = &fx.group;
            req(
                Method::POST,
                format!("/v1/groups/{g}/members"),
                Some(json!({"user_id": x})),
                Some(format!("/v1/groups/{g}/members?limit=1000")),
            )
        }
        GroupMemberList => req(
            Method::GET,
            format!("/v1/groups/{}/members", fx.group),
            None,
            None,
        ),
        GroupMemberPatch | GroupMemberRemove => {
            let x = app.user(org, &format!("member{n}@a.example")).await;
            let g = &fx.group;
            join(app, g, &x).await;
            let (method, body) = if matches!(case, GroupMemberPatch) {
                (
                    Method::PATCH,
                    Some(json!({"expires_at": "2999-01-01T00:00:00Z"})),
                )
            } else {
                (Method::DELETE, None)
            };
            req(
                method,
                format!("/v1/groups/{g}/members/{x}"),
                body,
                Some(format!("/v1/groups/{g}/members?limit=1000")),
            )
        }
        GroupGrantList => req(
            Method::GET,
            format!("/v1/groups/{}/grants", fx.group),
            None,
            None,
        ),
        GroupGrantCreate => {
            let (g, _) = new_group(app, org, &format!("Granted {n}"), None).await;
            req(
                Method::POST,
                format!("/v1/groups/{g}/grants"),
                Some(json!({"role_id": "viewer", "scope": {"type": "account", "id": a1}})),
                Some(format!("/v1/groups/{g}/grants")),
            )
        }
        GroupGrantDelete => {
            let (g, grant) = new_group(app, org, &format!("Revoked {n}"), Some(a1)).await;
            req(
                Method::DELETE,
                format!("/v1/groups/{g}/grants/{grant}"),
                None,
                Some(format!("/v1/groups/{g}/grants")),
            )
        }
        UserGroups => req(
            Method::GET,
            format!("/v1/users/{}/groups", a.target),
            None,
            None,
        ),
    }
}

#[tokio::test]
async fn every_route_for_every_actor() {
    each_backend(|app| async move {
        let fx = fixture(&app).await;
        let mut failures = Vec::new();
        let mut n = 0;
        for (case, expected) in matrix() {
            for (who, want) in WHO.iter().zip(expected) {
                n += 1;
                let r = prepare(&app, &fx, case, *who, n).await;
                let before = fingerprint(&app, r.watch.as_deref()).await;
                let resp = send(&app.router, r.method.clone(), &r.path, token(&app, &fx, *who), r.body.as_ref(), &[]).await;
                let got = resp.status.as_u16();
                if got != want {
                    failures.push(format!("{case:?} as {who:?}: expected {want}, got {got}: {}", resp.body));
                    continue;
                }
                let after = fingerprint(&app, r.watch.as_deref()).await;
                if !resp.status.is_success() || !case.is_write() {
                    if before != after {
                        failures.push(format!("{case:?} as {who:?} ({got}) changed the database: {before:?} -> {after:?}"));
                    }
                    if !resp.status.is_success() {
                        let ct = resp.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
                        if ct != "application/problem+json" {
                            failures.push(format!("{case:?} as {who:?}: error content type `{ct}`"));
                        }
                    }
                } else {
                    if after.revision != before.revision + 1 {
                        failures.push(format!("{case:?} as {who:?}: revision {} -> {}", before.revision, after.revision));
                    }
                    if after.audit_events <= before.audit_events {
                        failures.push(format!("{case:?} as {who:?}: no audit event for a write"));
                    }
                    if resp.revision() != Some(after.revision) {
                        failures.push(format!("{case:?} as {who:?}: Roster-Revision {:?}, committed {}", resp.revision(), after.revision));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "[{}] {} mismatches:\n{}", app.backend(), failures.len(), failures.join("\n"));
    })
    .await;
}

fn ids(r: &common::Resp, key: &str) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", r.body))
        .iter()
        .map(|i| {
            if key.is_empty() {
                i.as_str().unwrap_or_default().to_owned()
            } else {
                i[key].as_str().unwrap_or_default().to_owned()
            }
        })
        .collect()
}

/// The 200s of the matrix show each actor only what it may read.
#[tokio::test]
async fn lists_show_only_what_the_actor_may_read() {
    each_backend(|app| async move {
        let fx = fixture(&app).await;
        let a = &fx.a;
        let get = |path: String, who: Who| {
            let app = &app;
            let fx = &fx;
            async move {
                let r = send(
                    &app.router,
                    Method::GET,
                    &path,
                    token(app, fx, who),
                    None,
                    &[],
                )
                .await;
                assert_eq!(r.status, 200, "GET {path} as {who:?}: {}", r.body);
                r
            }
        };

        // Organizations.
        assert!(ids(&get("/v1/organizations".into(), Who::Nobody).await, "id").is_empty());
        assert!(ids(
            &get("/v1/organizations".into(), Who::AccountAdmin).await,
            "id"
        )
        .is_empty());
        assert_eq!(
            ids(&get("/v1/organizations".into(), Who::Viewer).await, "id"),
            vec![a.org_a.clone()]
        );
        assert_eq!(
            ids(
                &get("/v1/organizations".into(), Who::OtherTenant).await,
                "id"
            ),
            vec![a.org_b.clone()]
        );
        let all = ids(&get("/v1/organizations".into(), Who::Owner).await, "id");
        assert!(all.contains(&a.org_a) && all.contains(&a.org_b) && all.contains(&app.org));

        // Accounts of A.
        let accounts = |who| get(format!("/v1/organizations/{}/accounts", a.org_a), who);
        assert!(ids(&accounts(Who::Nobody).await, "id").is_empty());
        assert_eq!(
            ids(&accounts(Who::AccountAdmin).await, "id"),
            vec![a.acc_a1.clone()]
        );
        let mut both = vec![a.acc_a1.clone(), a.acc_a2.clone()];
        both.sort();
        assert_eq!(ids(&accounts(Who::Viewer).await, "id"), both);

        // Users.
        assert_eq!(
            ids(&get("/v1/users".into(), Who::Nobody).await, "id"),
            vec![a.nobody.0.clone()]
        );
        let mut mine = vec![a.account_admin.0.clone(), a.target.clone()];
        mine.sort();
        assert_eq!(
            ids(&get("/v1/users".into(), Who::AccountAdmin).await, "id"),
            mine
        );
        let b_users = ids(&get("/v1/users".into(), Who::OtherTenant).await, "id");
        assert_eq!(b_users, vec![a.other_tenant.0.clone()]);
        let a_users = ids(&get("/v1/users".into(), Who::Viewer).await, "id");
        assert!(
            a_users.contains(&a.target)
                && !a_users.contains(&a.other_tenant.0)
                && !a_users.contains(&app.owner_id)
        );
        let r = send(
            &app.router,
            Method::GET,
            &format!("/v1/users?organization_id={}", a.org_a),
            token(&app, &fx, Who::OtherTenant),
            None,
            &[],
        )
        .await;
        assert_eq!(r.status, 404, "{}", r.body);

        // The permission catalogue: A's custom permission is A's.
        let codes = |r: common::Resp| ids(&r, "code");
        assert!(codes(get("/v1/permissions".into(), Who::Viewer).await)
            .contains(&"invoices:approve".to_owned()));
        assert!(
            !codes(get("/v1/permissions".into(), Who::OtherTenant).await)
                .contains(&"invoices:approve".to_owned())
        );

        // Grants: the account admin sees the target's grant at its account.
        let g = ids(
            &get(format!("/v1/users/{}/grants", a.target), Who::AccountAdmin).await,
            "id",
        );
        assert_eq!(g, vec![fx.target_grant.clone()]);

        // API keys: only one's own, unless `api_keys:write`.
        let keys = get("/v1/api-keys".into(), Who::Nobody).await;
        let owners: Vec<_> = keys.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|k| k["user_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(
            !owners.is_empty() && owners.iter().all(|o| *o == a.nobody.0),
            "{owners:?}"
        );
        assert!(
            keys.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .all(|k| k.get("key").is_none()),
            "secrets listed"
        );
        let keys = get("/v1/api-keys".into(), Who::OtherTenant).await;
        assert!(keys.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|k| k["user_id"] == json!(a.other_tenant.0)));

        // Lookups: nobody may not check others, so sees no account.
        let r = send(
            &app.router,
            Method::POST,
            "/v1/lookup/accounts",
            token(&app, &fx, Who::Nobody),
            Some(&json!({"user_id": a.target, "permission": "users:read"})),
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(ids(&r, "").is_empty(), "{}", r.body);
        let r = send(
            &app.router,
            Method::POST,
            "/v1/lookup/accounts",
            token(&app, &fx, Who::OrgAdmin),
            Some(&json!({"user_id": a.target, "permission": "users:read"})),
            &[],
        )
        .await;
        assert_eq!(ids(&r, ""), vec![a.acc_a1.clone()], "{}", r.body);

        // Audit: a tenant reads its own organization's trail only.
        let events = audit_events(&app).await;
        let r = get("/v1/audit-events?limit=1000".into(), Who::OtherTenant).await;
        let items = r.body["items"].as_array().expect("items");
        assert!(!items.is_empty());
        assert!(
            items.iter().all(|e| e["organization_id"] == json!(a.org_b)),
            "{}",
            r.body
        );
        assert!(events.len() > items.len());
    })
    .await;
}
