//! The feed's `access.changed` events add up, for random sequences of
//! writes made through the domain operations on drafts (grants to users
//! and to groups, with and without expiry; group memberships; role edits
//! and deletions; users disabled and deleted; several operations in one
//! write) and of expiry sweeps (`ops::expire_due` at a later instant):
//!
//! - for every write and every user, the union of `gained` and of `lost`
//!   of that user's `access.changed` events is exactly
//!   `access_of(after) − access_of(before)` and the reverse, with at most
//!   one event per user;
//! - and it is the difference the engine sees: the effective permissions
//!   (`roster_authz::effective_permissions`) at every organization and
//!   account, before the write (at the instant of the previous one) and
//!   after it (at its own), are what that access gives there, at instants
//!   when nothing unswept has expired.
//!
//! Account status is left alone: a disabled account denies checks on it
//! but changes nobody's access, so no event tells it (documented in
//! `docs/events.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use roster_authz::effective_permissions;
use roster_domain::catalogue::builtin_permission_id;
use roster_domain::event::{ACCESS_CHANGED, ACCESS_CHANGED_BULK};
use roster_domain::impact::access_of;
use roster_domain::ops::{
    self, GrantSubject, NewAccount, NewOrganization, NewPermission, NewRole, NewUser, Precondition,
};
use roster_domain::*;
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

const ORGS: usize = 2;
const ACCOUNTS_PER_ORG: usize = 2;
const USERS: usize = 6;
const CUSTOM_PERMS_PER_ORG: usize = 2;
const GROUPS_PER_ORG: usize = 2;

/// Built-in codes a custom role may hold.
const CODES: &[&str] = &["users:read", "accounts:read", "grants:write"];
const BUILTIN_ROLES: &[&str] = &["admin", "member", "viewer", "support"];

type Access = BTreeSet<(PermissionId, Scope)>;

struct World {
    orgs: Vec<OrganizationId>,
    accounts: Vec<AccountId>,
    users: Vec<UserId>,
    custom_perms: Vec<PermissionId>,
    /// One custom role (`ops`) per organization.
    custom_roles: Vec<RoleId>,
    groups: Vec<GroupId>,
    /// Every organization and account, as the engine and the scopes name it.
    targets: Vec<(On, Target)>,
}

fn name(s: &str) -> DisplayName {
    DisplayName::parse(s).unwrap()
}

/// Runs `f` on a fresh draft as the system at `now`; the outcome, or `None`
/// when the write was refused.
fn write(
    m: &Model,
    now: OffsetDateTime,
    f: impl FnOnce(&mut Draft<'_>) -> Result<(), DomainError>,
) -> Option<Outcome> {
    let ctx = Context::system(now);
    let mut d = Draft::new(m, &ctx);
    f(&mut d).ok()?;
    d.finish().ok()
}

fn setup() -> (Model, World) {
    let t0 = OffsetDateTime::UNIX_EPOCH;
    let mut w = World {
        orgs: vec![],
        accounts: vec![],
        users: vec![],
        custom_perms: vec![],
        custom_roles: vec![],
        groups: vec![],
        targets: vec![],
    };
    let o = write(&Model::new(), t0, |d| {
        for i in 0..ORGS {
            let org = ops::create_organization(
                d,
                NewOrganization {
                    id: None,
                    name: name(&format!("Org {i}")),
                    slug: None,
                },
            )?
            .id;
            w.orgs.push(org);
            w.targets
                .push((On::Organization(org), Target::Organization(org)));
            for j in 0..ACCOUNTS_PER_ORG {
                let a = ops::create_account(
                    d,
                    NewAccount {
                        id: None,
                        organization_id: org,
                        name: name(&format!("Account {i}.{j}")),
                        kind: AccountType::Client,
                        status: None,
                    },
                )?
                .id;
                w.accounts.push(a);
                w.targets.push((On::Account(a), Target::Account(org, a)));
            }
            for j in 0..CUSTOM_PERMS_PER_ORG {
                let p = ops::create_permission(
                    d,
                    NewPermission {
                        id: None,
                        organization_id: org,
                        code: PermissionCode::parse(&format!("custom{j}:do"))?,
                        description: Description::parse("custom")?,
                    },
                )?
                .id;
                w.custom_perms.push(p);
            }
            let first = w.custom_perms[i * CUSTOM_PERMS_PER_ORG];
            ops::create_role(
                d,
                NewRole {
                    organization_id: org,
                    id: RoleId::parse("ops")?,
                    name: name("Ops"),
                    description: Description::parse("ops")?,
                    permissions: BTreeSet::from([first, builtin_permission_id("users:read")]),
                },
            )?;
            w.custom_roles.push(RoleId::parse("ops")?);
            for j in 0..GROUPS_PER_ORG {
                let g = ops::create_group(
                    d,
                    ops::NewGroup {
                        id: None,
                        organization_id: org,
                        name: name(&format!("Group {j}")),
                        description: None,
                    },
                )?;
                w.groups.push(g.id);
            }
        }
        for i in 0..USERS {
            let u = ops::create_user(
                d,
                NewUser {
                    id: None,
                    organization_id: w.orgs[i % ORGS],
                    email: Email::parse(&format!("u{i}@example.com"))?,
                    first_name: None,
                    last_name: None,
                    phone: None,
                    settings: None,
                    external_ids: Default::default(),
                    status: None,
                },
            )?;
            w.users.push(u.id);
        }
        Ok(())
    })
    .expect("setup");
    (o.model, w)
}

/// A scope of organization `org` named by index: global sometimes, the
/// organization, its accounts, one account.
fn scope(w: &World, org: usize, i: usize) -> Scope {
    match i % 6 {
        0 => Scope::Global,
        1 => Scope::Organization(w.orgs[org]),
        2 => Scope::Accounts(w.orgs[org]),
        k => Scope::Account(w.accounts[org * ACCOUNTS_PER_ORG + k % ACCOUNTS_PER_ORG]),
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// A built-in role (index) or the organization's custom role (`None`).
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
    SetGrantExpiry {
        user: usize,
        nth: usize,
        expiry: Option<u8>,
    },
    Revoke {
        user: usize,
        nth: usize,
    },
    UserStatus {
        user: usize,
        status: usize,
    },
    DeleteUser {
        user: usize,
    },
    EditRole {
        org: usize,
        mask: u8,
    },
    DeleteRole {
        org: usize,
    },
}

#[derive(Clone, Debug)]
enum Step {
    /// One write of one to three operations (refused whole if one is).
    Write(Vec<Op>),
    /// The clock moves on this many seconds and the sweeper removes what
    /// has expired.
    Sweep(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let exp = || prop::option::of(0..4u8);
    let groups = ORGS * GROUPS_PER_ORG;
    prop_oneof![
        6 => (0..USERS, prop::option::of(0..BUILTIN_ROLES.len()), 0..64usize, exp()).prop_map(|(user, role, scope, expiry)| Op::GrantRole { user, role, scope, expiry }),
        2 => (0..USERS, 0..CUSTOM_PERMS_PER_ORG, 0..64usize, exp()).prop_map(|(user, perm, scope, expiry)| Op::GrantPermission { user, perm, scope, expiry }),
        4 => (0..groups, prop::option::of(0..BUILTIN_ROLES.len()), 0..64usize, exp()).prop_map(|(group, role, scope, expiry)| Op::GroupGrant { group, role, scope, expiry }),
        1 => (0..groups, 0..3usize).prop_map(|(group, nth)| Op::RevokeGroupGrant { group, nth }),
        5 => (0..groups, 0..USERS, exp()).prop_map(|(group, user, expiry)| Op::AddMember { group, user, expiry }),
        2 => (0..groups, 0..USERS).prop_map(|(group, user)| Op::RemoveMember { group, user }),
        2 => (0..USERS, 0..3usize, exp()).prop_map(|(user, nth, expiry)| Op::SetGrantExpiry { user, nth, expiry }),
        2 => (0..USERS, 0..4usize).prop_map(|(user, nth)| Op::Revoke { user, nth }),
        1 => (0..USERS, 0..3usize).prop_map(|(user, status)| Op::UserStatus { user, status }),
        1 => (0..USERS).prop_map(|user| Op::DeleteUser { user }),
        2 => (0..ORGS, any::<u8>()).prop_map(|(org, mask)| Op::EditRole { org, mask }),
        1 => (0..ORGS).prop_map(|org| Op::DeleteRole { org }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => prop::collection::vec(op(), 1..=3).prop_map(Step::Write),
        1 => (1..=3u8).prop_map(Step::Sweep),
    ]
}

/// An expiry named by index: 1 to 4 seconds after `now` (always ahead).
fn expiry(now: OffsetDateTime, e: Option<u8>) -> Option<OffsetDateTime> {
    e.map(|k| now + time::Duration::seconds(i64::from(k % 4) + 1))
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

fn role(w: &World, org: usize, r: Option<usize>) -> RoleId {
    match r {
        Some(i) => RoleId::parse(BUILTIN_ROLES[i]).unwrap(),
        None => w.custom_roles[org].clone(),
    }
}

fn run(d: &mut Draft<'_>, w: &World, now: OffsetDateTime, op: &Op) -> Result<(), DomainError> {
    match *op {
        Op::GrantRole {
            user,
            role: r,
            scope: s,
            expiry: e,
        } => {
            let org = user % ORGS;
            ops::create_grant(
                d,
                w.users[user],
                ops::NewGrant {
                    subject: GrantSubject::Role(role(w, org, r)),
                    scope: scope(w, org, s),
                    expires_at: expiry(now, e),
                },
            )
            .map(drop)
        }
        Op::GrantPermission {
            user,
            perm,
            scope: s,
            expiry: e,
        } => {
            let org = user % ORGS;
            ops::create_grant(
                d,
                w.users[user],
                ops::NewGrant {
                    subject: GrantSubject::Permission(
                        w.custom_perms[org * CUSTOM_PERMS_PER_ORG + perm],
                    ),
                    scope: scope(w, org, s),
                    expires_at: expiry(now, e),
                },
            )
            .map(drop)
        }
        Op::GroupGrant {
            group,
            role: r,
            scope: s,
            expiry: e,
        } => {
            let org = group / GROUPS_PER_ORG;
            ops::create_grant(
                d,
                w.groups[group],
                ops::NewGrant {
                    subject: GrantSubject::Role(role(w, org, r)),
                    scope: scope(w, org, s),
                    expires_at: expiry(now, e),
                },
            )
            .map(drop)
        }
        Op::RevokeGroupGrant { group, nth } => {
            let g = w.groups[group];
            let id = d.model().grants_of(g).nth(nth).map(|x| x.id);
            match id {
                Some(id) => ops::delete_grant(d, g, id),
                None => Ok(()),
            }
        }
        Op::AddMember {
            group,
            user,
            expiry: e,
        } => ops::add_group_member(d, w.groups[group], w.users[user], expiry(now, e)).map(drop),
        Op::RemoveMember { group, user } => {
            ops::remove_group_member(d, w.groups[group], w.users[user])
        }
        Op::SetGrantExpiry {
            user,
            nth,
            expiry: e,
        } => {
            let u = w.users[user];
            let id = d.model().grants_of(u).nth(nth).map(|g| g.id);
            match id {
                Some(g) => ops::update_grant(d, u, g, expiry(now, e), Precondition::NONE).map(drop),
                None => Ok(()),
            }
        }
        Op::Revoke { user, nth } => {
            let u = w.users[user];
            let id = d.model().grants_of(u).nth(nth).map(|g| g.id);
            match id {
                Some(g) => ops::delete_grant(d, u, g),
                None => Ok(()),
            }
        }
        Op::UserStatus { user, status } => {
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
        }
        Op::DeleteUser { user } => ops::delete_user(d, w.users[user], Precondition::NONE),
        Op::EditRole { org, mask } => ops::update_role(
            d,
            w.orgs[org],
            &w.custom_roles[org],
            ops::RolePatch {
                permissions: Some(role_perms(w, org, mask)),
                ..Default::default()
            },
            Precondition::NONE,
        )
        .map(drop),
        Op::DeleteRole { org } => {
            ops::delete_role(d, w.orgs[org], &w.custom_roles[org], Precondition::NONE)
        }
    }
}

/// The `(permission, scope)` pairs of an `access.changed` list.
fn pairs(v: &serde_json::Value) -> Access {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| {
            (
                serde_json::from_value(x["permission"].clone()).expect("a permission id"),
                serde_json::from_value(x["scope"].clone()).expect("a scope"),
            )
        })
        .collect()
}

/// What `access` gives at `target`: the permissions of its pairs whose
/// scope covers it.
fn at(access: &Access, target: &Target) -> BTreeSet<PermissionId> {
    access
        .iter()
        .filter(|(_, s)| s.covers(target))
        .map(|(p, _)| *p)
        .collect()
}

/// The engine's effective permissions of `user` at `on`, at `now`.
fn engine(m: &Model, user: UserId, on: On, now: Moment) -> BTreeSet<PermissionId> {
    effective_permissions(m, user, on, now)
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

/// Nothing stored in `m` has expired at `now` (so stored access is the
/// access that counts then).
fn nothing_unswept(m: &Model, now: Moment) -> bool {
    m.next_expiry().is_none_or(|e| e > now)
}

/// Checks one committed write (`o`, from `before` at `then` to its model at
/// `now`); the number of `access.changed` events it had.
fn check_write(
    w: &World,
    before: &Model,
    o: &Outcome,
    then: Moment,
    now: Moment,
) -> Result<usize, TestCaseError> {
    let after = &o.model;
    prop_assert!(nothing_unswept(before, then));
    prop_assert!(
        nothing_unswept(after, now),
        "the sweep left something expired"
    );
    // Entity events: one per audit event, typed by its action.
    let entity: Vec<&Event> = o
        .events
        .iter()
        .filter(|e| e.kind != ACCESS_CHANGED && e.kind != ACCESS_CHANGED_BULK)
        .collect();
    prop_assert_eq!(entity.len(), o.audit.len());
    for (e, a) in entity.iter().zip(&o.audit) {
        prop_assert_eq!(&e.kind, &event::event_type(&a.action));
    }
    prop_assert!(
        o.events.iter().all(|e| e.kind != ACCESS_CHANGED_BULK),
        "no role or group reaches 1000 users here"
    );
    let mut told: BTreeMap<UserId, (Access, Access)> = BTreeMap::new();
    for e in o.events.iter().filter(|e| e.kind == ACCESS_CHANGED) {
        let user: UserId = serde_json::from_value(e.data["user_id"].clone()).expect("user_id");
        prop_assert!(
            told.insert(user, (pairs(&e.data["gained"]), pairs(&e.data["lost"])))
                .is_none(),
            "two access.changed events for one user in one write"
        );
        prop_assert!(
            !told[&user].0.is_empty() || !told[&user].1.is_empty(),
            "an access.changed event that changes nothing"
        );
    }
    for &u in &w.users {
        let was = access_of(before, u, Moment::MIN);
        let is = access_of(after, u, Moment::MIN);
        let (gained, lost) = told.remove(&u).unwrap_or_default();
        let want_gained: Access = is.difference(&was).copied().collect();
        let want_lost: Access = was.difference(&is).copied().collect();
        prop_assert_eq!(&gained, &want_gained, "gained of {}", u);
        prop_assert_eq!(&lost, &want_lost, "lost of {}", u);
        // What the events say the user holds now.
        let told_now: Access = was
            .union(&gained)
            .copied()
            .collect::<Access>()
            .difference(&lost)
            .copied()
            .collect();
        for (on, target) in &w.targets {
            let e_before = engine(before, u, *on, then);
            let e_after = engine(after, u, *on, now);
            prop_assert_eq!(&e_before, &at(&was, target), "engine before, {:?}", on);
            prop_assert_eq!(&e_after, &at(&told_now, target), "engine after, {:?}", on);
            // So the engine's difference is the events' difference.
            let engine_gained: BTreeSet<PermissionId> =
                e_after.difference(&e_before).copied().collect();
            let engine_lost: BTreeSet<PermissionId> =
                e_before.difference(&e_after).copied().collect();
            let events_gained: BTreeSet<PermissionId> = at(&told_now, target)
                .difference(&at(&was, target))
                .copied()
                .collect();
            let events_lost: BTreeSet<PermissionId> = at(&was, target)
                .difference(&at(&told_now, target))
                .copied()
                .collect();
            prop_assert_eq!(engine_gained, events_gained);
            prop_assert_eq!(engine_lost, events_lost);
        }
    }
    prop_assert!(told.is_empty(), "events for users not in the world");
    Ok(o.events.iter().filter(|e| e.kind == ACCESS_CHANGED).count())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn access_changed_adds_up_to_the_difference(steps in prop::collection::vec(step(), 1..40)) {
        let (mut m, w) = setup();
        let mut now = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(10);
        let mut then = Moment::of(now);
        let mut changed = 0;
        for s in &steps {
            let outcome = match s {
                Step::Write(ops_) => write(&m, now, |d| {
                    for op in ops_ {
                        run(d, &w, now, op)?;
                    }
                    Ok(())
                }),
                Step::Sweep(secs) => {
                    now += time::Duration::seconds(i64::from(*secs));
                    write(&m, now, |d| ops::expire_due(d, 100_000).map(drop))
                }
            };
            let Some(o) = outcome else { continue };
            changed += check_write(&w, &m, &o, then, Moment::of(now))?;
            m = o.model;
            then = Moment::of(now);
        }
        // Not a vacuous run (most sequences change someone's access).
        prop_assume!(changed > 0);
    }
}
