//! Property tests of the rules (pure: no database, no server).
//!
//! - **Scope covering**: `Scope::covers` agrees with a naive, set-based
//!   definition of what a scope covers, and `Scope::contains` is exactly set
//!   inclusion over a universe where every organization may still gain an
//!   account (so `account(a)` never contains `accounts(O)`).
//! - **Escalation guard**: whatever a random actor with random grants
//!   manages to grant (or revoke) through `ops::create_grant` /
//!   `ops::delete_grant`, it held `grants:write` and every permission the
//!   grant hands out over the grant's scope; nobody changes their own grants.
//!   The same through groups: whoever adds a user to a group (or removes
//!   one), or changes a group's grants, could have made each of the group's
//!   grants itself, and is not a member concerned (self guard).
//! - **Tenant isolation**: an actor of organization A with random grants in A
//!   gets `NotFound` for every operation on an object of organization B
//!   (groups, their members and grants included), exactly as for an object
//!   that does not exist, and records nothing.
//! - **Expiry sweep** (an example): `ops::expire_due` removes exactly the
//!   grants and group memberships expired at the draft's instant, soonest
//!   first and at most as many as asked, as the system with its reason;
//!   again it removes nothing; no user may sweep.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use proptest::prelude::*;
use roster_domain::catalogue::perms;
use roster_domain::ops::{self, GrantSubject, Precondition};
use roster_domain::*;
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

// ----- scope covering ------------------------------------------------------

/// A small universe: organizations 0..3, accounts 0..5 with a fixed owner
/// organization each (organization 2 has none), plus one *phantom* account
/// per organization standing for "an account created later".
struct Universe {
    orgs: Vec<OrganizationId>,
    /// (account, its organization)
    accounts: Vec<(AccountId, OrganizationId)>,
    phantoms: Vec<(AccountId, OrganizationId)>,
}

impl Universe {
    fn new() -> Self {
        let orgs: Vec<OrganizationId> = (0..3).map(|_| OrganizationId::new()).collect();
        let owner = [0usize, 0, 1, 1, 0];
        let accounts = owner.iter().map(|&o| (AccountId::new(), orgs[o])).collect();
        let phantoms = orgs.iter().map(|&o| (AccountId::new(), o)).collect();
        Self {
            orgs,
            accounts,
            phantoms,
        }
    }

    fn org_of(&self, a: AccountId) -> Option<OrganizationId> {
        self.accounts.iter().find(|(x, _)| *x == a).map(|(_, o)| *o)
    }

    /// Every target, phantoms included.
    fn targets(&self) -> Vec<Target> {
        let mut t: Vec<Target> = self.orgs.iter().map(|&o| Target::Organization(o)).collect();
        t.extend(
            self.accounts
                .iter()
                .chain(&self.phantoms)
                .map(|&(a, o)| Target::Account(o, a)),
        );
        t
    }

    /// The naive meaning of a scope: the set of targets it covers, written
    /// out by enumeration rather than by rule.
    fn naive(&self, s: &Scope) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for t in self.targets() {
            let inside = match (s, t) {
                (Scope::Global, _) => true,
                (Scope::Organization(o), Target::Organization(x)) => *o == x,
                (Scope::Organization(o), Target::Account(_, a)) => self
                    .accounts
                    .iter()
                    .chain(&self.phantoms)
                    .any(|&(b, bo)| b == a && bo == *o),
                (Scope::Accounts(o), Target::Account(_, a)) => self
                    .accounts
                    .iter()
                    .chain(&self.phantoms)
                    .any(|&(b, bo)| b == a && bo == *o),
                (Scope::Accounts(_), Target::Organization(_)) => false,
                (Scope::Account(a), Target::Account(_, b)) => *a == b,
                (Scope::Account(_), Target::Organization(_)) => false,
            };
            if inside {
                out.insert(format!("{t:?}"));
            }
        }
        out
    }

    fn scope(&self, pick: (u8, usize)) -> Scope {
        match pick.0 % 4 {
            0 => Scope::Global,
            1 => Scope::Organization(self.orgs[pick.1 % self.orgs.len()]),
            2 => Scope::Accounts(self.orgs[pick.1 % self.orgs.len()]),
            _ => Scope::Account(self.accounts[pick.1 % self.accounts.len()].0),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn covers_matches_the_naive_definition(s in (0u8..4, 0usize..16)) {
        let u = Universe::new();
        let scope = u.scope(s);
        let naive = u.naive(&scope);
        for t in u.targets() {
            prop_assert_eq!(scope.covers(&t), naive.contains(&format!("{t:?}")), "{} on {:?}", scope, t);
        }
    }

    #[test]
    fn contains_is_inclusion_of_what_is_covered(a in (0u8..4, 0usize..16), b in (0u8..4, 0usize..16)) {
        let u = Universe::new();
        let (s1, s2) = (u.scope(a), u.scope(b));
        let contains = s1.contains(&s2, |x| u.org_of(x));
        let included = u.naive(&s1).is_superset(&u.naive(&s2));
        prop_assert_eq!(contains, included, "{} ⊇ {}", s1, s2);
        // Soundness for every concrete target: what s2 covers, s1 covers.
        if contains {
            for t in u.targets() {
                prop_assert!(!s2.covers(&t) || s1.covers(&t), "{} ⊇ {} but not on {:?}", s1, s2, t);
            }
        }
        // Reflexive.
        prop_assert!(s1.contains(&s1, |x| u.org_of(x)));
    }

    #[test]
    fn contains_is_transitive(a in (0u8..4, 0usize..16), b in (0u8..4, 0usize..16), c in (0u8..4, 0usize..16)) {
        let u = Universe::new();
        let (s1, s2, s3) = (u.scope(a), u.scope(b), u.scope(c));
        let org_of = |x| u.org_of(x);
        if s1.contains(&s2, org_of) && s2.contains(&s3, org_of) {
            prop_assert!(s1.contains(&s3, org_of), "{} ⊇ {} ⊇ {}", s1, s2, s3);
        }
    }
}

#[test]
fn an_account_of_an_unknown_organization_is_contained_only_by_global() {
    let o = OrganizationId::new();
    let a = AccountId::new();
    let unknown = |_| None;
    assert!(Scope::Global.contains(&Scope::Account(a), unknown));
    assert!(!Scope::Organization(o).contains(&Scope::Account(a), unknown));
    assert!(!Scope::Accounts(o).contains(&Scope::Account(a), unknown));
    assert!(!Scope::Account(a).contains(&Scope::Global, unknown));
}

// ----- a small world built through the operations ---------------------------

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Runs `f` as the system on `model` and returns the finished model.
fn system<T>(
    model: &Model,
    f: impl FnOnce(&mut Draft<'_>) -> Result<T, DomainError>,
) -> (Model, T) {
    let ctx = Context::system(now());
    let mut d = Draft::new(model, &ctx);
    let out = f(&mut d).unwrap();
    let outcome = d.finish().unwrap();
    (outcome.model, out)
}

fn role(id: &str) -> RoleId {
    RoleId::parse(id).unwrap()
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

#[derive(Debug)]
struct World {
    model: Model,
    org_a: OrganizationId,
    org_b: OrganizationId,
    /// Accounts of A.
    acc_a: Vec<AccountId>,
    acc_b: AccountId,
    /// Users of A (the first ones act).
    users_a: Vec<UserId>,
    user_b: UserId,
    /// A custom permission of A and one of B.
    perm_a: PermissionId,
    perm_b: PermissionId,
    /// A custom role of B.
    role_b: RoleId,
    grant_b: GrantId,
    key_b: ApiKeyId,
    /// Groups of A: the first holds `viewer` on A, the second `admin` on
    /// the second account of A; their members are the fourth and the fifth
    /// user of A (who do not act).
    groups_a: Vec<GroupId>,
    /// A group of B with B's admin as member and a grant.
    group_b: GroupId,
    group_grant_b: GrantId,
}

fn new_group(d: &mut Draft<'_>, org: OrganizationId, name: &str) -> Result<GroupId, DomainError> {
    ops::create_group(
        d,
        ops::NewGroup {
            id: None,
            organization_id: org,
            name: DisplayName::parse(name)?,
            description: None,
        },
    )
    .map(|g| g.id)
}

fn new_user(d: &mut Draft<'_>, org: OrganizationId, mail: &str) -> Result<UserId, DomainError> {
    ops::create_user(
        d,
        ops::NewUser {
            id: None,
            organization_id: org,
            email: email(mail),
            first_name: None,
            last_name: None,
            phone: None,
            settings: None,
            external_ids: BTreeMap::new(),
            status: None,
        },
    )
    .map(|u| u.id)
}

fn new_org(d: &mut Draft<'_>, name: &str) -> Result<OrganizationId, DomainError> {
    ops::create_organization(
        d,
        ops::NewOrganization {
            id: None,
            name: DisplayName::parse(name)?,
            slug: None,
        },
    )
    .map(|o| o.id)
}

fn new_account(
    d: &mut Draft<'_>,
    org: OrganizationId,
    name: &str,
) -> Result<AccountId, DomainError> {
    ops::create_account(
        d,
        ops::NewAccount {
            id: None,
            organization_id: org,
            name: DisplayName::parse(name)?,
            kind: AccountType::Client,
            status: None,
        },
    )
    .map(|a| a.id)
}

fn new_permission(
    d: &mut Draft<'_>,
    org: OrganizationId,
    code: &str,
) -> Result<PermissionId, DomainError> {
    ops::create_permission(
        d,
        ops::NewPermission {
            id: None,
            organization_id: org,
            code: PermissionCode::parse(code)?,
            description: Description::parse("custom")?,
        },
    )
    .map(|p| p.id)
}

/// Two tenants. A has four accounts, five users, a custom permission and a
/// custom role `clerk` (users:read + the custom permission); B has one of
/// each, with an admin, a grant and an API key.
fn world() -> World {
    let (model, w) = system(&Model::new(), |d| {
        let org_a = new_org(d, "Tenant A")?;
        let org_b = new_org(d, "Tenant B")?;
        let acc_a = vec![
            new_account(d, org_a, "A1")?,
            new_account(d, org_a, "A2")?,
            new_account(d, org_a, "A3")?,
            new_account(d, org_a, "A4")?,
        ];
        let acc_b = new_account(d, org_b, "B1")?;
        let users_a = (0..5)
            .map(|i| new_user(d, org_a, &format!("u{i}@a.example")))
            .collect::<Result<Vec<_>, _>>()?;
        let user_b = new_user(d, org_b, "admin@b.example")?;
        let perm_a = new_permission(d, org_a, "invoices:approve")?;
        let perm_b = new_permission(d, org_b, "invoices:approve")?;
        ops::create_role(
            d,
            ops::NewRole {
                organization_id: org_a,
                id: role("clerk"),
                name: DisplayName::parse("Clerk")?,
                description: Description::parse("")?,
                permissions: [perms::users_read(), perm_a].into_iter().collect(),
            },
        )?;
        ops::create_role(
            d,
            ops::NewRole {
                organization_id: org_b,
                id: role("clerk"),
                name: DisplayName::parse("Clerk")?,
                description: Description::parse("")?,
                permissions: [perms::users_read(), perm_b].into_iter().collect(),
            },
        )?;
        let (grant_b, _) = ops::create_grant(
            d,
            user_b,
            ops::NewGrant {
                subject: GrantSubject::Role(role("admin")),
                scope: Scope::Organization(org_b),
                expires_at: None,
            },
        )?;
        for (i, &acc) in acc_a.iter().enumerate() {
            ops::add_member(
                d,
                ops::NewMembership {
                    id: None,
                    account_id: acc,
                    user_id: users_a[i],
                    status: None,
                    groups: vec![],
                },
            )?;
        }
        let key_b = ops::create_api_key(
            d,
            ops::NewApiKey {
                scopes: None,
                user_id: user_b,
                name: DisplayName::parse("b")?,
                expires_at: None,
                key_id: "kb".into(),
                secret: "secret-b".into(),
            },
        )?;
        let groups_a = vec![
            new_group(d, org_a, "Readers")?,
            new_group(d, org_a, "A2 admins")?,
        ];
        for (g, r, scope) in [
            (groups_a[0], "viewer", Scope::Organization(org_a)),
            (groups_a[1], "admin", Scope::Account(acc_a[1])),
        ] {
            ops::create_grant(
                d,
                g,
                ops::NewGrant {
                    subject: GrantSubject::Role(role(r)),
                    scope,
                    expires_at: None,
                },
            )?;
        }
        ops::add_group_member(d, groups_a[0], users_a[3], None)?;
        ops::add_group_member(d, groups_a[1], users_a[4], None)?;
        let group_b = new_group(d, org_b, "B team")?;
        ops::add_group_member(d, group_b, user_b, None)?;
        let (group_grant_b, _) = ops::create_grant(
            d,
            group_b,
            ops::NewGrant {
                subject: GrantSubject::Role(role("viewer")),
                scope: Scope::Organization(org_b),
                expires_at: None,
            },
        )?;
        Ok(World {
            model: Model::new(),
            org_a,
            org_b,
            acc_a,
            acc_b,
            users_a,
            user_b,
            perm_a,
            perm_b,
            role_b: role("clerk"),
            grant_b: grant_b.id,
            key_b: key_b.id,
            groups_a,
            group_b,
            group_grant_b: group_grant_b.id,
        })
    });
    World { model, ..w }
}

/// What a grant can hand out, as a client names it.
fn subjects(w: &World) -> Vec<GrantSubject> {
    let mut s: Vec<GrantSubject> = [
        "owner",
        "admin",
        "member",
        "viewer",
        "system_admin",
        "system_support",
        "support",
        "organization_viewer",
        "clerk",
    ]
    .iter()
    .map(|r| GrantSubject::Role(role(r)))
    .collect();
    s.extend(
        [
            perms::grants_write(),
            perms::users_read(),
            perms::users_write(),
            perms::organizations_write(),
            w.perm_a,
        ]
        .into_iter()
        .map(GrantSubject::Permission),
    );
    s
}

/// Scopes an actor's own grants may have (no `global`: the actors are tenants).
fn tenant_scopes(w: &World) -> Vec<Scope> {
    let mut s = vec![Scope::Organization(w.org_a), Scope::Accounts(w.org_a)];
    s.extend(w.acc_a.iter().map(|&a| Scope::Account(a)));
    s
}

/// Every scope an attempt may name, other tenants' included.
fn all_scopes(w: &World) -> Vec<Scope> {
    let mut s = vec![Scope::Global];
    s.extend(tenant_scopes(w));
    s.extend([
        Scope::Organization(w.org_b),
        Scope::Accounts(w.org_b),
        Scope::Account(w.acc_b),
    ]);
    s
}

/// Gives user `u` the grants `(subject index, scope index)` as the system.
fn give(w: &World, model: &Model, u: UserId, grants: &[(usize, usize)]) -> Model {
    let subjects = subjects(w);
    let scopes = tenant_scopes(w);
    let (m, ()) = system(model, |d| {
        for &(s, sc) in grants {
            ops::create_grant(
                d,
                u,
                ops::NewGrant {
                    subject: subjects[s % subjects.len()].clone(),
                    scope: scopes[sc % scopes.len()],
                    expires_at: None,
                },
            )?;
        }
        Ok(())
    });
    m
}

// ----- escalation guard ------------------------------------------------------

#[derive(Debug, Clone)]
enum Attempt {
    /// (actor, holder, subject, scope) indices.
    Grant(usize, usize, usize, usize),
    /// (actor, index into the current grants of A's users).
    Revoke(usize, usize),
    /// (actor, holder): an API key acting as the holder.
    Key(usize, usize),
    /// (actor, group, user): adding a user of A to a group of A.
    Join(usize, usize, usize),
    /// (actor, group, user): removing it.
    Leave(usize, usize, usize),
    /// (actor, group, subject, scope): giving a group of A a grant.
    GroupGrant(usize, usize, usize, usize),
    /// (actor, index into the current grants of A's groups).
    GroupRevoke(usize, usize),
}

fn attempt() -> impl Strategy<Value = Attempt> {
    prop_oneof![
        3 => (0usize..3, 0usize..5, 0usize..64, 0usize..64).prop_map(|(a, h, s, sc)| Attempt::Grant(a, h, s, sc)),
        1 => (0usize..3, 0usize..64).prop_map(|(a, g)| Attempt::Revoke(a, g)),
        1 => (0usize..3, 0usize..5).prop_map(|(a, h)| Attempt::Key(a, h)),
        2 => (0usize..3, 0usize..2, 0usize..5).prop_map(|(a, g, u)| Attempt::Join(a, g, u)),
        1 => (0usize..3, 0usize..2, 0usize..5).prop_map(|(a, g, u)| Attempt::Leave(a, g, u)),
        2 => (0usize..3, 0usize..2, 0usize..64, 0usize..64).prop_map(|(a, g, s, sc)| Attempt::GroupGrant(a, g, s, sc)),
        1 => (0usize..3, 0usize..64).prop_map(|(a, g)| Attempt::GroupRevoke(a, g)),
    ]
}

/// Asserts that `actor` could have made or removed each of `grants`
/// itself (SPEC §2.3): `grants:write` and every permission over its scope.
fn could_make_each(base: &Model, actor: UserId, grants: &[Grant]) -> Result<(), TestCaseError> {
    for g in grants {
        prop_assert!(
            base.holds_over(actor, perms::grants_write(), &g.scope, Moment::of(now())),
            "escalation: touched a grant at {} without grants:write there",
            g.scope
        );
        for p in handed_out(base, g) {
            prop_assert!(
                may_hand_out(base, actor, p, &g.scope),
                "escalation: handed out or took away {} at {} without holding it",
                rules::code_of(base, p),
                g.scope
            );
        }
    }
    Ok(())
}

/// The permissions `g` hands out, as the model resolves them.
fn handed_out(m: &Model, g: &Grant) -> Vec<PermissionId> {
    m.grant_permissions(g)
}

/// What "holds" means for handing out: the actor holds `p` over the scope,
/// or `p` is a custom permission (of the holder's organization) and the
/// actor is an owner (`organizations:write`) over the scope, because owners
/// have every permission and built-in roles cannot list custom ones.
fn may_hand_out(m: &Model, actor: UserId, p: PermissionId, scope: &Scope) -> bool {
    m.holds_over(actor, p, scope, Moment::of(now()))
        || (m.permission(p).is_some_and(|q| q.organization_id.is_some())
            && m.holds_over(
                actor,
                perms::organizations_write(),
                scope,
                Moment::of(now()),
            ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn nobody_grants_or_revokes_more_than_they_hold(
        actor_grants in prop::collection::vec(prop::collection::vec((0usize..64, 0usize..64), 0..4), 3),
        attempts in prop::collection::vec(attempt(), 1..24),
    ) {
        let w = world();
        let mut model = w.model.clone();
        for (i, gs) in actor_grants.iter().enumerate() {
            model = give(&w, &model, w.users_a[i], gs);
        }
        let subjects = subjects(&w);
        let scopes = all_scopes(&w);
        for at in attempts {
            let base = model.clone();
            match at {
                Attempt::Grant(a, h, s, sc) => {
                    let actor = w.users_a[a];
                    let holder = w.users_a[h];
                    let scope = scopes[sc % scopes.len()];
                    let ctx = Context::user(actor, None, now());
                    let mut d = Draft::new(&base, &ctx);
                    let res = ops::create_grant(&mut d, holder, ops::NewGrant { subject: subjects[s % subjects.len()].clone(), scope, expires_at: None });
                    match res {
                        Ok((g, created)) => {
                            prop_assert_ne!(actor, holder, "self guard: changed own grants");
                            prop_assert!(base.holds_over(actor, perms::grants_write(), &scope, Moment::of(now())),
                                "granted at {} without grants:write there", scope);
                            for p in handed_out(&base, &g) {
                                prop_assert!(may_hand_out(&base, actor, p, &scope),
                                    "escalation: handed out {} at {} without holding it", rules::code_of(&base, p), scope);
                            }
                            prop_assert_eq!(created, !d.is_empty());
                            let outcome = d.finish();
                            prop_assert!(outcome.is_ok(), "creating a grant cannot lock anyone out: {:?}", outcome.err());
                            if let Ok(o) = outcome {
                                model = o.model;
                            }
                        }
                        Err(e) => {
                            prop_assert!(d.is_empty(), "a failed grant recorded changes: {e}");
                            if actor == holder {
                                prop_assert!(
                                    matches!(e, DomainError::SelfChange { .. } | DomainError::Invalid { .. } | DomainError::NotFound { .. }),
                                    "self grant answered {e:?}"
                                );
                            }
                        }
                    }
                }
                Attempt::Revoke(a, gi) => {
                    let actor = w.users_a[a];
                    let all: Vec<_> = w.users_a.iter().flat_map(|u| base.grants_of(*u).collect::<Vec<_>>()).collect();
                    if all.is_empty() {
                        continue;
                    }
                    let g = all[gi % all.len()].clone();
                    let ctx = Context::user(actor, None, now());
                    let mut d = Draft::new(&base, &ctx);
                    match ops::delete_grant(&mut d, g.holder, g.id) {
                        Ok(()) => {
                            prop_assert_ne!(GrantHolder::User(actor), g.holder, "self guard: removed own grant");
                            prop_assert!(base.holds_over(actor, perms::grants_write(), &g.scope, Moment::of(now())));
                            for p in handed_out(&base, &g) {
                                prop_assert!(may_hand_out(&base, actor, p, &g.scope),
                                    "escalation: took away {} at {} without holding it", rules::code_of(&base, p), g.scope);
                            }
                            match d.finish() {
                                Ok(o) => model = o.model,
                                Err(e) => prop_assert!(matches!(e, DomainError::Lockout { .. }), "{e:?}"),
                            }
                        }
                        Err(e) => prop_assert!(d.is_empty(), "a failed revoke recorded changes: {e}"),
                    }
                }
                Attempt::Join(a, gi, u) | Attempt::Leave(a, gi, u) => {
                    let (actor, user, group) = (w.users_a[a], w.users_a[u], w.groups_a[gi]);
                    let joining = matches!(at, Attempt::Join(..));
                    let ctx = Context::user(actor, None, now());
                    let mut d = Draft::new(&base, &ctx);
                    let res = if joining {
                        ops::add_group_member(&mut d, group, user, None).map(drop)
                    } else {
                        ops::remove_group_member(&mut d, group, user)
                    };
                    match res {
                        Ok(()) => {
                            prop_assert_ne!(actor, user, "self guard: changed own membership");
                            let grants: Vec<Grant> = base.grants_of(group).collect();
                            could_make_each(&base, actor, &grants)?;
                            match d.finish() {
                                Ok(o) => model = o.model,
                                Err(e) => prop_assert!(
                                    !joining && matches!(e, DomainError::Lockout { .. }),
                                    "{e:?}"
                                ),
                            }
                        }
                        Err(e) => {
                            prop_assert!(d.is_empty(), "a failed membership change recorded changes: {e}");
                            if actor == user {
                                prop_assert!(
                                    matches!(e, DomainError::SelfChange { .. } | DomainError::Forbidden { .. } | DomainError::NotFound { .. }),
                                    "own membership answered {e:?}"
                                );
                            }
                        }
                    }
                }
                Attempt::GroupGrant(a, gi, s, sc) => {
                    let (actor, group) = (w.users_a[a], w.groups_a[gi]);
                    let scope = scopes[sc % scopes.len()];
                    let ctx = Context::user(actor, None, now());
                    let mut d = Draft::new(&base, &ctx);
                    let res = ops::create_grant(&mut d, group, ops::NewGrant { subject: subjects[s % subjects.len()].clone(), scope, expires_at: None });
                    match res {
                        Ok((g, created)) => {
                            prop_assert!(base.group_member(group, actor).is_none(), "self guard: changed the grants of own group");
                            could_make_each(&base, actor, std::slice::from_ref(&g))?;
                            prop_assert_eq!(created, !d.is_empty());
                            let outcome = d.finish();
                            prop_assert!(outcome.is_ok(), "giving a group a grant cannot lock anyone out: {:?}", outcome.err());
                            if let Ok(o) = outcome {
                                model = o.model;
                            }
                        }
                        Err(e) => prop_assert!(d.is_empty(), "a failed group grant recorded changes: {e}"),
                    }
                }
                Attempt::GroupRevoke(a, gi) => {
                    let actor = w.users_a[a];
                    let all: Vec<_> = w.groups_a.iter().flat_map(|g| base.grants_of(*g).collect::<Vec<_>>()).collect();
                    if all.is_empty() {
                        continue;
                    }
                    let g = all[gi % all.len()].clone();
                    let ctx = Context::user(actor, None, now());
                    let mut d = Draft::new(&base, &ctx);
                    match ops::delete_grant(&mut d, g.holder, g.id) {
                        Ok(()) => {
                            let group = g.holder.group().unwrap();
                            prop_assert!(base.group_member(group, actor).is_none(), "self guard: removed a grant of own group");
                            could_make_each(&base, actor, std::slice::from_ref(&g))?;
                            match d.finish() {
                                Ok(o) => model = o.model,
                                Err(e) => prop_assert!(matches!(e, DomainError::Lockout { .. }), "{e:?}"),
                            }
                        }
                        Err(e) => prop_assert!(d.is_empty(), "a failed group revoke recorded changes: {e}"),
                    }
                }
                Attempt::Key(a, h) => {
                    // A key acts as its user: minting one for somebody else
                    // hands out everything that user holds.
                    let (actor, holder) = (w.users_a[a], w.users_a[h]);
                    let ctx = Context::user(actor, None, now());
                    let mut d = Draft::new(&base, &ctx);
                    let new = ops::NewApiKey {
                        scopes: None,
                        user_id: holder,
                        name: DisplayName::parse("k").unwrap(),
                        expires_at: None,
                        key_id: format!("k{}", UserId::new().as_uuid().simple()),
                        secret: "s".into(),
                    };
                    if ops::create_api_key(&mut d, new).is_ok() && actor != holder {
                        for g in base.grants_of(holder) {
                            for p in handed_out(&base, &g) {
                                prop_assert!(may_hand_out(&base, actor, p, &g.scope),
                                    "escalation: a key acting as a holder of {} at {}", rules::code_of(&base, p), g.scope);
                            }
                        }
                    }
                }
            }
        }
        // Whatever happened, every tenant grant lies in its holder's
        // organization, and every member of a group of A is a user of A.
        for g in &w.groups_a {
            for m in model.group_members(*g) {
                prop_assert!(w.users_a.contains(&m.user_id));
            }
        }
        for h in w.users_a.iter().map(|u| GrantHolder::User(*u)).chain(w.groups_a.iter().map(|g| GrantHolder::Group(*g))) {
            for g in model.grants_of(h) {
                if g.scope != Scope::Global {
                    prop_assert_eq!(g.scope.organization(|x| model.account_org(x)), Some(w.org_a));
                }
            }
        }
    }
}

/// The examples the matrix tests name, as plain unit tests of the guard.
#[test]
fn escalation_examples() {
    let w = world();
    let org_admin = w.users_a[0];
    let acc_admin = w.users_a[1];
    let target = w.users_a[2];
    let model = give(&w, &w.model, org_admin, &[(1, 0)]); // admin at organization A
    let model = give(&w, &model, acc_admin, &[(1, 2)]); // admin at account A1
    let try_grant = |actor: UserId, subject: GrantSubject, scope: Scope| {
        let ctx = Context::user(actor, None, now());
        let mut d = Draft::new(&model, &ctx);
        ops::create_grant(
            &mut d,
            target,
            ops::NewGrant {
                subject,
                scope,
                expires_at: None,
            },
        )
        .map(|_| ())
    };
    let forbidden = |r: Result<(), DomainError>| matches!(r, Err(DomainError::Forbidden { .. }));
    assert!(forbidden(try_grant(
        org_admin,
        GrantSubject::Role(role("owner")),
        Scope::Organization(w.org_a)
    )));
    assert!(forbidden(try_grant(
        org_admin,
        GrantSubject::Permission(w.perm_a),
        Scope::Organization(w.org_a)
    )));
    assert!(try_grant(
        org_admin,
        GrantSubject::Role(role("admin")),
        Scope::Organization(w.org_a)
    )
    .is_ok());
    assert!(forbidden(try_grant(
        acc_admin,
        GrantSubject::Role(role("viewer")),
        Scope::Organization(w.org_a)
    )));
    assert!(forbidden(try_grant(
        acc_admin,
        GrantSubject::Role(role("viewer")),
        Scope::Account(w.acc_a[1])
    )));
    assert!(try_grant(
        acc_admin,
        GrantSubject::Role(role("viewer")),
        Scope::Account(w.acc_a[0])
    )
    .is_ok());
    // An owner at A (`organizations:write`) may hand out A's custom permission.
    let owner_a = w.users_a[3];
    let model = give(&w, &model, owner_a, &[(0, 0)]);
    let ctx = Context::user(owner_a, None, now());
    let mut d = Draft::new(&model, &ctx);
    assert!(ops::create_grant(
        &mut d,
        target,
        ops::NewGrant {
            subject: GrantSubject::Permission(w.perm_a),
            scope: Scope::Organization(w.org_a),
            expires_at: None
        }
    )
    .is_ok());
    let ctx = Context::user(org_admin, None, now());
    let mut d = Draft::new(&model, &ctx);
    let own = ops::create_grant(
        &mut d,
        org_admin,
        ops::NewGrant {
            subject: GrantSubject::Role(role("viewer")),
            scope: Scope::Account(w.acc_a[0]),
            expires_at: None,
        },
    );
    assert!(matches!(own, Err(DomainError::SelfChange { .. })));
}

// ----- tenant isolation ------------------------------------------------------

/// Ids an operation is aimed at: B's real objects, or ones that do not exist.
#[derive(Clone, Debug)]
struct Aim {
    org: OrganizationId,
    account: AccountId,
    user: UserId,
    grant: GrantId,
    key: ApiKeyId,
    role: RoleId,
    group: GroupId,
    group_grant: GrantId,
}

fn aim_at_b(w: &World) -> Aim {
    Aim {
        org: w.org_b,
        account: w.acc_b,
        user: w.user_b,
        grant: w.grant_b,
        key: w.key_b,
        role: w.role_b.clone(),
        group: w.group_b,
        group_grant: w.group_grant_b,
    }
}

fn aim_at_nothing() -> Aim {
    Aim {
        org: OrganizationId::new(),
        account: AccountId::new(),
        user: UserId::new(),
        grant: GrantId::new(),
        key: ApiKeyId::new(),
        role: role("no-such-role"),
        group: GroupId::new(),
        group_grant: GrantId::new(),
    }
}

const OPS: usize = 48;

/// Runs operation `i` aimed at `t` as the actor; `a_user` is a user of A
/// and `a_group` a group of A (for operations that take one object of each
/// side).
fn run_op(
    i: usize,
    d: &mut Draft<'_>,
    t: &Aim,
    a_user: UserId,
    a_group: GroupId,
) -> Result<(), DomainError> {
    let pre = Precondition::NONE;
    let name = || DisplayName::parse("x");
    match i {
        0 => ops::get_organization(d, t.org).map(drop),
        1 => ops::update_organization(
            d,
            t.org,
            ops::OrganizationPatch {
                name: Some(name()?),
                slug: None,
            },
            pre,
        )
        .map(drop),
        2 => ops::delete_organization(d, t.org, pre),
        3 => ops::create_account(
            d,
            ops::NewAccount {
                id: None,
                organization_id: t.org,
                name: name()?,
                kind: AccountType::Client,
                status: None,
            },
        )
        .map(drop),
        4 => ops::list_accounts(d, t.org, None, 100).map(drop),
        5 => ops::get_account(d, t.account).map(drop),
        6 => ops::update_account(
            d,
            t.account,
            ops::AccountPatch {
                name: Some(name()?),
                ..Default::default()
            },
            pre,
        )
        .map(drop),
        7 => ops::delete_account(d, t.account, pre),
        8 => new_user(d, t.org, "new@x.example").map(drop),
        9 => ops::get_user(d, t.user).map(drop),
        10 => ops::update_user(
            d,
            t.user,
            ops::UserPatch {
                first_name: Some(Some(PersonName::parse("X")?)),
                ..Default::default()
            },
            pre,
        )
        .map(drop),
        11 => ops::delete_user(d, t.user, pre),
        12 => ops::list_users(
            d,
            &ops::UserFilter {
                organization_id: Some(t.org),
                ..Default::default()
            },
            None,
            100,
        )
        .map(drop),
        13 => ops::list_users(
            d,
            &ops::UserFilter {
                account_id: Some(t.account),
                ..Default::default()
            },
            None,
            100,
        )
        .map(drop),
        14 => ops::add_member(
            d,
            ops::NewMembership {
                id: None,
                account_id: t.account,
                user_id: t.user,
                status: None,
                groups: vec![],
            },
        )
        .map(drop),
        15 => ops::remove_member(d, t.account, t.user),
        16 => new_permission(d, t.org, "x:y").map(drop),
        17 => ops::list_roles(d, t.org).map(drop),
        18 => ops::get_role(d, t.org, &role("viewer")).map(drop),
        19 => ops::update_role(
            d,
            t.org,
            &t.role,
            ops::RolePatch {
                name: Some(name()?),
                ..Default::default()
            },
            pre,
        )
        .map(drop),
        20 => ops::delete_role(d, t.org, &t.role, pre),
        21 => ops::list_grants(d, t.user).map(drop),
        22 => ops::create_grant(
            d,
            t.user,
            ops::NewGrant {
                subject: GrantSubject::Role(role("viewer")),
                scope: Scope::Account(t.account),
                expires_at: None,
            },
        )
        .map(drop),
        23 => ops::create_grant(
            d,
            a_user,
            ops::NewGrant {
                subject: GrantSubject::Role(role("viewer")),
                scope: Scope::Account(t.account),
                expires_at: None,
            },
        )
        .map(drop),
        24 => ops::delete_grant(d, t.user, t.grant),
        25 => ops::delete_grant(d, a_user, t.grant),
        26 => ops::create_api_key(
            d,
            ops::NewApiKey {
                scopes: None,
                user_id: t.user,
                name: name()?,
                expires_at: None,
                key_id: "kx".into(),
                secret: "s".into(),
            },
        )
        .map(drop),
        27 => ops::revoke_api_key(d, t.key).map(drop),
        28 => ops::update_grant(d, t.user, t.grant, None, pre).map(drop),
        29 => ops::create_group(
            d,
            ops::NewGroup {
                id: None,
                organization_id: t.org,
                name: name()?,
                description: None,
            },
        )
        .map(drop),
        30 => ops::list_groups(d, t.org, None, 100).map(drop),
        31 => ops::get_group(d, t.group).map(drop),
        32 => ops::update_group(
            d,
            t.group,
            ops::GroupPatch {
                name: Some(name()?),
                description: None,
            },
            pre,
        )
        .map(drop),
        33 => ops::delete_group(d, t.group, pre),
        34 => ops::list_group_members(d, t.group, None, 100).map(drop),
        35 => ops::add_group_member(d, t.group, a_user, None).map(drop),
        36 => ops::add_group_member(d, t.group, t.user, None).map(drop),
        37 => ops::add_group_member(d, a_group, t.user, None).map(drop),
        38 => ops::update_group_member(d, t.group, t.user, None, pre).map(drop),
        39 => ops::remove_group_member(d, t.group, t.user),
        40 => ops::groups_of_user(d, t.user).map(drop),
        41 => ops::set_user_groups(d, t.user, &[t.group], &|i| format!("groups[{i}]")).map(drop),
        42 => ops::list_grants(d, t.group).map(drop),
        43 => ops::create_grant(
            d,
            t.group,
            ops::NewGrant {
                subject: GrantSubject::Role(role("viewer")),
                scope: Scope::Account(t.account),
                expires_at: None,
            },
        )
        .map(drop),
        44 => ops::create_grant(
            d,
            a_group,
            ops::NewGrant {
                subject: GrantSubject::Role(role("viewer")),
                scope: Scope::Account(t.account),
                expires_at: None,
            },
        )
        .map(drop),
        45 => ops::update_grant(d, t.group, t.group_grant, None, pre).map(drop),
        46 => ops::delete_grant(d, t.group, t.group_grant),
        _ => ops::delete_grant(d, a_group, t.group_grant),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_tenant_never_reads_or_changes_another(
        grants in prop::collection::vec((0usize..64, 0usize..64), 0..6),
        op in 0usize..OPS,
        actor_i in 0usize..3,
    ) {
        let w = world();
        let actor = w.users_a[actor_i];
        let model = give(&w, &w.model, actor, &grants);
        let ctx = Context::user(actor, Some("req".into()), now());
        let a_user = w.users_a[3];
        let a_group = w.groups_a[0];

        let mut on_b = Draft::new(&model, &ctx);
        let res_b = run_op(op, &mut on_b, &aim_at_b(&w), a_user, a_group);
        let mut on_nothing = Draft::new(&model, &ctx);
        let res_none = run_op(op, &mut on_nothing, &aim_at_nothing(), a_user, a_group);

        prop_assert!(on_b.is_empty(), "op {op} on B recorded changes: {:?}", res_b);
        // Adding B's user to A's group asks first whether the actor may
        // manage A's group: without `users:write` over A it is refused so,
        // the same for B's user as for one that does not exist.
        let refused_in_a = op == 37
            && matches!(res_b, Err(DomainError::Forbidden { .. }))
            && matches!(res_none, Err(DomainError::Forbidden { .. }));
        prop_assert!(refused_in_a || matches!(res_b, Err(DomainError::NotFound { .. })), "op {op} on B answered {:?}", res_b);
        prop_assert!(refused_in_a || matches!(res_none, Err(DomainError::NotFound { .. })), "op {op} on nothing answered {:?}", res_none);

        // Lists never show B's objects.
        let d = Draft::new(&model, &ctx);
        let users = ops::list_users(&d, &ops::UserFilter::default(), None, 10_000).unwrap_or_default();
        prop_assert!(users.iter().all(|u| u.organization_id == w.org_a));
        prop_assert!(ops::list_permissions(&d).iter().all(|p| p.id != w.perm_b));
        prop_assert!(ops::list_api_keys(&d).iter().all(|k| k.id != w.key_b));
        let groups = ops::list_groups(&d, w.org_a, None, 10_000).unwrap_or_default();
        prop_assert!(groups.iter().all(|g| g.organization_id == w.org_a));
        prop_assert!(!rules::can_reach(&model, &Actor::user(actor), w.org_b));
    }
}

// ----- the expiry sweep ----------------------------------------------------------

#[test]
fn expire_due_removes_exactly_what_has_expired() {
    let w = world();
    let t0 = now();
    let soon = t0 + time::Duration::seconds(10);
    let later = t0 + time::Duration::hours(1);
    let (u, v) = (w.users_a[1], w.users_a[2]);
    let give = |d: &mut Draft<'_>, role: &str, expires_at| {
        ops::create_grant(
            d,
            u,
            ops::NewGrant {
                subject: GrantSubject::Role(self::role(role)),
                scope: Scope::Organization(w.org_a),
                expires_at,
            },
        )
        .map(|(g, _)| g.id)
    };
    let (model, (soon_grant, later_grant, permanent_grant, group)) = system(&w.model, |d| {
        let s = give(d, "viewer", Some(soon))?;
        let l = give(d, "member", Some(later))?;
        let p = give(d, "support", None)?;
        let group = ops::create_group(
            d,
            ops::NewGroup {
                id: None,
                organization_id: w.org_a,
                name: DisplayName::parse("Temps")?,
                description: None,
            },
        )?;
        ops::add_group_member(d, group.id, v, Some(soon))?;
        ops::add_group_member(d, group.id, u, None)?;
        Ok((s, l, p, group.id))
    });
    let sweep_ctx = |at| Context {
        reason: Some("expired"),
        ..Context::system(at)
    };

    // Before the expiry: nothing is due.
    let ctx = sweep_ctx(soon - time::Duration::microseconds(1));
    let mut d = Draft::new(&model, &ctx);
    assert_eq!(ops::expire_due(&mut d, 100).unwrap(), 0);
    assert!(d.is_empty());

    // At the expiry (to the microsecond): the grant and the membership,
    // at most `limit` per call.
    let ctx = sweep_ctx(soon);
    let mut d = Draft::new(&model, &ctx);
    assert_eq!(ops::expire_due(&mut d, 1).unwrap(), 1);
    assert_eq!(ops::expire_due(&mut d, 100).unwrap(), 1);
    assert_eq!(ops::expire_due(&mut d, 100).unwrap(), 0);
    let out = d.finish().unwrap();
    let actions: BTreeSet<&str> = out.audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["grant.expire", "group_member.expire"]
            .into_iter()
            .collect()
    );
    assert!(out
        .audit
        .iter()
        .all(|e| e.actor_id.is_none() && e.reason.as_deref() == Some("expired")));
    let m = &out.model;
    assert!(m.grant(u, soon_grant).is_none());
    assert!(m.grant(u, later_grant).is_some() && m.grant(u, permanent_grant).is_some());
    assert!(m.group_member(group, v).is_none());
    assert!(m.group_member(group, u).is_some());
    assert_eq!(m.next_expiry(), Some(Moment::of(later)));

    // Sweeping the result again removes nothing.
    let mut d = Draft::new(m, &ctx);
    assert_eq!(ops::expire_due(&mut d, 100).unwrap(), 0);
    assert!(d.is_empty());

    // A user may not sweep, whatever it holds.
    let ctx = Context::user(w.user_b, None, soon);
    let mut d = Draft::new(&model, &ctx);
    assert!(matches!(
        ops::expire_due(&mut d, 100),
        Err(DomainError::Forbidden { .. })
    ));
    assert!(d.is_empty());
}

/// What has expired is gone before the sweeper removes it: a new expiry
/// does not bring it back (`404`), and granting or adding it again makes a
/// new grant or membership instead of answering with the expired one.
#[test]
fn an_expired_grant_or_membership_is_not_revived() {
    let w = world();
    let t0 = now();
    let soon = t0 + time::Duration::seconds(10);
    let u = w.users_a[1];
    let viewer = || ops::NewGrant {
        subject: GrantSubject::Role(role("viewer")),
        scope: Scope::Organization(w.org_a),
        expires_at: Some(soon),
    };
    let (model, (grant, group)) = system(&w.model, |d| {
        let (g, _) = ops::create_grant(d, u, viewer())?;
        let group = ops::create_group(
            d,
            ops::NewGroup {
                id: None,
                organization_id: w.org_a,
                name: DisplayName::parse("Temps")?,
                description: None,
            },
        )?;
        ops::add_group_member(d, group.id, u, Some(soon))?;
        Ok((g.id, group.id))
    });
    let after = Context::system(soon + time::Duration::seconds(1));
    let mut d = Draft::new(&model, &after);
    let later = Some(soon + time::Duration::hours(1));
    assert!(matches!(
        ops::update_grant(&mut d, u, grant, later, ops::Precondition::NONE),
        Err(DomainError::NotFound { .. })
    ));
    assert!(matches!(
        ops::update_group_member(&mut d, group, u, later, ops::Precondition::NONE),
        Err(DomainError::NotFound { .. })
    ));
    assert!(d.is_empty());
    let (again, created) = ops::create_grant(
        &mut d,
        u,
        ops::NewGrant {
            expires_at: later,
            ..viewer()
        },
    )
    .unwrap();
    assert!(created && again.id != grant);
    let (member, added) = ops::add_group_member(&mut d, group, u, later).unwrap();
    assert!(added && member.expires_at == later);
}
