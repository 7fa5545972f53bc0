//! The decision index answers exactly what a naive evaluation over the
//! stored grants answers, at every revision, for random data and random
//! sequences of writes made through the domain operations on drafts (plus a
//! few raw changes the operations would refuse, to stress the index).
//! Groups (grants held through memberships) and expiry (of grants and of
//! memberships, checked at several instants around the expiries, to the
//! microsecond) are part of both. Lookups agree with checks, a snapshot
//! published to the engine agrees with the model, and a model rebuilt from
//! its entities (as the store loads it) agrees with the one kept current
//! change by change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use roster_authz::{
    check, effective_permissions, lookup_accounts, lookup_users, Decision, DenyReason, Engine, On,
};
use roster_domain::catalogue::builtin_permission_id;
use roster_domain::ops::{
    self, GrantSubject, NewAccount, NewOrganization, NewPermission, NewRole, NewUser, Precondition,
};
use roster_domain::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use time::OffsetDateTime;

const ORGS: usize = 3;
const ACCOUNTS_PER_ORG: usize = 2;
const USERS: usize = 8;
const CUSTOM_PERMS_PER_ORG: usize = 2;
const GROUPS_PER_ORG: usize = 2;

/// The instants every revision is checked at: writes happen at the epoch,
/// expiries at whole seconds after it (see [`expiry`]).
fn instants() -> [Moment; 5] {
    let at =
        |micros: i64| Moment::of(OffsetDateTime::UNIX_EPOCH + time::Duration::microseconds(micros));
    [
        at(0),
        at(999_999),
        at(1_000_000),
        at(2_500_000),
        at(60_000_000),
    ]
}

/// An expiry named by index: none, or 1..=4 s after the epoch.
fn expiry(e: Option<u8>) -> Option<OffsetDateTime> {
    e.map(|k| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(i64::from(k % 4) + 1))
}

/// Built-in codes checked (they tell the built-in roles apart).
const CODES: &[&str] = &[
    "organizations:write",
    "grants:write",
    "users:read",
    "authz:check",
    "edit_org_users",
];
const BUILTIN_ROLES: &[&str] = &["owner", "admin", "member", "viewer", "support"];

/// The fixed cast every case starts from.
struct World {
    orgs: Vec<OrganizationId>,
    accounts: Vec<AccountId>,
    users: Vec<UserId>,
    /// Custom permissions, `CUSTOM_PERMS_PER_ORG` per organization.
    custom_perms: Vec<PermissionId>,
    /// One custom role per organization (`ops`), initially with the
    /// organization's first custom permission and `users:read`.
    custom_roles: Vec<RoleKey>,
    /// `GROUPS_PER_ORG` per organization.
    groups: Vec<GroupId>,
}

impl World {
    fn permissions(&self) -> Vec<PermissionId> {
        CODES
            .iter()
            .map(|c| builtin_permission_id(c))
            .chain(self.custom_perms.iter().copied())
            .collect()
    }
    fn targets(&self) -> Vec<On> {
        let mut t: Vec<On> = self.orgs.iter().map(|o| On::Organization(*o)).collect();
        t.extend(self.accounts.iter().map(|a| On::Account(*a)));
        t.push(On::Account(AccountId::new())); // unknown
        t
    }
}

fn ctx() -> Context {
    Context::system(OffsetDateTime::UNIX_EPOCH)
}

/// Runs one write on a fresh draft; returns the next model (unchanged when
/// the write was refused).
fn write(m: &Model, f: impl FnOnce(&mut Draft<'_>) -> Result<(), DomainError>) -> Model {
    let c = ctx();
    let mut d = Draft::new(m, &c);
    match f(&mut d).and_then(|()| d.finish()) {
        Ok(o) => o.model,
        Err(_) => m.clone(),
    }
}

fn name(s: &str) -> DisplayName {
    DisplayName::parse(s).unwrap()
}

fn setup() -> (Model, World) {
    let mut m = Model::new();
    let mut w = World {
        orgs: vec![],
        accounts: vec![],
        users: vec![],
        custom_perms: vec![],
        custom_roles: vec![],
        groups: vec![],
    };
    for i in 0..ORGS {
        let id = OrganizationId::new();
        m = write(&m, |d| {
            ops::create_organization(
                d,
                NewOrganization {
                    id: Some(id),
                    name: name(&format!("Org {i}")),
                    slug: None,
                },
            )
            .map(drop)
        });
        w.orgs.push(id);
        for j in 0..ACCOUNTS_PER_ORG {
            let a = AccountId::new();
            m = write(&m, |d| {
                ops::create_account(
                    d,
                    NewAccount {
                        id: Some(a),
                        organization_id: id,
                        name: name(&format!("Account {i}.{j}")),
                        kind: AccountType::Client,
                        status: None,
                    },
                )
                .map(drop)
            });
            w.accounts.push(a);
        }
        for j in 0..CUSTOM_PERMS_PER_ORG {
            let p = PermissionId::new();
            m = write(&m, |d| {
                ops::create_permission(
                    d,
                    NewPermission {
                        id: Some(p),
                        organization_id: id,
                        code: PermissionCode::parse(&format!("custom{j}:do")).unwrap(),
                        description: Description::parse("custom").unwrap(),
                    },
                )
                .map(drop)
            });
            w.custom_perms.push(p);
        }
        let first = w.custom_perms[i * CUSTOM_PERMS_PER_ORG];
        m = write(&m, |d| {
            ops::create_role(
                d,
                NewRole {
                    organization_id: id,
                    id: RoleId::parse("ops").unwrap(),
                    name: name("Ops"),
                    description: Description::parse("ops").unwrap(),
                    permissions: BTreeSet::from([first, builtin_permission_id("users:read")]),
                },
            )
            .map(drop)
        });
        w.custom_roles.push(RoleKey {
            organization_id: Some(id),
            id: RoleId::parse("ops").unwrap(),
        });
        for j in 0..GROUPS_PER_ORG {
            let mut g = None;
            m = write(&m, |d| {
                g = Some(
                    ops::create_group(
                        d,
                        ops::NewGroup {
                            id: None,
                            organization_id: id,
                            name: name(&format!("Group {j}")),
                            description: None,
                        },
                    )?
                    .id,
                );
                Ok(())
            });
            w.groups.push(g.unwrap());
        }
    }
    for i in 0..USERS {
        let u = UserId::new();
        let org = w.orgs[i % ORGS];
        m = write(&m, |d| {
            ops::create_user(
                d,
                NewUser {
                    id: Some(u),
                    organization_id: org,
                    email: Email::parse(&format!("u{i}@example.com")).unwrap(),
                    first_name: None,
                    last_name: None,
                    phone: None,
                    settings: None,
                    external_ids: Default::default(),
                    status: None,
                },
            )
            .map(drop)
        });
        w.users.push(u);
    }
    assert_eq!(m.user_count(), USERS);
    assert_eq!(w.custom_perms.len(), ORGS * CUSTOM_PERMS_PER_ORG);
    (m, w)
}

/// A scope named by index: 0 global, then organizations, their `accounts`
/// scopes, then accounts.
fn scope(w: &World, i: usize) -> Scope {
    let n = 1 + 2 * ORGS + w.accounts.len();
    match i % n {
        0 => Scope::Global,
        k if k <= ORGS => Scope::Organization(w.orgs[k - 1]),
        k if k <= 2 * ORGS => Scope::Accounts(w.orgs[k - 1 - ORGS]),
        k => Scope::Account(w.accounts[k - 1 - 2 * ORGS]),
    }
}

/// Mostly a scope in `user`'s organization (what the operations accept),
/// sometimes any scope (refused across organizations).
fn user_scope(w: &World, user: usize, i: usize) -> Scope {
    let o = user % ORGS;
    match i % 8 {
        0 => Scope::Global,
        1 => Scope::Organization(w.orgs[o]),
        2 => Scope::Accounts(w.orgs[o]),
        3..=6 => Scope::Account(w.accounts[o * ACCOUNTS_PER_ORG + (i / 8) % ACCOUNTS_PER_ORG]),
        _ => scope(w, i / 8),
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Grant a built-in role (index), the user's org's custom role (None), or a custom permission.
    GrantRole {
        user: usize,
        role: Option<usize>,
        scope: usize,
        expiry: Option<u8>,
    },
    GrantPermission {
        user: usize,
        perm: usize,
        scope: usize,
        expiry: Option<u8>,
    },
    /// Give a group a built-in role or its organization's custom role.
    GroupGrant {
        group: usize,
        role: Option<usize>,
        scope: usize,
        expiry: Option<u8>,
    },
    RevokeGroupGrant {
        group: usize,
        nth: usize,
    },
    AddMember {
        group: usize,
        user: usize,
        expiry: Option<u8>,
    },
    RemoveMember {
        group: usize,
        user: usize,
    },
    /// Set (or clear) the expiry of the user's n-th grant.
    SetGrantExpiry {
        user: usize,
        nth: usize,
        expiry: Option<u8>,
    },
    /// Revoke the user's n-th grant.
    Revoke {
        user: usize,
        nth: usize,
    },
    AccountStatus {
        account: usize,
        active: bool,
    },
    UserStatus {
        user: usize,
        status: usize,
    },
    DeleteUser {
        user: usize,
    },
    /// Replace an organization's custom role's permissions (a subset mask over its custom permissions and the checked codes).
    EditRole {
        org: usize,
        mask: u8,
    },
    /// Raw changes the operations refuse: a grant across organizations, a
    /// removal of a role still granted (and its re-creation), a grant re-put.
    RawCrossOrgGrant {
        user: usize,
        scope: usize,
        role: usize,
    },
    RawDeleteRole {
        org: usize,
    },
    RawRecreateRole {
        org: usize,
        mask: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..USERS, prop::option::of(0..BUILTIN_ROLES.len()), 0..64usize, prop::option::of(any::<u8>())).prop_map(|(user, role, scope, expiry)| Op::GrantRole { user, role, scope, expiry }),
        3 => (0..USERS, 0..ORGS * CUSTOM_PERMS_PER_ORG, 0..64usize, prop::option::of(any::<u8>())).prop_map(|(user, perm, scope, expiry)| Op::GrantPermission { user, perm, scope, expiry }),
        4 => (0..ORGS * GROUPS_PER_ORG, prop::option::of(0..BUILTIN_ROLES.len()), 0..64usize, prop::option::of(any::<u8>())).prop_map(|(group, role, scope, expiry)| Op::GroupGrant { group, role, scope, expiry }),
        1 => (0..ORGS * GROUPS_PER_ORG, 0..4usize).prop_map(|(group, nth)| Op::RevokeGroupGrant { group, nth }),
        5 => (0..ORGS * GROUPS_PER_ORG, 0..USERS, prop::option::of(any::<u8>())).prop_map(|(group, user, expiry)| Op::AddMember { group, user, expiry }),
        2 => (0..ORGS * GROUPS_PER_ORG, 0..USERS).prop_map(|(group, user)| Op::RemoveMember { group, user }),
        2 => (0..USERS, 0..4usize, prop::option::of(any::<u8>())).prop_map(|(user, nth, expiry)| Op::SetGrantExpiry { user, nth, expiry }),
        3 => (0..USERS, 0..8usize).prop_map(|(user, nth)| Op::Revoke { user, nth }),
        1 => (0..ORGS * ACCOUNTS_PER_ORG, any::<bool>()).prop_map(|(account, active)| Op::AccountStatus { account, active }),
        1 => (0..USERS, 0..3usize).prop_map(|(user, status)| Op::UserStatus { user, status }),
        1 => (0..USERS).prop_map(|user| Op::DeleteUser { user }),
        1 => (0..ORGS, any::<u8>()).prop_map(|(org, mask)| Op::EditRole { org, mask }),
        1 => (0..USERS, 0..64usize, 0..BUILTIN_ROLES.len()).prop_map(|(user, scope, role)| Op::RawCrossOrgGrant { user, scope, role }),
        1 => (0..ORGS).prop_map(|org| Op::RawDeleteRole { org }),
        1 => (0..ORGS, any::<u8>()).prop_map(|(org, mask)| Op::RawRecreateRole { org, mask }),
    ]
}

fn role_perms(w: &World, org: usize, mask: u8) -> BTreeSet<PermissionId> {
    let own = &w.custom_perms[org * CUSTOM_PERMS_PER_ORG..(org + 1) * CUSTOM_PERMS_PER_ORG];
    own.iter()
        .copied()
        .chain(CODES.iter().map(|c| builtin_permission_id(c)))
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, p)| p)
        .collect()
}

fn raw(m: &Model, changes: Vec<Change>) -> Model {
    write(m, |d| {
        for change in changes {
            d.record(
                change,
                None,
                AuditDraft {
                    action: "test.raw",
                    target_type: "test",
                    target_id: String::new(),
                    organization_id: None,
                    account_id: None,
                    before: None,
                    after: None,
                },
            );
        }
        Ok(())
    })
}

fn run(m: &Model, w: &World, op: &Op) -> Model {
    match *op {
        Op::GrantRole {
            user,
            role,
            scope: s,
            expiry: e,
        } => {
            let org = w.orgs[user % ORGS];
            let role = match role {
                Some(r) => RoleId::parse(BUILTIN_ROLES[r]).unwrap(),
                None => w.custom_roles[org_index(w, org)].id.clone(),
            };
            write(m, |d| {
                ops::create_grant(
                    d,
                    w.users[user],
                    ops::NewGrant {
                        subject: GrantSubject::Role(role),
                        scope: user_scope(w, user, s),
                        expires_at: expiry(e),
                    },
                )
                .map(drop)
            })
        }
        Op::GrantPermission {
            user,
            perm,
            scope: s,
            expiry: e,
        } => write(m, |d| {
            ops::create_grant(
                d,
                w.users[user],
                ops::NewGrant {
                    subject: GrantSubject::Permission(w.custom_perms[perm]),
                    scope: user_scope(w, user, s),
                    expires_at: expiry(e),
                },
            )
            .map(drop)
        }),
        Op::Revoke { user, nth } => {
            let u = w.users[user];
            match m.grants_of(u).nth(nth).map(|g| g.id) {
                Some(g) => write(m, |d| ops::delete_grant(d, u, g)),
                None => m.clone(),
            }
        }
        Op::GroupGrant {
            group,
            role,
            scope: s,
            expiry: e,
        } => {
            let org = group / GROUPS_PER_ORG;
            let role = match role {
                Some(r) => RoleId::parse(BUILTIN_ROLES[r]).unwrap(),
                None => w.custom_roles[org].id.clone(),
            };
            // A group's organization is `org`: `user_scope` of a user of it.
            let scope = user_scope(w, org, s);
            write(m, |d| {
                ops::create_grant(
                    d,
                    w.groups[group],
                    ops::NewGrant {
                        subject: GrantSubject::Role(role),
                        scope,
                        expires_at: expiry(e),
                    },
                )
                .map(drop)
            })
        }
        Op::RevokeGroupGrant { group, nth } => {
            let g = w.groups[group];
            match m.grants_of(g).nth(nth).map(|x| x.id) {
                Some(id) => write(m, |d| ops::delete_grant(d, g, id)),
                None => m.clone(),
            }
        }
        Op::AddMember {
            group,
            user,
            expiry: e,
        } => write(m, |d| {
            ops::add_group_member(d, w.groups[group], w.users[user], expiry(e)).map(drop)
        }),
        Op::RemoveMember { group, user } => write(m, |d| {
            ops::remove_group_member(d, w.groups[group], w.users[user])
        }),
        Op::SetGrantExpiry {
            user,
            nth,
            expiry: e,
        } => {
            let u = w.users[user];
            match m.grants_of(u).nth(nth).map(|g| g.id) {
                Some(g) => write(m, |d| {
                    ops::update_grant(d, u, g, expiry(e), Precondition::NONE).map(drop)
                }),
                None => m.clone(),
            }
        }
        Op::AccountStatus { account, active } => write(m, |d| {
            let status = if active {
                AccountStatus::Active
            } else {
                AccountStatus::Disabled
            };
            ops::update_account(
                d,
                w.accounts[account],
                ops::AccountPatch {
                    name: None,
                    kind: None,
                    status: Some(status),
                },
                Precondition::NONE,
            )
            .map(drop)
        }),
        Op::UserStatus { user, status } => write(m, |d| {
            let status = [
                UserStatus::Active,
                UserStatus::Invited,
                UserStatus::Disabled,
            ][status];
            ops::update_user(
                d,
                w.users[user],
                ops::UserPatch {
                    status: Some(status),
                    ..Default::default()
                },
                Precondition::NONE,
            )
            .map(drop)
        }),
        Op::DeleteUser { user } => write(m, |d| {
            ops::delete_user(d, w.users[user], Precondition::NONE)
        }),
        Op::EditRole { org, mask } => write(m, |d| {
            ops::update_role(
                d,
                w.orgs[org],
                &w.custom_roles[org].id,
                ops::RolePatch {
                    permissions: Some(role_perms(w, org, mask)),
                    ..Default::default()
                },
                Precondition::NONE,
            )
            .map(drop)
        }),
        Op::RawCrossOrgGrant {
            user,
            scope: s,
            role,
        } => {
            let g = Grant {
                id: GrantId::new(),
                holder: w.users[user].into(),
                target: GrantTarget::Role(RoleKey {
                    organization_id: None,
                    id: RoleId::parse(BUILTIN_ROLES[role]).unwrap(),
                }),
                scope: scope(w, s),
                expires_at: None,
                created_at: OffsetDateTime::UNIX_EPOCH,
                created_by: None,
                revision: m.revision() + 1,
            };
            // Re-putting the same grant is idempotent.
            raw(m, vec![Change::PutGrant(g.clone()), Change::PutGrant(g)])
        }
        Op::RawDeleteRole { org } => raw(m, vec![Change::DeleteRole(w.custom_roles[org].clone())]),
        Op::RawRecreateRole { org, mask } => raw(
            m,
            vec![Change::PutRole(Role {
                id: w.custom_roles[org].id.clone(),
                organization_id: Some(w.orgs[org]),
                name: name("Ops"),
                description: "ops".into(),
                permissions: role_perms(w, org, mask),
                revision: m.revision() + 1,
            })],
        ),
    }
}

fn org_index(w: &World, org: OrganizationId) -> usize {
    w.orgs.iter().position(|o| *o == org).unwrap()
}

/// What the naive evaluation reads: every stored grant and membership.
struct Stored {
    /// Grants in id order.
    grants: Vec<Grant>,
    /// Memberships in (group, user) order.
    members: Vec<GroupMember>,
}

impl Stored {
    fn of(m: &Model) -> Self {
        let mut grants: Vec<Grant> = m.grants().collect();
        grants.sort_by_key(|g| g.id);
        let members = m
            .groups_after(None)
            .flat_map(|g| m.group_members(g.id))
            .collect();
        Self { grants, members }
    }

    /// The grants `user` holds, in the documented order: its own (by id),
    /// then each of its groups' (by group id, then grant id), each with
    /// whether it counts at `now` (itself and its membership unexpired).
    fn held(&self, user: UserId, now: Moment) -> Vec<(&Grant, bool)> {
        let live = |t: Option<OffsetDateTime>| t.is_none_or(|t| Moment::of(t) > now);
        let mut out: Vec<(&Grant, bool)> = self
            .grants
            .iter()
            .filter(|g| g.holder == GrantHolder::User(user))
            .map(|g| (g, live(g.expires_at)))
            .collect();
        for mb in self.members.iter().filter(|mb| mb.user_id == user) {
            for g in self
                .grants
                .iter()
                .filter(|g| g.holder == GrantHolder::Group(mb.group_id))
            {
                out.push((g, live(g.expires_at) && live(mb.expires_at)));
            }
        }
        out
    }
}

/// SPEC §2.1 evaluated the slow, obvious way over the stored entities: no
/// index, no interning, the grants scanned in the documented order.
fn naive(
    m: &Model,
    stored: &Stored,
    user: UserId,
    p: PermissionId,
    on: On,
    now: Moment,
) -> Result<GrantId, DenyReason> {
    let u = m.user(user).ok_or(DenyReason::UnknownUser)?;
    if !(u.status == UserStatus::Active && u.deleted_at.is_none()) {
        return Err(DenyReason::UserInactive);
    }
    let target = match on {
        On::Organization(o) => Target::Organization(o),
        On::Account(a) => {
            let acc = m.account(a).ok_or(DenyReason::UnknownAccount)?;
            if acc.status != AccountStatus::Active {
                return Err(DenyReason::AccountDisabled);
            }
            Target::Account(acc.organization_id, a)
        }
    };
    let matching: Vec<(&Grant, bool)> = stored
        .held(user, now)
        .into_iter()
        .filter(|(g, _)| {
            g.scope.covers(&target)
                && match &g.target {
                    GrantTarget::Permission(q) => *q == p,
                    GrantTarget::Role(k) => m.role(k).is_some_and(|r| r.permissions.contains(&p)),
                }
        })
        .collect();
    match matching.iter().find(|(_, live)| *live) {
        Some((g, _)) => Ok(g.id),
        None if !matching.is_empty() => Err(DenyReason::Expired),
        None => Err(DenyReason::NoGrant),
    }
}

fn answer(d: Decision<'_>) -> Result<GrantId, DenyReason> {
    match d {
        Decision::Allowed(g) => Ok(g.id()),
        Decision::Denied(r) => Err(r),
    }
}

/// A model rebuilt from the entities alone, in the order the store loads
/// tables (organizations, accounts, users, permissions, roles, grants).
fn reload(m: &Model) -> Model {
    let mut r = Model::new();
    let orgs: Vec<_> = m.organizations_after(None).map(|o| (**o).clone()).collect();
    for o in orgs {
        r.apply(&Change::PutOrganization(o));
    }
    for a in m.accounts_after(None) {
        r.apply(&Change::PutAccount((**a).clone()));
    }
    for u in m.users_after(None) {
        r.apply(&Change::PutUser((**u).clone()));
    }
    for p in m.permissions().filter(|p| p.organization_id.is_some()) {
        r.apply(&Change::PutPermission((**p).clone()));
    }
    for o in m.organizations_after(None) {
        for role in m
            .roles_visible_in(o.id)
            .filter(|r| r.organization_id == Some(o.id))
        {
            r.apply(&Change::PutRole((**role).clone()));
        }
    }
    let groups: Vec<Group> = m.groups_after(None).map(|g| (**g).clone()).collect();
    for g in &groups {
        r.apply(&Change::PutGroup(g.clone()));
    }
    for g in &groups {
        for mb in m.group_members(g.id) {
            r.apply(&Change::PutGroupMember(mb));
        }
    }
    for g in m.grants() {
        r.apply(&Change::PutGrant(g));
    }
    r.set_revision(m.revision());
    r
}

fn verify(m: &Model, w: &World, revoked: Option<&Grant>) -> Result<(), TestCaseError> {
    let engine = Engine::new(m.clone());
    let snap = engine.snapshot();
    let reloaded = reload(m);
    let stored = Stored::of(m);
    for now in instants() {
        verify_at(m, &snap, &reloaded, &stored, w, revoked, now)?;
    }
    Ok(())
}

fn verify_at(
    m: &Model,
    snap: &Model,
    reloaded: &Model,
    stored: &Stored,
    w: &World,
    revoked: Option<&Grant>,
    now: Moment,
) -> Result<(), TestCaseError> {
    let perms = w.permissions();
    let targets = w.targets();
    let mut users = w.users.clone();
    users.push(UserId::new()); // unknown
    for &u in &users {
        for &p in &perms {
            for &on in &targets {
                let want = naive(m, stored, u, p, on, now);
                let got = answer(check(m, u, p, on, now));
                prop_assert_eq!(got, want, "user {} perm {} on {:?} at {:?}", u, p, on, now);
                prop_assert_eq!(answer(check(snap, u, p, on, now)), want);
                prop_assert_eq!(
                    answer(check(reloaded, u, p, on, now)),
                    want,
                    "reloaded model"
                );
                let target = match on {
                    On::Organization(o) => Some(Target::Organization(o)),
                    On::Account(a) => m.account_target(a),
                };
                if let Some(t) = target {
                    prop_assert_eq!(m.decide(u, p, &t, now).map(|g| g.id()), want.ok());
                }
                if let (Some(g), Ok(id)) = (revoked, want) {
                    prop_assert_ne!(g.id, id, "a revoked grant still allows");
                }
            }
            // Lookups agree with checks (and page with a cursor).
            let want: Vec<AccountId> = w
                .accounts
                .iter()
                .copied()
                .filter(|a| naive(m, stored, u, p, On::Account(*a), now).is_ok())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let got: Vec<AccountId> = lookup_accounts(m, u, p, None, now).collect();
            prop_assert_eq!(&got, &want, "lookup_accounts {} {}", u, p);
            if let Some(first) = want.first() {
                let rest: Vec<AccountId> = lookup_accounts(m, u, p, Some(*first), now).collect();
                prop_assert_eq!(&rest[..], &want[1..]);
            }
            // holds_over agrees with the naive reading of "a grant whose scope contains it".
            for i in 0..(1 + 2 * ORGS + w.accounts.len()) {
                let s = scope(w, i);
                let effective = m.user(u).is_some_and(|x| x.is_effective());
                let naive_holds = effective
                    && stored.held(u, now).iter().any(|(g, live)| {
                        *live
                            && g.scope
                                .contains(&s, |a| m.account(a).map(|x| x.organization_id))
                            && m.grant_gives(g, p)
                    });
                prop_assert_eq!(
                    m.holds_over(u, p, &s, now),
                    naive_holds,
                    "holds_over {} {} {}",
                    u,
                    p,
                    s
                );
            }
        }
        for &on in &targets {
            let eff = effective_permissions(m, u, on, now);
            for (p, g) in &eff {
                prop_assert_eq!(naive(m, stored, u, *p, on, now), Ok(g.id));
            }
            // Every permission allowed is listed.
            for &p in &perms {
                if naive(m, stored, u, p, on, now).is_ok() {
                    prop_assert!(
                        eff.iter().any(|(q, _)| *q == p),
                        "effective permissions miss {}",
                        p
                    );
                }
            }
        }
    }
    for &p in &perms {
        for &on in &targets {
            let mut want: Vec<UserId> = w
                .users
                .iter()
                .copied()
                .filter(|u| naive(m, stored, *u, p, on, now).is_ok())
                .collect();
            want.sort_unstable();
            let got: Vec<UserId> = lookup_users(m, p, on, None, now).collect();
            prop_assert_eq!(&got, &want, "lookup_users {} {:?}", p, on);
            if let Some(first) = want.first() {
                let rest: Vec<UserId> = lookup_users(m, p, on, Some(*first), now).collect();
                prop_assert_eq!(&rest[..], &want[1..]);
            }
        }
    }
    // Batch ≡ single: one instant, many questions, the same answers.
    let batch: Vec<_> = users
        .iter()
        .flat_map(|&u| perms.iter().map(move |&p| (u, p)))
        .flat_map(|(u, p)| targets.iter().map(move |&on| (u, p, on)))
        .map(|(u, p, on)| answer(check(snap, u, p, on, now)))
        .collect();
    let single: Vec<_> = users
        .iter()
        .flat_map(|&u| perms.iter().map(move |&p| (u, p)))
        .flat_map(|(u, p)| targets.iter().map(move |&on| (u, p, on)))
        .map(|(u, p, on)| naive(m, stored, u, p, on, now))
        .collect();
    prop_assert_eq!(batch, single);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn index_agrees_with_naive_evaluation(ops in prop::collection::vec(op(), 1..40)) {
        let (mut m, w) = setup();
        verify(&m, &w, None)?;
        for op in &ops {
            let before = m.revision();
            // The grant a revocation removes, to check it no longer allows anything.
            let revoked = match *op {
                Op::Revoke { user, nth } => m.grants_of(w.users[user]).nth(nth),
                _ => None,
            };
            let next = run(&m, &w, op);
            prop_assert!(next.revision() >= before);
            if next.revision() > before {
                prop_assert_eq!(next.revision(), before + 1, "one write, one revision");
            }
            let revoked = revoked.filter(|g| next.grant(g.holder, g.id).is_none());
            if revoked.is_some() {
                prop_assert_eq!(next.revision(), before + 1, "the revocation is the next revision");
            }
            verify(&next, &w, revoked.as_ref())?;
            m = next;
        }
    }
}

/// A revoked grant stops allowing at exactly the revision that removed it,
/// while readers still holding the previous snapshot keep their answer.
#[test]
fn revocation_takes_effect_at_the_next_revision() {
    let (m0, w) = setup();
    let u = w.users[0];
    let acc = w.accounts[0];
    let p = builtin_permission_id("grants:write");
    let m1 = write(&m0, |d| {
        ops::create_grant(
            d,
            u,
            ops::NewGrant {
                subject: GrantSubject::Role(RoleId::parse("admin").unwrap()),
                scope: Scope::Account(acc),
                expires_at: None,
            },
        )
        .map(drop)
    });
    let engine = Engine::new(m1.clone());
    let old = engine.snapshot();
    let now = Moment::of(OffsetDateTime::UNIX_EPOCH);
    assert!(check(&old, u, p, On::Account(acc), now).allowed());
    let g = m1.grants_of(u).next().unwrap().id;
    let m2 = write(&m1, |d| ops::delete_grant(d, u, g));
    assert_eq!(m2.revision(), m1.revision() + 1);
    engine.publish(Arc::new(m2));
    assert_eq!(
        check(&engine.snapshot(), u, p, On::Account(acc), now),
        Decision::Denied(DenyReason::NoGrant)
    );
    assert!(
        check(&old, u, p, On::Account(acc), now).allowed(),
        "an older snapshot is unchanged"
    );
    // The engine never moves backwards.
    engine.publish(old);
    assert_eq!(engine.revision(), m1.revision() + 1);
}
