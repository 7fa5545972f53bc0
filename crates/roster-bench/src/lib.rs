//! Benchmarks only: never a dependency of the product.
//!
//! One synthetic RBAC-with-domains data set (organizations, their accounts,
//! users with about ten role grants each, at account, `accounts(O)` and
//! organization scope), expressed three ways: as Roster's [`Model`], as a
//! cedar-policy entity store with four constant policies, and as a casbin
//! RBAC-with-domains model. The same pre-built queries run against each, and
//! [`Bench::agree`] checks the three engines give the same answers before
//! anything is timed.
//!
//! Inputs are prepared outside the timed region for every engine (parsed
//! UUIDs for Roster, built `Request`s for cedar, owned strings for casbin), so
//! what is measured is the decision itself.
#![expect(
    clippy::expect_used,
    reason = "benchmark setup: a failure is a bug in the benchmark, not a condition to handle"
)]

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use roster_authz::On;
use roster_domain::catalogue::{builtin_permission_id, builtin_roles};
use roster_domain::*;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use time::OffsetDateTime;

/// Roles the data set grants (built-ins).
pub const ROLES: &[&str] = &["admin", "member", "viewer"];
/// Permissions the queries ask about (allowed by some roles, not others).
pub const CODES: &[&str] = &[
    "users:read",
    "authz:check",
    "grants:write",
    "accounts:write",
    "organizations:write",
];

/// Shape of a data set.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Users.
    pub users: usize,
    /// Users per organization.
    pub users_per_org: usize,
    /// Accounts per organization.
    pub accounts_per_org: usize,
    /// Grants per user.
    pub grants_per_user: usize,
    /// Groups each user is a member of (0: no groups at all).
    pub groups_per_user: usize,
    /// Groups per organization (when users are in groups).
    pub groups_per_org: usize,
    /// Grants per group.
    pub grants_per_group: usize,
}

impl Shape {
    /// `users` users, 100 per organization, 10 accounts each, 10 grants per user.
    pub fn users(users: usize) -> Self {
        Self {
            users,
            users_per_org: 100,
            accounts_per_org: 10,
            grants_per_user: 10,
            groups_per_user: 0,
            groups_per_org: 10,
            grants_per_group: 3,
        }
    }
    /// The same, each user also a member of `n` groups of its organization
    /// (10 per organization, 3 grants each).
    pub fn with_groups(self, n: usize) -> Self {
        Self {
            groups_per_user: n,
            ..self
        }
    }
    /// Number of organizations.
    pub fn orgs(&self) -> usize {
        self.users.div_ceil(self.users_per_org).max(1)
    }
}

/// SplitMix64: small, fast, deterministic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// A random UUID (v4 layout).
    pub fn uuid(&mut self) -> uuid::Uuid {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&hi.to_be_bytes());
        b[8..].copy_from_slice(&lo.to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        uuid::Uuid::from_bytes(b)
    }
}

/// One grant of the data set.
#[derive(Clone, Debug)]
pub struct GrantSpec {
    /// Holder.
    pub user: UserId,
    /// Built-in role (index into [`ROLES`]).
    pub role: usize,
    /// Scope.
    pub scope: Scope,
}

/// One group of the data set.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    /// Id.
    pub id: GroupId,
    /// Organization index.
    pub org: usize,
    /// Its grants: built-in role (index into [`ROLES`]) and scope.
    pub grants: Vec<(usize, Scope)>,
}

/// A generated data set.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Shape it was generated with.
    pub shape: Shape,
    /// Organizations.
    pub orgs: Vec<OrganizationId>,
    /// Accounts of each organization.
    pub accounts: Vec<Vec<AccountId>>,
    /// Users with their organization index.
    pub users: Vec<(UserId, usize)>,
    /// Grants.
    pub grants: Vec<GrantSpec>,
    /// Groups (none unless the shape puts users in groups).
    pub groups: Vec<GroupSpec>,
    /// Memberships: user and group.
    pub members: Vec<(UserId, GroupId)>,
}

/// One question, as each engine is asked it.
#[derive(Clone, Copy, Debug)]
pub struct Query {
    /// User index.
    pub user: usize,
    /// Permission index into [`CODES`].
    pub code: usize,
    /// Organization index of the target.
    pub org: usize,
    /// Account index within the organization, or `None` for the organization itself.
    pub account: Option<usize>,
}

impl Dataset {
    /// Generates a data set: users are spread evenly over organizations;
    /// each user gets `grants_per_user` grants of a random role (admin 10%,
    /// member 30%, viewer 60%): one in ten at its organization, one in
    /// twenty at `accounts(O)`, the rest on distinct accounts of its
    /// organization.
    pub fn generate(shape: Shape, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let n_orgs = shape.orgs();
        let orgs: Vec<OrganizationId> = (0..n_orgs).map(|_| OrganizationId(rng.uuid())).collect();
        let accounts: Vec<Vec<AccountId>> = (0..n_orgs)
            .map(|_| {
                (0..shape.accounts_per_org)
                    .map(|_| AccountId(rng.uuid()))
                    .collect()
            })
            .collect();
        let users: Vec<(UserId, usize)> = (0..shape.users)
            .map(|i| (UserId(rng.uuid()), i % n_orgs))
            .collect();
        let mut grants = Vec::with_capacity(shape.users * shape.grants_per_user);
        for &(user, org) in &users {
            let mut order: Vec<usize> = (0..shape.accounts_per_org).collect();
            for j in 0..shape.grants_per_user {
                let role = match rng.below(10) {
                    0 => 0,
                    1..=3 => 1,
                    _ => 2,
                };
                let scope = match rng.below(20) {
                    0 | 1 => Scope::Organization(orgs[org]),
                    2 => Scope::Accounts(orgs[org]),
                    _ => {
                        // A distinct account while there are some left.
                        let left = order.len().saturating_sub(j.min(order.len()));
                        if left == 0 || order.is_empty() {
                            Scope::Account(accounts[org][rng.below(shape.accounts_per_org)])
                        } else {
                            let k = rng.below(order.len());
                            let a = order.swap_remove(k);
                            Scope::Account(accounts[org][a])
                        }
                    }
                };
                grants.push(GrantSpec { user, role, scope });
            }
        }
        // Groups come from their own generator, so a data set with groups
        // has exactly the users, grants and queries of the one without.
        let (groups, members) = if shape.groups_per_user == 0 {
            (Vec::new(), Vec::new())
        } else {
            let mut rng = Rng::new(seed ^ 0x6120_0095);
            let groups: Vec<GroupSpec> = (0..n_orgs)
                .flat_map(|o| (0..shape.groups_per_org).map(move |_| o))
                .map(|org| GroupSpec {
                    id: GroupId(rng.uuid()),
                    org,
                    grants: (0..shape.grants_per_group)
                        .map(|_| {
                            let role = match rng.below(10) {
                                0 => 0,
                                1..=3 => 1,
                                _ => 2,
                            };
                            let scope = match rng.below(10) {
                                0 => Scope::Organization(orgs[org]),
                                _ => {
                                    Scope::Account(accounts[org][rng.below(shape.accounts_per_org)])
                                }
                            };
                            (role, scope)
                        })
                        .collect(),
                })
                .collect();
            let per_org = shape.groups_per_org;
            let mut members = Vec::with_capacity(shape.users * shape.groups_per_user);
            for &(user, org) in &users {
                let mut order: Vec<usize> = (0..per_org).collect();
                for _ in 0..shape.groups_per_user.min(per_org) {
                    let g = order.swap_remove(rng.below(order.len()));
                    members.push((user, groups[org * per_org + g].id));
                }
            }
            (groups, members)
        };
        Self {
            shape,
            orgs,
            accounts,
            users,
            grants,
            groups,
            members,
        }
    }

    /// `n` queries: a random user, a random permission, and 80% of the time
    /// an account of the user's organization (10% the organization itself),
    /// 10% an account of another organization.
    pub fn queries(&self, n: usize, seed: u64) -> Vec<Query> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| {
                let user = rng.below(self.users.len());
                let own = self.users[user].1;
                let code = rng.below(CODES.len());
                match rng.below(10) {
                    0 => Query {
                        user,
                        code,
                        org: own,
                        account: None,
                    },
                    1 => Query {
                        user,
                        code,
                        org: rng.below(self.orgs.len()),
                        account: Some(rng.below(self.shape.accounts_per_org)),
                    },
                    _ => Query {
                        user,
                        code,
                        org: own,
                        account: Some(rng.below(self.shape.accounts_per_org)),
                    },
                }
            })
            .collect()
    }

    /// The committed changes that load this data set into a model.
    pub fn changes(&self) -> impl Iterator<Item = Change> + '_ {
        let now = OffsetDateTime::UNIX_EPOCH;
        let orgs = self.orgs.iter().enumerate().map(move |(i, id)| {
            Change::PutOrganization(Organization {
                id: *id,
                name: DisplayName::parse(&format!("Org {i}")).expect("valid name"),
                slug: Slug::parse(&format!("org-{i}")).expect("valid slug"),
                revision: 1,
                created_at: now,
                updated_at: now,
            })
        });
        let accounts = self.accounts.iter().enumerate().flat_map(move |(o, accs)| {
            accs.iter().map(move |a| {
                Change::PutAccount(Account {
                    id: *a,
                    organization_id: self.orgs[o],
                    name: DisplayName::parse("Account").expect("valid name"),
                    kind: AccountType::Client,
                    status: AccountStatus::Active,
                    revision: 1,
                    created_at: now,
                    updated_at: now,
                })
            })
        });
        let users = self.users.iter().enumerate().map(move |(i, (id, o))| {
            Change::PutUser(User {
                id: *id,
                organization_id: self.orgs[*o],
                email: Email::parse(&format!("user{i}@example.com")).expect("valid email"),
                first_name: None,
                last_name: None,
                phone: None,
                settings: None,
                external_ids: Default::default(),
                status: UserStatus::Active,
                created_at: now,
                created_by: None,
                updated_at: now,
                updated_by: None,
                deleted_at: None,
                revision: 1,
            })
        });
        let roles: Vec<RoleKey> = ROLES
            .iter()
            .filter_map(|r| RoleId::parse(r).ok())
            .map(|id| RoleKey {
                organization_id: None,
                id,
            })
            .collect();
        let roles2 = roles.clone();
        let mut rng = Rng::new(0x5eed);
        let grants = self.grants.iter().map(move |g| {
            Change::PutGrant(Grant {
                id: GrantId(rng.uuid()),
                holder: g.user.into(),
                target: GrantTarget::Role(roles[g.role].clone()),
                scope: g.scope,
                expires_at: None,
                created_at: now,
                created_by: None,
                revision: 1,
            })
        });
        let groups = self.groups.iter().enumerate().map(move |(i, g)| {
            Change::PutGroup(Group {
                id: g.id,
                organization_id: self.orgs[g.org],
                name: DisplayName::parse(&format!("Group {i}")).expect("valid name"),
                description: String::new(),
                created_at: now,
                created_by: None,
                updated_at: now,
                revision: 1,
            })
        });
        let mut rng2 = Rng::new(0x6120);
        let group_grants = self.groups.iter().flat_map(move |g| {
            let ids: Vec<GrantId> = g.grants.iter().map(|_| GrantId(rng2.uuid())).collect();
            let roles = roles2.clone();
            g.grants.iter().zip(ids).map(move |((role, scope), id)| {
                Change::PutGrant(Grant {
                    id,
                    holder: g.id.into(),
                    target: GrantTarget::Role(roles[*role].clone()),
                    scope: *scope,
                    expires_at: None,
                    created_at: now,
                    created_by: None,
                    revision: 1,
                })
            })
        });
        let members = self.members.iter().map(move |(user, group)| {
            Change::PutGroupMember(GroupMember {
                group_id: *group,
                user_id: *user,
                expires_at: None,
                created_at: now,
                created_by: None,
                revision: 1,
            })
        });
        orgs.chain(accounts)
            .chain(users)
            .chain(grants)
            .chain(groups)
            .chain(group_grants)
            .chain(members)
    }

    /// Roster's model of the data set.
    pub fn roster(&self) -> Model {
        let mut m = Model::new();
        let accounts = self.accounts.iter().map(Vec::len).sum();
        m.reserve(self.users.len(), accounts);
        for c in self.changes() {
            m.apply(&c);
        }
        m.set_revision(1);
        m
    }

    /// The Roster form of the queries.
    pub fn roster_queries(&self, qs: &[Query]) -> Vec<(UserId, PermissionId, On)> {
        qs.iter()
            .map(|q| {
                let on = match q.account {
                    Some(a) => On::Account(self.accounts[q.org][a]),
                    None => On::Organization(self.orgs[q.org]),
                };
                (
                    self.users[q.user].0,
                    builtin_permission_id(CODES[q.code]),
                    on,
                )
            })
            .collect()
    }
}

/// The permissions of each built-in role in [`ROLES`], as codes.
fn role_codes() -> Vec<(String, Vec<String>)> {
    let code_of: HashMap<PermissionId, String> = catalogue::BUILTIN_PERMISSIONS
        .iter()
        .map(|(c, _)| (builtin_permission_id(c), (*c).to_owned()))
        .collect();
    builtin_roles()
        .into_iter()
        .filter(|r| ROLES.contains(&r.id.as_str()))
        .map(|r| {
            (
                r.id.as_str().to_owned(),
                r.permissions
                    .iter()
                    .filter_map(|p| code_of.get(p).cloned())
                    .collect(),
            )
        })
        .collect()
}

// ----- cedar -----------------------------------------------------------------

/// The data set in cedar-policy: entities and four constant policies.
///
/// Each (scope, role) pair is a `Roster::Group`: `a:<account>#role`,
/// `s:<org>#role` (every account of the org; a child of each of its account
/// groups) and `o:<org>#role` (the org and its accounts; a child of `s:`). A
/// user is a child of the groups of its grants, so `principal in
/// resource.<role>` holds exactly when a grant of that role covers the
/// resource. Each permission is an action in the action groups of the roles
/// that contain it.
#[derive(Debug)]
pub struct Cedar {
    /// Policies.
    pub policies: PolicySet,
    /// Entities (hierarchy closed transitively at construction, as cedar does).
    pub entities: Entities,
    authorizer: Authorizer,
}

fn cedar_uid(ty: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(
        EntityTypeName::from_str(ty).expect("valid type name"),
        EntityId::new(id),
    )
}

impl Cedar {
    /// Builds the cedar form of `ds`.
    pub fn build(ds: &Dataset) -> Self {
        let roles = role_codes();
        let mut src = String::new();
        for (r, _) in &roles {
            src.push_str(&format!(
                "permit(principal, action in Roster::Action::\"role:{r}\", resource)\n\
                 when {{ principal.active && resource.active && principal in resource.{r} }};\n"
            ));
        }
        let policies = PolicySet::from_str(&src).expect("benchmark setup");
        let group = |kind: &str, id: &dyn std::fmt::Display, role: &str| {
            cedar_uid("Roster::Group", &format!("{kind}:{id}#{role}"))
        };
        let mut entities: Vec<Entity> = Vec::new();
        // Actions, in their roles' groups.
        let mut action_parents: HashMap<String, HashSet<EntityUid>> = HashMap::new();
        for (r, codes) in &roles {
            entities.push(Entity::new_no_attrs(
                cedar_uid("Roster::Action", &format!("role:{r}")),
                HashSet::new(),
            ));
            for c in codes {
                action_parents
                    .entry(c.clone())
                    .or_default()
                    .insert(cedar_uid("Roster::Action", &format!("role:{r}")));
            }
        }
        for c in CODES {
            let parents = action_parents.remove(*c).unwrap_or_default();
            entities.push(Entity::new_no_attrs(
                cedar_uid("Roster::Action", &format!("perm:{c}")),
                parents,
            ));
        }
        for (o, org) in ds.orgs.iter().enumerate() {
            let mut org_attrs =
                HashMap::from([("active".to_owned(), RestrictedExpression::new_bool(true))]);
            for (r, _) in &roles {
                let account_groups: HashSet<EntityUid> =
                    ds.accounts[o].iter().map(|a| group("a", a, r)).collect();
                for a in &ds.accounts[o] {
                    entities.push(Entity::new_no_attrs(group("a", a, r), HashSet::new()));
                }
                entities.push(Entity::new_no_attrs(group("s", org, r), account_groups));
                entities.push(Entity::new_no_attrs(
                    group("o", org, r),
                    HashSet::from([group("s", org, r)]),
                ));
                org_attrs.insert(
                    r.clone(),
                    RestrictedExpression::new_entity_uid(group("o", org, r)),
                );
            }
            entities.push(
                Entity::new(
                    cedar_uid("Roster::Organization", &org.to_string()),
                    org_attrs,
                    HashSet::new(),
                )
                .expect("benchmark setup"),
            );
            for a in &ds.accounts[o] {
                let mut attrs =
                    HashMap::from([("active".to_owned(), RestrictedExpression::new_bool(true))]);
                for (r, _) in &roles {
                    attrs.insert(
                        r.clone(),
                        RestrictedExpression::new_entity_uid(group("a", a, r)),
                    );
                }
                entities.push(
                    Entity::new(
                        cedar_uid("Roster::Account", &a.to_string()),
                        attrs,
                        HashSet::from([cedar_uid("Roster::Organization", &org.to_string())]),
                    )
                    .expect("benchmark setup"),
                );
            }
        }
        let mut parents: HashMap<UserId, HashSet<EntityUid>> = HashMap::new();
        for g in &ds.grants {
            let r = ROLES[g.role];
            let p = match g.scope {
                Scope::Account(a) => group("a", &a, r),
                Scope::Accounts(o) => group("s", &o, r),
                Scope::Organization(o) => group("o", &o, r),
                Scope::Global => continue,
            };
            parents.entry(g.user).or_default().insert(p);
        }
        for (u, _) in &ds.users {
            let attrs =
                HashMap::from([("active".to_owned(), RestrictedExpression::new_bool(true))]);
            entities.push(
                Entity::new(
                    cedar_uid("Roster::User", &u.to_string()),
                    attrs,
                    parents.remove(u).unwrap_or_default(),
                )
                .expect("benchmark setup"),
            );
        }
        let entities = Entities::from_entities(entities, None).expect("benchmark setup");
        Self {
            policies,
            entities,
            authorizer: Authorizer::new(),
        }
    }

    /// The cedar form of the queries.
    pub fn requests(&self, ds: &Dataset, qs: &[Query]) -> Vec<Request> {
        qs.iter()
            .map(|q| {
                let resource = match q.account {
                    Some(a) => cedar_uid("Roster::Account", &ds.accounts[q.org][a].to_string()),
                    None => cedar_uid("Roster::Organization", &ds.orgs[q.org].to_string()),
                };
                Request::new(
                    cedar_uid("Roster::User", &ds.users[q.user].0.to_string()),
                    cedar_uid("Roster::Action", &format!("perm:{}", CODES[q.code])),
                    resource,
                    Context::empty(),
                    None,
                )
                .expect("benchmark setup")
            })
            .collect()
    }

    /// Answers one request.
    #[inline]
    pub fn check(&self, r: &Request) -> bool {
        self.authorizer
            .is_authorized(r, &self.policies, &self.entities)
            .decision()
            == Decision::Allow
    }
}

// ----- casbin ------------------------------------------------------------------

/// casbin's RBAC-with-domains model: a grant is `g, user, role, domain` with
/// domain `a:<account>`, `s:<org>` (every account of the org) or
/// `o:<org>`; a request names the account's three domains. casbin evaluates
/// the matcher once per `p` rule (role, permission).
pub const CASBIN_MODEL: &str = r#"
[request_definition]
r = sub, acc, accs, org, act

[policy_definition]
p = sub, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = (g(r.sub, p.sub, r.acc) || g(r.sub, p.sub, r.accs) || g(r.sub, p.sub, r.org)) && r.act == p.act
"#;

/// The data set in casbin.
#[allow(missing_debug_implementations)]
pub struct Casbin {
    /// The enforcer.
    pub enforcer: Enforcer,
}

/// One casbin request, prepared.
pub type CasbinRequest = (String, String, String, String, String);

impl Casbin {
    /// Builds the casbin form of `ds` (casbin's API is async: this runs it
    /// on a current-thread runtime).
    pub fn build(ds: &Dataset) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("benchmark setup");
        rt.block_on(async {
            let model = DefaultModel::from_str(CASBIN_MODEL)
                .await
                .expect("benchmark setup");
            let mut enforcer = Enforcer::new(model, MemoryAdapter::default())
                .await
                .expect("benchmark setup");
            let mut p = Vec::new();
            for (r, codes) in role_codes() {
                for c in codes {
                    p.push(vec![r.clone(), c]);
                }
            }
            enforcer.add_policies(p).await.expect("benchmark setup");
            let g: Vec<Vec<String>> = ds
                .grants
                .iter()
                .filter_map(|g| {
                    let dom = match g.scope {
                        Scope::Account(a) => format!("a:{a}"),
                        Scope::Accounts(o) => format!("s:{o}"),
                        Scope::Organization(o) => format!("o:{o}"),
                        Scope::Global => return None,
                    };
                    Some(vec![g.user.to_string(), ROLES[g.role].to_owned(), dom])
                })
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            enforcer
                .add_grouping_policies(g)
                .await
                .expect("benchmark setup");
            Self { enforcer }
        })
    }

    /// The casbin form of the queries.
    pub fn requests(ds: &Dataset, qs: &[Query]) -> Vec<CasbinRequest> {
        qs.iter()
            .map(|q| {
                let org = ds.orgs[q.org];
                let (acc, accs) = match q.account {
                    Some(a) => (format!("a:{}", ds.accounts[q.org][a]), format!("s:{org}")),
                    None => ("-".to_owned(), "-".to_owned()),
                };
                (
                    ds.users[q.user].0.to_string(),
                    acc,
                    accs,
                    format!("o:{org}"),
                    CODES[q.code].to_owned(),
                )
            })
            .collect()
    }

    /// Answers one request.
    #[inline]
    pub fn check(&self, r: &CasbinRequest) -> bool {
        self.enforcer
            .enforce((&r.0, &r.1, &r.2, &r.3, &r.4))
            .unwrap_or(false)
    }
}

/// Reads this process's resident set size in bytes (Linux), for reports.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
