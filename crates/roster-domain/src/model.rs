//! The tenant graph as one persistent (structurally shared) value.
//!
//! A [`Model`] is cheap to clone (O(1)) and cheap to change (O(log n) per
//! entity), so a writer can plan on a private copy and publish it whole once
//! the database has committed, while readers keep answering from the previous
//! copy without any lock. The model only ever changes through
//! [`Model::apply`], fed either by a write that just committed or by the
//! change log another replica wrote.

use crate::catalogue::{builtin_permissions, builtin_roles};
use crate::entity::*;
use crate::ids::*;
use crate::scope::{Scope, Target};
use imbl::{HashMap, OrdMap, OrdSet};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One committed change to one entity. The change log is a sequence of these
/// per revision; applying them in order reproduces the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", content = "data", rename_all = "snake_case")]
pub enum Change {
    /// Create or replace an organization.
    PutOrganization(Organization),
    /// Remove an (empty) organization.
    DeleteOrganization(OrganizationId),
    /// Create or replace an account.
    PutAccount(Account),
    /// Remove an account.
    DeleteAccount(AccountId),
    /// Create or replace a user (soft deletion is a put with `deleted_at`).
    PutUser(User),
    /// Create or replace a membership.
    PutMembership(Membership),
    /// Remove a membership.
    DeleteMembership(MembershipId),
    /// Create or replace a custom permission.
    PutPermission(Permission),
    /// Remove a custom permission (only with its organization).
    DeletePermission(PermissionId),
    /// Create or replace a custom role.
    PutRole(Role),
    /// Remove a custom role.
    DeleteRole(RoleKey),
    /// Create a grant.
    PutGrant(Grant),
    /// Remove a grant.
    DeleteGrant(GrantId),
    /// Create or replace an API key.
    PutApiKey(ApiKey),
}

/// The whole tenant graph at one revision.
#[derive(Clone, Debug, Default)]
pub struct Model {
    revision: Revision,
    orgs: OrdMap<OrganizationId, Arc<Organization>>,
    org_by_slug: HashMap<String, OrganizationId>,
    accounts: OrdMap<AccountId, Arc<Account>>,
    accounts_by_org: HashMap<OrganizationId, OrdSet<AccountId>>,
    users: OrdMap<UserId, Arc<User>>,
    user_by_email: HashMap<String, UserId>,
    users_by_org: HashMap<OrganizationId, OrdSet<UserId>>,
    memberships: OrdMap<MembershipId, Arc<Membership>>,
    membership_by_pair: HashMap<(UserId, AccountId), MembershipId>,
    members_by_account: HashMap<AccountId, OrdSet<UserId>>,
    accounts_by_user: HashMap<UserId, OrdSet<AccountId>>,
    permissions: OrdMap<PermissionId, Arc<Permission>>,
    permission_by_code: HashMap<(Option<OrganizationId>, String), PermissionId>,
    roles: OrdMap<RoleKey, Arc<Role>>,
    grants: OrdMap<GrantId, Arc<Grant>>,
    grants_by_user: HashMap<UserId, OrdMap<GrantId, Arc<Grant>>>,
    org_level_grants: HashMap<OrganizationId, OrdSet<GrantId>>,
    api_keys: OrdMap<ApiKeyId, Arc<ApiKey>>,
    api_key_by_key_id: HashMap<String, ApiKeyId>,
    api_key_by_hash: HashMap<String, ApiKeyId>,
}

/// Inserts into a set stored in a map, creating it.
fn set_insert<K, V>(map: &mut HashMap<K, OrdSet<V>>, k: K, v: V)
where
    K: std::hash::Hash + Eq + Clone,
    V: Ord + Clone,
{
    map.entry(k).or_default().insert(v);
}

fn set_remove<K, V>(map: &mut HashMap<K, OrdSet<V>>, k: &K, v: &V)
where
    K: std::hash::Hash + Eq + Clone,
    V: Ord + Clone,
{
    let empty = match map.get_mut(k) {
        Some(s) => {
            s.remove(v);
            s.is_empty()
        }
        None => false,
    };
    if empty {
        map.remove(k);
    }
}

impl Model {
    /// An empty model holding the built-in catalogue, at revision 0.
    pub fn new() -> Self {
        let mut m = Self::default();
        for p in builtin_permissions() {
            m.permission_by_code.insert((None, p.code.as_str().to_owned()), p.id);
            m.permissions.insert(p.id, Arc::new(p));
        }
        for r in builtin_roles() {
            m.roles.insert(r.key(), Arc::new(r));
        }
        m
    }

    /// The revision this model reflects.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Marks the model as reflecting `rev` (after its changes were applied).
    pub fn set_revision(&mut self, rev: Revision) {
        self.revision = rev;
    }

    /// Applies one committed change.
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::PutOrganization(o) => {
                if let Some(old) = self.orgs.get(&o.id) {
                    let old_slug = old.slug.as_str().to_owned();
                    self.org_by_slug.remove(&old_slug);
                }
                self.org_by_slug.insert(o.slug.as_str().to_owned(), o.id);
                self.orgs.insert(o.id, Arc::new(o.clone()));
            }
            Change::DeleteOrganization(id) => {
                if let Some(old) = self.orgs.remove(id) {
                    self.org_by_slug.remove(old.slug.as_str());
                }
            }
            Change::PutAccount(a) => {
                set_insert(&mut self.accounts_by_org, a.organization_id, a.id);
                self.accounts.insert(a.id, Arc::new(a.clone()));
            }
            Change::DeleteAccount(id) => {
                if let Some(old) = self.accounts.remove(id) {
                    set_remove(&mut self.accounts_by_org, &old.organization_id, id);
                }
            }
            Change::PutUser(u) => {
                if let Some(old) = self.users.get(&u.id).cloned() {
                    if self.user_by_email.get(&old.email.key()) == Some(&u.id) {
                        self.user_by_email.remove(&old.email.key());
                    }
                }
                if u.deleted_at.is_none() {
                    self.user_by_email.insert(u.email.key(), u.id);
                }
                set_insert(&mut self.users_by_org, u.organization_id, u.id);
                self.users.insert(u.id, Arc::new(u.clone()));
            }
            Change::PutMembership(m) => {
                self.membership_by_pair.insert((m.user_id, m.account_id), m.id);
                set_insert(&mut self.members_by_account, m.account_id, m.user_id);
                set_insert(&mut self.accounts_by_user, m.user_id, m.account_id);
                self.memberships.insert(m.id, Arc::new(m.clone()));
            }
            Change::DeleteMembership(id) => {
                if let Some(old) = self.memberships.remove(id) {
                    self.membership_by_pair.remove(&(old.user_id, old.account_id));
                    set_remove(&mut self.members_by_account, &old.account_id, &old.user_id);
                    set_remove(&mut self.accounts_by_user, &old.user_id, &old.account_id);
                }
            }
            Change::PutPermission(p) => {
                self.permission_by_code.insert((p.organization_id, p.code.as_str().to_owned()), p.id);
                self.permissions.insert(p.id, Arc::new(p.clone()));
            }
            Change::DeletePermission(id) => {
                if let Some(old) = self.permissions.remove(id) {
                    self.permission_by_code.remove(&(old.organization_id, old.code.as_str().to_owned()));
                }
            }
            Change::PutRole(r) => {
                self.roles.insert(r.key(), Arc::new(r.clone()));
            }
            Change::DeleteRole(k) => {
                self.roles.remove(k);
            }
            Change::PutGrant(g) => {
                let g = Arc::new(g.clone());
                if let Scope::Organization(o) = g.scope {
                    set_insert(&mut self.org_level_grants, o, g.id);
                }
                self.grants_by_user.entry(g.user_id).or_default().insert(g.id, g.clone());
                self.grants.insert(g.id, g);
            }
            Change::DeleteGrant(id) => {
                if let Some(old) = self.grants.remove(id) {
                    if let Scope::Organization(o) = old.scope {
                        set_remove(&mut self.org_level_grants, &o, id);
                    }
                    let empty = match self.grants_by_user.get_mut(&old.user_id) {
                        Some(m) => {
                            m.remove(id);
                            m.is_empty()
                        }
                        None => false,
                    };
                    if empty {
                        self.grants_by_user.remove(&old.user_id);
                    }
                }
            }
            Change::PutApiKey(k) => {
                self.api_key_by_key_id.insert(k.key_id.clone(), k.id);
                self.api_key_by_hash.insert(k.secret_hash.clone(), k.id);
                self.api_keys.insert(k.id, Arc::new(k.clone()));
            }
        }
    }

    // ----- lookups -------------------------------------------------------

    /// An organization.
    pub fn organization(&self, id: OrganizationId) -> Option<&Arc<Organization>> {
        self.orgs.get(&id)
    }
    /// An organization by slug.
    pub fn organization_by_slug(&self, slug: &str) -> Option<OrganizationId> {
        self.org_by_slug.get(slug).copied()
    }
    /// Organizations in id order, from `after` (exclusive).
    pub fn organizations_after(
        &self,
        after: Option<OrganizationId>,
    ) -> impl Iterator<Item = &Arc<Organization>> {
        range_after(&self.orgs, after)
    }
    /// Number of organizations.
    pub fn organization_count(&self) -> usize {
        self.orgs.len()
    }
    /// An account.
    pub fn account(&self, id: AccountId) -> Option<&Arc<Account>> {
        self.accounts.get(&id)
    }
    /// The organization of an account.
    pub fn account_org(&self, id: AccountId) -> Option<OrganizationId> {
        self.accounts.get(&id).map(|a| a.organization_id)
    }
    /// Accounts of an organization in id order.
    pub fn accounts_of(&self, org: OrganizationId) -> impl Iterator<Item = AccountId> + '_ {
        self.accounts_by_org.get(&org).into_iter().flat_map(|s| s.iter().copied())
    }
    /// All accounts in id order, from `after` (exclusive).
    pub fn accounts_after(&self, after: Option<AccountId>) -> impl Iterator<Item = &Arc<Account>> {
        range_after(&self.accounts, after)
    }
    /// A user (deleted ones included).
    pub fn user(&self, id: UserId) -> Option<&Arc<User>> {
        self.users.get(&id)
    }
    /// The live user holding an email (case-insensitive).
    pub fn user_by_email(&self, email_key: &str) -> Option<UserId> {
        self.user_by_email.get(email_key).copied()
    }
    /// Users whose home is `org`, in id order.
    pub fn users_of(&self, org: OrganizationId) -> impl Iterator<Item = UserId> + '_ {
        self.users_by_org.get(&org).into_iter().flat_map(|s| s.iter().copied())
    }
    /// All users in id order, from `after` (exclusive).
    pub fn users_after(&self, after: Option<UserId>) -> impl Iterator<Item = &Arc<User>> {
        range_after(&self.users, after)
    }
    /// Number of users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }
    /// A membership.
    pub fn membership(&self, id: MembershipId) -> Option<&Arc<Membership>> {
        self.memberships.get(&id)
    }
    /// The membership of a user in an account.
    pub fn membership_of(&self, user: UserId, account: AccountId) -> Option<&Arc<Membership>> {
        self.membership_by_pair.get(&(user, account)).and_then(|id| self.memberships.get(id))
    }
    /// Members of an account in user-id order.
    pub fn members_of(&self, account: AccountId) -> impl Iterator<Item = UserId> + '_ {
        self.members_by_account.get(&account).into_iter().flat_map(|s| s.iter().copied())
    }
    /// Accounts a user is a member of.
    pub fn accounts_of_user(&self, user: UserId) -> impl Iterator<Item = AccountId> + '_ {
        self.accounts_by_user.get(&user).into_iter().flat_map(|s| s.iter().copied())
    }
    /// A permission.
    pub fn permission(&self, id: PermissionId) -> Option<&Arc<Permission>> {
        self.permissions.get(&id)
    }
    /// A permission by code: the built-in, else the custom one of `org`.
    pub fn permission_by_code(&self, org: Option<OrganizationId>, code: &str) -> Option<PermissionId> {
        self.permission_by_code
            .get(&(None, code.to_owned()))
            .or_else(|| org.and_then(|o| self.permission_by_code.get(&(Some(o), code.to_owned()))))
            .copied()
    }
    /// All permissions in id order.
    pub fn permissions(&self) -> impl Iterator<Item = &Arc<Permission>> {
        self.permissions.values()
    }
    /// A role.
    pub fn role(&self, key: &RoleKey) -> Option<&Arc<Role>> {
        self.roles.get(key)
    }
    /// Resolves a role id as seen from `org`: a built-in, else `org`'s custom role.
    pub fn resolve_role(&self, org: Option<OrganizationId>, id: &crate::RoleId) -> Option<&Arc<Role>> {
        self.roles
            .get(&RoleKey { organization_id: None, id: id.clone() })
            .or_else(|| org.and_then(|o| self.roles.get(&RoleKey { organization_id: Some(o), id: id.clone() })))
    }
    /// Built-in roles and the custom roles of `org`.
    pub fn roles_visible_in(&self, org: OrganizationId) -> impl Iterator<Item = &Arc<Role>> {
        self.roles.values().filter(move |r| r.organization_id.is_none() || r.organization_id == Some(org))
    }
    /// A grant.
    pub fn grant(&self, id: GrantId) -> Option<&Arc<Grant>> {
        self.grants.get(&id)
    }
    /// The grants of a user, in id order.
    pub fn grants_of(&self, user: UserId) -> impl Iterator<Item = &Arc<Grant>> {
        self.grants_by_user.get(&user).into_iter().flat_map(|m| m.values())
    }
    /// All grants.
    pub fn grants(&self) -> impl Iterator<Item = &Arc<Grant>> {
        self.grants.values()
    }
    /// Grants whose scope is exactly `organization(org)`.
    pub fn org_level_grants(&self, org: OrganizationId) -> impl Iterator<Item = &Arc<Grant>> {
        self.org_level_grants
            .get(&org)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|id| self.grants.get(id))
    }
    /// An API key record.
    pub fn api_key(&self, id: ApiKeyId) -> Option<&Arc<ApiKey>> {
        self.api_keys.get(&id)
    }
    /// An API key by its public key id.
    pub fn api_key_by_key_id(&self, key_id: &str) -> Option<&Arc<ApiKey>> {
        self.api_key_by_key_id.get(key_id).and_then(|id| self.api_keys.get(id))
    }
    /// An API key by the hex SHA-256 of its secret.
    pub fn api_key_by_hash(&self, hash: &str) -> Option<&Arc<ApiKey>> {
        self.api_key_by_hash.get(hash).and_then(|id| self.api_keys.get(id))
    }
    /// All API keys in id order.
    pub fn api_keys(&self) -> impl Iterator<Item = &Arc<ApiKey>> {
        self.api_keys.values()
    }

    // ----- decisions ------------------------------------------------------

    /// Resolves a target from an account id (its organization and status).
    pub fn account_target(&self, account: AccountId) -> Option<Target> {
        self.accounts.get(&account).map(|a| Target::Account(a.organization_id, a.id))
    }

    /// Whether grant `g` hands out permission `p`.
    #[inline]
    pub fn grant_gives(&self, g: &Grant, p: PermissionId) -> bool {
        match &g.target {
            GrantTarget::Permission(q) => *q == p,
            GrantTarget::Role(k) => self.roles.get(k).is_some_and(|r| r.permissions.contains(&p)),
        }
    }

    /// The permissions grant `g` hands out.
    pub fn grant_permissions(&self, g: &Grant) -> Vec<PermissionId> {
        match &g.target {
            GrantTarget::Permission(q) => vec![*q],
            GrantTarget::Role(k) => {
                self.roles.get(k).map(|r| r.permissions.iter().copied().collect()).unwrap_or_default()
            }
        }
    }

    /// SPEC §2.1: the first grant through which `user` may do `p` on `target`,
    /// or `None`. The user must be active and not deleted, and an account
    /// target must be active.
    pub fn decide(&self, user: UserId, p: PermissionId, target: &Target) -> Option<&Arc<Grant>> {
        let u = self.users.get(&user)?;
        if !u.is_effective() {
            return None;
        }
        if let Target::Account(_, a) = target {
            if self.accounts.get(a).is_none_or(|a| a.status != AccountStatus::Active) {
                return None;
            }
        }
        self.grants_of(user).find(|g| g.scope.covers(target) && self.grant_gives(g, p))
    }

    /// Whether `user` holds `p` over the whole of `scope` (a grant with `p`
    /// whose scope contains it). Used by the escalation guard.
    pub fn holds_over(&self, user: UserId, p: PermissionId, scope: &Scope) -> bool {
        let Some(u) = self.users.get(&user) else { return false };
        if !u.is_effective() {
            return false;
        }
        self.grants_of(user)
            .any(|g| g.scope.contains(scope, |a| self.account_org(a)) && self.grant_gives(g, p))
    }

    /// Whether `org` has an active user holding `grants:write` through a
    /// grant on the organization itself (the lockout guard's invariant).
    pub fn has_org_admin(&self, org: OrganizationId) -> bool {
        let gw = crate::catalogue::perms::grants_write();
        self.org_level_grants(org).any(|g| {
            self.users.get(&g.user_id).is_some_and(|u| u.is_effective()) && self.grant_gives(g, gw)
        })
    }
}

fn range_after<K: Ord + Clone, V: Clone>(
    map: &OrdMap<K, V>,
    after: Option<K>,
) -> impl Iterator<Item = &V> {
    use std::ops::Bound;
    let lower = match after {
        Some(k) => Bound::Excluded(k),
        None => Bound::Unbounded,
    };
    map.range((lower, Bound::Unbounded)).map(|(_, v)| v)
}
