//! The tenant graph as one persistent (structurally shared) value.
//!
//! A [`Model`] is cheap to clone (O(1)) and cheap to change (O(log n) per
//! entity), so a writer can plan on a private copy and publish it whole once
//! the database has committed, while readers keep answering from the previous
//! copy without any lock. The model only ever changes through
//! [`Model::apply`], fed either by a write that just committed or by the
//! change log another replica wrote.

//!
//! Next to the entities it keeps a decision index ([`index`]): per user, the
//! grants compiled for checks, so that [`Model::decide`], [`Model::holds_over`]
//! and the engine's checks cost a few hash probes and a scan of that user's
//! grants, whatever the size of the data set.

mod flat;
mod index;

pub use index::{Found, GrantRef, Holder, Moment, PermIndex};

use crate::catalogue::{builtin_permissions, builtin_roles};
use crate::entity::*;
use crate::ids::*;
use crate::scope::{On, Scope, Target};
use flat::FlatMap;
use imbl::{HashMap, OrdMap, OrdSet};
use index::{
    Decider, GroupDecider, GroupSummaries, Interned, MemberSlot, PermSet, RoleEntry, Slot,
    SlotTarget, UserState,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One committed change to one entity. The change log is a sequence of these
/// per revision; applying them in order reproduces the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", content = "data", rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "changes live only while a write is planned and committed; boxing users would cost an allocation each"
)]
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
    DeleteGrant(GrantKey),
    /// Create or replace an API key.
    PutApiKey(ApiKey),
    /// Create or replace one of Roster's token signing keys.
    PutSigningKey(SigningKey),
    /// Remove a signing key that stopped verifying long ago.
    DeleteSigningKey(SigningKeyId),
    /// Create or replace an identity provider.
    PutIdentityProvider(IdentityProvider),
    /// Remove an identity provider.
    DeleteIdentityProvider(IdentityProviderId),
    /// Create or replace a group.
    PutGroup(Group),
    /// Remove a group (after its members and grants).
    DeleteGroup(GroupId),
    /// Add a user to a group, or change its membership.
    PutGroupMember(GroupMember),
    /// Remove a user from a group.
    DeleteGroupMember(GroupMemberKey),
    /// Create or replace a webhook subscription.
    PutWebhook(Webhook),
    /// Remove a webhook subscription.
    DeleteWebhook(WebhookId),
}

/// Something that expires: a grant or a group membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expiring {
    /// A grant.
    Grant(GrantKey),
    /// A membership.
    Member(GroupMemberKey),
}

impl Expiring {
    /// Greater than any real value (a range bound).
    const MAX: Self = Self::Member(GroupMemberKey {
        group_id: GroupId(uuid::Uuid::max()),
        user_id: UserId(uuid::Uuid::max()),
    });
}

/// Which group membership: the group and the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupMemberKey {
    /// The group.
    pub group_id: GroupId,
    /// The member.
    pub user_id: UserId,
}

impl GroupMember {
    /// The membership's key.
    pub fn key(&self) -> GroupMemberKey {
        GroupMemberKey {
            group_id: self.group_id,
            user_id: self.user_id,
        }
    }
}

/// Which grant: its holder and its id. A grant lives with its holder (in
/// the holder's compiled slots), so removing one names both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GrantKey {
    /// The holder (`user_id` or `group_id` on the wire).
    #[serde(flatten)]
    pub holder: GrantHolder,
    /// The grant.
    pub id: GrantId,
}

impl Grant {
    /// The grant's key.
    pub fn key(&self) -> GrantKey {
        GrantKey {
            holder: self.holder,
            id: self.id,
        }
    }
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
    /// Live users by home organization and email key (unique within an
    /// organization, SPEC §1).
    user_by_email: HashMap<(OrganizationId, String), UserId>,
    users_by_org: HashMap<OrganizationId, OrdSet<UserId>>,
    memberships: OrdMap<MembershipId, Arc<Membership>>,
    membership_by_pair: HashMap<(UserId, AccountId), MembershipId>,
    members_by_account: HashMap<AccountId, OrdSet<UserId>>,
    accounts_by_user: HashMap<UserId, OrdSet<AccountId>>,
    permissions: OrdMap<PermissionId, Arc<Permission>>,
    /// Codes by owner (`None` for the built-ins), so a look-up by `&str`
    /// allocates nothing.
    permission_by_code: HashMap<Option<OrganizationId>, HashMap<String, PermissionId>>,
    roles: OrdMap<RoleKey, Arc<Role>>,
    /// Number of grants. A grant lives in its holder's compiled slots (see
    /// `index`) and nowhere else.
    grant_count: usize,
    org_level_grants: HashMap<OrganizationId, OrdSet<GrantKey>>,
    // ----- the decision index (see `index`) -----
    /// Per user: state and compiled grants (also what `grants_of` reads).
    deciders: FlatMap<UserId, Decider>,
    /// Per account: its organization and status.
    account_facts: FlatMap<AccountId, (OrganizationId, AccountStatus)>,
    /// Interned permissions and roles (never removed, never reused).
    interned: Interned,
    /// Holders of custom roles, by role handle (to recompile when a role
    /// changes, and to tell whether it is still granted).
    role_holders: HashMap<u32, OrdSet<UserId>>,
    /// Users holding at least one `global` grant.
    global_holders: OrdSet<UserId>,
    groups: OrdMap<GroupId, Arc<Group>>,
    groups_by_org: HashMap<OrganizationId, OrdSet<GroupId>>,
    /// Groups by organization and lower-cased name (unique within one).
    group_by_name: HashMap<(OrganizationId, String), GroupId>,
    /// Per group: its grants, compiled (what checks read).
    group_grants: FlatMap<GroupId, GroupDecider>,
    /// Per group: its handle in `group_summaries` (given at creation,
    /// never reused).
    group_handles: HashMap<GroupId, u32>,
    /// The next group handle.
    next_group_handle: u32,
    /// Per group handle: what its grants may hand out, where.
    group_summaries: GroupSummaries,
    /// Per group: its members (with expired memberships not yet removed).
    /// The memberships themselves live in their users' deciders.
    group_members: HashMap<GroupId, OrdSet<UserId>>,
    /// Groups holding custom roles, by role handle.
    role_groups: HashMap<u32, OrdSet<GroupId>>,
    /// Groups holding at least one `global` grant.
    global_groups: OrdSet<GroupId>,
    /// Grants and memberships with an expiry, by expiry (the sweeper's
    /// to-do list).
    expiries: OrdSet<(Moment, Expiring)>,
    /// Users holding a grant in an organization other than their home one.
    foreign_holders: HashMap<OrganizationId, OrdSet<UserId>>,
    api_keys: OrdMap<ApiKeyId, Arc<ApiKey>>,
    api_key_by_key_id: HashMap<String, ApiKeyId>,
    api_key_by_hash: HashMap<String, ApiKeyId>,
    /// Roster's token signing keys, oldest first (ids are time-ordered).
    signing_keys: OrdMap<SigningKeyId, Arc<SigningKey>>,
    identity_providers: OrdMap<IdentityProviderId, Arc<IdentityProvider>>,
    providers_by_org: HashMap<OrganizationId, OrdSet<IdentityProviderId>>,
    /// Providers by issuer. Several organizations may register one issuer
    /// (each with its own audience and users): no uniqueness here.
    providers_by_issuer: HashMap<String, OrdSet<IdentityProviderId>>,
    /// Live users by home organization and `external_ids` entry (key,
    /// value): where a provider's `sub` finds its user.
    users_by_external_id: HashMap<(OrganizationId, String, String), OrdSet<UserId>>,
    webhooks: OrdMap<WebhookId, Arc<Webhook>>,
    webhooks_by_org: HashMap<OrganizationId, OrdSet<WebhookId>>,
}

/// Inserts into a set stored in a map, creating it.
fn set_insert<K, V>(map: &mut HashMap<K, OrdSet<V>>, k: K, v: V)
where
    K: std::hash::Hash + Eq + Clone,
    V: Ord + Clone,
{
    map.entry(k).or_default().insert(v);
}

/// The items of a set stored in a map, in order.
fn set_items<K, V>(map: &HashMap<K, OrdSet<V>>, k: &K) -> Vec<V>
where
    K: std::hash::Hash + Eq + Clone,
    V: Ord + Clone,
{
    map.get(k)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default()
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
            m.apply(&Change::PutPermission(p));
        }
        for r in builtin_roles() {
            m.apply(&Change::PutRole(r));
        }
        m
    }

    /// A bulk load's hint: makes room for this many users and accounts, so
    /// the decision maps do not regrow row by row. (Grants live in their
    /// holders' slot arrays: there is nothing to size for them.)
    pub fn reserve(&mut self, users: usize, accounts: usize) {
        self.deciders.reserve(users);
        self.account_facts.reserve(accounts);
    }

    /// The revision this model reflects.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Marks the model as reflecting `rev` (after its changes were applied).
    pub fn set_revision(&mut self, rev: Revision) {
        self.revision = rev;
    }

    /// Applies one committed change. Costs O(log n) per entity touched; a
    /// grant change also copies its holder's compiled grants (O(grants of
    /// that user)), and a change of a role's permissions recompiles every
    /// holder of that role (O(holders × their grants)).
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
                if let Some(old) = self.accounts.get(&a.id) {
                    if old.organization_id != a.organization_id {
                        let old_org = old.organization_id;
                        set_remove(&mut self.accounts_by_org, &old_org, &a.id);
                    }
                }
                set_insert(&mut self.accounts_by_org, a.organization_id, a.id);
                self.account_facts
                    .insert(a.id, (a.organization_id, a.status));
                self.accounts.insert(a.id, Arc::new(a.clone()));
            }
            Change::DeleteAccount(id) => {
                if let Some(old) = self.accounts.remove(id) {
                    set_remove(&mut self.accounts_by_org, &old.organization_id, id);
                }
                self.account_facts.remove(id);
            }
            Change::PutUser(u) => {
                if let Some(old) = self.users.get(&u.id).cloned() {
                    let old_key = (old.organization_id, old.email.key());
                    if self.user_by_email.get(&old_key) == Some(&u.id) {
                        self.user_by_email.remove(&old_key);
                    }
                    for (k, v) in &old.external_ids {
                        let key = (old.organization_id, k.clone(), v.clone());
                        set_remove(&mut self.users_by_external_id, &key, &u.id);
                    }
                    if old.organization_id != u.organization_id {
                        set_remove(&mut self.users_by_org, &old.organization_id, &u.id);
                    }
                }
                if u.deleted_at.is_none() {
                    self.user_by_email
                        .insert((u.organization_id, u.email.key()), u.id);
                    for (k, v) in &u.external_ids {
                        let key = (u.organization_id, k.clone(), v.clone());
                        set_insert(&mut self.users_by_external_id, key, u.id);
                    }
                }
                set_insert(&mut self.users_by_org, u.organization_id, u.id);
                self.users.insert(u.id, Arc::new(u.clone()));
                let state = if u.is_effective() {
                    UserState::Effective
                } else {
                    UserState::Inactive
                };
                let home = Some(u.organization_id);
                let before = self
                    .deciders
                    .get(&u.id)
                    .map(|d| (d.home, self.foreign_orgs(d)));
                self.update_decider(u.id, |d| {
                    d.state = state;
                    d.home = home;
                });
                // A new home organization changes which of the user's grants lie abroad.
                if let Some((_, old_foreign)) = before.filter(|(h, _)| *h != home) {
                    let new_foreign = self
                        .deciders
                        .get(&u.id)
                        .map(|d| self.foreign_orgs(d))
                        .unwrap_or_default();
                    for o in old_foreign.iter().filter(|o| !new_foreign.contains(o)) {
                        set_remove(&mut self.foreign_holders, o, &u.id);
                    }
                    for o in new_foreign.iter().filter(|o| !old_foreign.contains(o)) {
                        set_insert(&mut self.foreign_holders, *o, u.id);
                    }
                }
            }
            Change::PutMembership(m) => {
                self.membership_by_pair
                    .insert((m.user_id, m.account_id), m.id);
                set_insert(&mut self.members_by_account, m.account_id, m.user_id);
                set_insert(&mut self.accounts_by_user, m.user_id, m.account_id);
                self.memberships.insert(m.id, Arc::new(m.clone()));
            }
            Change::DeleteMembership(id) => {
                if let Some(old) = self.memberships.remove(id) {
                    self.membership_by_pair
                        .remove(&(old.user_id, old.account_id));
                    set_remove(&mut self.members_by_account, &old.account_id, &old.user_id);
                    set_remove(&mut self.accounts_by_user, &old.user_id, &old.account_id);
                }
            }
            Change::PutPermission(p) => {
                if let Some(old) = self.permissions.get(&p.id).cloned() {
                    self.remove_code(old.organization_id, old.code.as_str(), p.id);
                }
                self.permission_by_code
                    .entry(p.organization_id)
                    .or_default()
                    .insert(p.code.as_str().to_owned(), p.id);
                self.intern(p.id);
                self.permissions.insert(p.id, Arc::new(p.clone()));
            }
            Change::DeletePermission(id) => {
                if let Some(old) = self.permissions.remove(id) {
                    self.remove_code(old.organization_id, old.code.as_str(), *id);
                }
            }
            Change::PutRole(r) => {
                let key = r.key();
                let set = self.compile_role(r);
                let h = self.intern_role(&key);
                self.roles.insert(key, Arc::new(r.clone()));
                self.set_role_permissions(h, set);
            }
            Change::DeleteRole(k) => {
                self.roles.remove(k);
                if let Some(h) = self.interned.role_handle.get(k).copied() {
                    self.set_role_permissions(h, PermSet::EMPTY);
                }
            }
            Change::PutGrant(g) => self.put_grant(g),
            Change::DeleteGrant(key) => self.remove_grant(*key),
            Change::PutApiKey(k) => {
                self.api_key_by_key_id.insert(k.key_id.clone(), k.id);
                self.api_key_by_hash.insert(k.secret_hash.clone(), k.id);
                self.api_keys.insert(k.id, Arc::new(k.clone()));
            }
            Change::PutSigningKey(k) => {
                self.signing_keys.insert(k.id, Arc::new(k.clone()));
            }
            Change::DeleteSigningKey(id) => {
                self.signing_keys.remove(id);
            }
            Change::PutIdentityProvider(p) => {
                self.remove_identity_provider(p.id);
                set_insert(&mut self.providers_by_org, p.organization_id, p.id);
                set_insert(
                    &mut self.providers_by_issuer,
                    p.issuer.as_str().to_owned(),
                    p.id,
                );
                self.identity_providers.insert(p.id, Arc::new(p.clone()));
            }
            Change::DeleteIdentityProvider(id) => self.remove_identity_provider(*id),
            Change::PutWebhook(w) => {
                set_insert(&mut self.webhooks_by_org, w.organization_id, w.id);
                self.webhooks.insert(w.id, Arc::new(w.clone()));
            }
            Change::DeleteWebhook(id) => {
                if let Some(old) = self.webhooks.remove(id) {
                    set_remove(&mut self.webhooks_by_org, &old.organization_id, id);
                }
            }
            Change::PutGroup(g) => {
                if let Some(old) = self.groups.get(&g.id).cloned() {
                    let key = (old.organization_id, old.name_key());
                    if self.group_by_name.get(&key) == Some(&g.id) {
                        self.group_by_name.remove(&key);
                    }
                }
                self.group_by_name
                    .insert((g.organization_id, g.name_key()), g.id);
                set_insert(&mut self.groups_by_org, g.organization_id, g.id);
                self.groups.insert(g.id, Arc::new(g.clone()));
                if !self.group_handles.contains_key(&g.id) {
                    let h = self.next_group_handle;
                    self.next_group_handle += 1;
                    self.group_handles.insert(g.id, h);
                    let slots = self
                        .group_grants
                        .get(&g.id)
                        .map_or_else(|| Arc::from([]), |d| d.slots().clone());
                    self.group_summaries.set(h, slots);
                }
            }
            Change::DeleteGroup(id) => {
                if let Some(old) = self.groups.remove(id) {
                    self.group_by_name
                        .remove(&(old.organization_id, old.name_key()));
                    set_remove(&mut self.groups_by_org, &old.organization_id, id);
                }
                // A group is emptied before it is removed; should anything be
                // left, it goes with the group.
                let members: Vec<UserId> = self
                    .group_members
                    .get(id)
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default();
                for user in members {
                    self.remove_member(GroupMemberKey {
                        group_id: *id,
                        user_id: user,
                    });
                }
                let grants: Vec<GrantId> = self
                    .group_grants
                    .get(id)
                    .map(|g| g.slots().iter().map(|s| s.id).collect())
                    .unwrap_or_default();
                for grant in grants {
                    self.remove_grant(GrantKey {
                        holder: GrantHolder::Group(*id),
                        id: grant,
                    });
                }
                self.group_handles.remove(id);
            }
            Change::PutGroupMember(m) => {
                self.remove_member(m.key());
                let handle = self.group_handles.get(&m.group_id).copied();
                let slot = MemberSlot::of(m, handle.unwrap_or(u32::MAX));
                if slot.expires != Moment::NEVER {
                    self.expiries
                        .insert((slot.expires, Expiring::Member(m.key())));
                }
                set_insert(&mut self.group_members, m.group_id, m.user_id);
                self.update_decider(m.user_id, |d| {
                    let mut v = d.groups.to_vec();
                    match v.binary_search_by(|x| x.group.cmp(&slot.group)) {
                        Ok(at) => v[at] = slot,
                        Err(at) => v.insert(at, slot),
                    }
                    d.groups = v.into();
                });
            }
            Change::DeleteGroupMember(key) => self.remove_member(*key),
        }
    }

    /// Removes a user from a group.
    fn remove_member(&mut self, key: GroupMemberKey) {
        set_remove(&mut self.group_members, &key.group_id, &key.user_id);
        let held = self.deciders.get(&key.user_id).is_some_and(|d| {
            d.groups
                .binary_search_by(|x| x.group.cmp(&key.group_id))
                .is_ok()
        });
        if !held {
            return;
        }
        let mut expires = Moment::NEVER;
        self.update_decider(key.user_id, |d| {
            let mut v = d.groups.to_vec();
            if let Ok(at) = v.binary_search_by(|x| x.group.cmp(&key.group_id)) {
                expires = v.remove(at).expires;
            }
            d.groups = v.into();
        });
        if expires != Moment::NEVER {
            self.expiries.remove(&(expires, Expiring::Member(key)));
        }
    }

    /// Creates or replaces a grant in its holder's slots and the side
    /// indexes.
    fn put_grant(&mut self, g: &Grant) {
        let key = g.key();
        if self
            .slots_of(g.holder)
            .is_some_and(|s| s.binary_search_by(|x| x.id.cmp(&g.id)).is_ok())
        {
            self.remove_grant(key);
        }
        if let Scope::Organization(o) = g.scope {
            set_insert(&mut self.org_level_grants, o, key);
        }
        let slot = self.compile_grant(g);
        self.grant_count += 1;
        if !slot.is_permanent() {
            self.expiries.insert((slot.expires, Expiring::Grant(key)));
        }
        let insert = |slots: &Arc<[Slot]>, slot: Slot| -> Arc<[Slot]> {
            let at = slots.partition_point(|s| s.id < slot.id);
            let mut v = Vec::with_capacity(slots.len() + 1);
            v.extend_from_slice(&slots[..at]);
            v.push(slot);
            v.extend_from_slice(&slots[at..]);
            v.into()
        };
        match g.holder {
            GrantHolder::User(user) => {
                let home = self.deciders.get(&user).and_then(|d| d.home);
                let (global, org, custom) = self.marks(&slot, home);
                self.update_decider(user, |d| d.slots = insert(&d.slots, slot));
                if global {
                    self.global_holders.insert(user);
                }
                if let Some(o) = org {
                    set_insert(&mut self.foreign_holders, o, user);
                }
                if let Some(h) = custom {
                    set_insert(&mut self.role_holders, h, user);
                }
            }
            GrantHolder::Group(group) => {
                let (global, _, custom) = self.marks(&slot, None);
                let slots = self
                    .group_grants
                    .get(&group)
                    .map(|d| insert(d.slots(), slot.clone()))
                    .unwrap_or_else(|| Arc::from(vec![slot]));
                self.set_group_slots(group, slots);
                if global {
                    self.global_groups.insert(group);
                }
                if let Some(h) = custom {
                    set_insert(&mut self.role_groups, h, group);
                }
            }
        }
    }

    /// Replaces a group's compiled grants (none: removes its entry) and
    /// its summary.
    fn set_group_slots(&mut self, group: GroupId, slots: Arc<[Slot]>) {
        if let Some(h) = self.group_handles.get(&group) {
            self.group_summaries.set(*h, slots.clone());
        }
        if slots.is_empty() {
            self.group_grants.remove(&group);
        } else {
            self.group_grants.insert(group, GroupDecider::new(slots));
        }
    }

    /// The compiled grants of a holder.
    fn slots_of(&self, holder: GrantHolder) -> Option<&Arc<[Slot]>> {
        match holder {
            GrantHolder::User(u) => self.deciders.get(&u).map(|d| &d.slots),
            GrantHolder::Group(g) => self.group_grants.get(&g).map(|d| d.slots()),
        }
    }

    /// Drops an identity provider and its index entries.
    fn remove_identity_provider(&mut self, id: IdentityProviderId) {
        if let Some(old) = self.identity_providers.remove(&id) {
            set_remove(&mut self.providers_by_org, &old.organization_id, &id);
            set_remove(
                &mut self.providers_by_issuer,
                &old.issuer.as_str().to_owned(),
                &id,
            );
        }
    }

    // ----- maintaining the decision index -------------------------------

    /// The index of `p`, interning it.
    fn intern(&mut self, p: PermissionId) -> PermIndex {
        if let Some(i) = self.interned.perm_index.get(&p) {
            return PermIndex(*i);
        }
        let i = self.interned.perm_ids.len() as u32;
        self.interned.perm_ids.push_back(p);
        self.interned.perm_index.insert(p, i);
        PermIndex(i)
    }

    /// The handle of role `key`, interning it (with no permissions).
    fn intern_role(&mut self, key: &RoleKey) -> u32 {
        if let Some(h) = self.interned.role_handle.get(key) {
            return *h;
        }
        let h = self.interned.roles.len() as u32;
        self.interned.roles.push_back(RoleEntry {
            key: key.clone(),
            set: PermSet::EMPTY,
        });
        self.interned.role_handle.insert(key.clone(), h);
        h
    }

    fn compile_role(&mut self, r: &Role) -> PermSet {
        let indices: Vec<PermIndex> = r.permissions.iter().map(|p| self.intern(*p)).collect();
        PermSet::from_indices(indices)
    }

    /// Compiles a grant into the slot that stores it.
    fn compile_grant(&mut self, g: &Grant) -> Slot {
        let (target, bits) = match &g.target {
            GrantTarget::Permission(p) => {
                let i = self.intern(*p);
                let bits = if i.0 < 64 { 1u64 << i.0 } else { 0 };
                (SlotTarget::Permission(i), bits)
            }
            GrantTarget::Role(k) => {
                let h = self.intern_role(k);
                (
                    SlotTarget::Role(h),
                    self.interned.roles[h as usize].set.low_word(),
                )
            }
        };
        Slot {
            bits,
            scope: g.scope,
            target,
            id: g.id,
            expires: Moment::expiry(g.expires_at),
            created_by: g.created_by,
            created_at: Moment::of(g.created_at),
            revision: g.revision,
        }
    }

    /// Sets role `h`'s compiled permissions, recompiling its holders' slots
    /// when they changed.
    fn set_role_permissions(&mut self, h: u32, set: PermSet) {
        let Some(entry) = self.interned.roles.get(h as usize) else {
            return;
        };
        if entry.set == set {
            return;
        }
        let entry = RoleEntry {
            key: entry.key.clone(),
            set,
        };
        self.interned.roles.set(h as usize, entry);
        self.recompile_role(h);
    }

    fn remove_code(&mut self, org: Option<OrganizationId>, code: &str, id: PermissionId) {
        let empty = match self.permission_by_code.get_mut(&org) {
            Some(m) => {
                if m.get(code) == Some(&id) {
                    m.remove(code);
                }
                m.is_empty()
            }
            None => false,
        };
        if empty && org.is_some() {
            self.permission_by_code.remove(&org);
        }
    }

    fn remove_grant(&mut self, key: GrantKey) {
        let id = key.id;
        let Some(slots) = self.slots_of(key.holder) else {
            return;
        };
        let Ok(at) = slots.binary_search_by(|s| s.id.cmp(&id)) else {
            return;
        };
        let mut rest = slots.to_vec();
        let old = rest.remove(at);
        let rest: Arc<[Slot]> = rest.into();
        self.grant_count -= 1;
        if let Scope::Organization(o) = old.scope {
            set_remove(&mut self.org_level_grants, &o, &key);
        }
        if !old.is_permanent() {
            self.expiries.remove(&(old.expires, Expiring::Grant(key)));
        }
        let still = |pred: &dyn Fn(&Slot) -> bool| rest.iter().any(pred);
        match key.holder {
            GrantHolder::User(user) => {
                let home = self.deciders.get(&user).and_then(|d| d.home);
                self.update_decider(user, |d| d.slots = rest.clone());
                // Drop the side-index entries the removed grant alone justified.
                let (global, org, custom) = self.marks(&old, home);
                if global && !still(&|s| s.scope == Scope::Global) {
                    self.global_holders.remove(&user);
                }
                if let Some(o) = org {
                    if !still(&|s| self.marks(s, home).1 == Some(o)) {
                        set_remove(&mut self.foreign_holders, &o, &user);
                    }
                }
                if let Some(h) = custom {
                    if !still(&|s| s.target == SlotTarget::Role(h)) {
                        set_remove(&mut self.role_holders, &h, &user);
                    }
                }
            }
            GrantHolder::Group(group) => {
                let (global, _, custom) = self.marks(&old, None);
                self.set_group_slots(group, rest.clone());
                if global && !still(&|s| s.scope == Scope::Global) {
                    self.global_groups.remove(&group);
                }
                if let Some(h) = custom {
                    if !still(&|s| s.target == SlotTarget::Role(h)) {
                        set_remove(&mut self.role_groups, &h, &group);
                    }
                }
            }
        }
    }

    /// Recompiles the slots of every holder of role `h` after its
    /// permissions changed (or it was removed).
    fn recompile_role(&mut self, h: u32) {
        let custom = self.interned.roles[h as usize]
            .key
            .organization_id
            .is_some();
        let (holders, groups) = self.holders_of(h, custom);
        let bits = self.interned.roles[h as usize].set.low_word();
        let recompiled = |slots: &[Slot]| -> Arc<[Slot]> {
            slots
                .iter()
                .map(|s| {
                    let mut s = s.clone();
                    if s.target == SlotTarget::Role(h) {
                        s.bits = bits;
                    }
                    s
                })
                .collect()
        };
        for user in holders {
            self.update_decider(user, |d| d.slots = recompiled(&d.slots));
        }
        // A group's grants are compiled once for all its members: a role
        // change costs O(grants of the groups holding it), not O(members).
        for group in groups {
            if let Some(slots) = self.group_grants.get(&group).map(|d| recompiled(d.slots())) {
                self.set_group_slots(group, slots);
            }
        }
    }

    /// What a grant puts in the side indexes for its holder (whose home
    /// is `home`): whether it is global, the foreign organization it lies
    /// in, the handle of the custom role it hands out.
    fn marks(
        &self,
        s: &Slot,
        home: Option<OrganizationId>,
    ) -> (bool, Option<OrganizationId>, Option<u32>) {
        let org = match s.scope {
            Scope::Global => None,
            Scope::Organization(o) | Scope::Accounts(o) => Some(o),
            Scope::Account(a) => self.account_org(a),
        };
        let custom = match s.target {
            SlotTarget::Role(h)
                if self.interned.roles[h as usize]
                    .key
                    .organization_id
                    .is_some() =>
            {
                Some(h)
            }
            _ => None,
        };
        (
            s.scope == Scope::Global,
            org.filter(|o| Some(*o) != home),
            custom,
        )
    }

    /// The organizations other than its home one that a user holds grants in.
    fn foreign_orgs(&self, d: &Decider) -> Vec<OrganizationId> {
        let mut out: Vec<OrganizationId> = d
            .slots
            .iter()
            .filter_map(|s| self.marks(s, d.home).1)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Changes one user's decider (creating it; dropping it when it no
    /// longer says anything).
    fn update_decider(&mut self, user: UserId, f: impl FnOnce(&mut Decider)) {
        let empty = |d: &Decider| {
            d.state == UserState::Unknown && d.slots.is_empty() && d.groups.is_empty()
        };
        match self.deciders.get_mut(&user) {
            Some(d) => {
                f(d);
                if empty(d) {
                    self.deciders.remove(&user);
                }
            }
            None => {
                let mut d = Decider::default();
                f(&mut d);
                if !empty(&d) {
                    self.deciders.insert(user, d);
                }
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
        self.account_facts.get(&id).map(|(o, _)| *o)
    }
    /// The organization and status of an account (one hash probe).
    #[inline]
    pub fn account_state(&self, id: AccountId) -> Option<(OrganizationId, AccountStatus)> {
        self.account_facts.get(&id).copied()
    }
    /// Accounts of an organization in id order.
    pub fn accounts_of(&self, org: OrganizationId) -> impl Iterator<Item = AccountId> + '_ {
        self.accounts_by_org
            .get(&org)
            .into_iter()
            .flat_map(|s| s.iter().copied())
    }
    /// All accounts in id order, from `after` (exclusive).
    pub fn accounts_after(&self, after: Option<AccountId>) -> impl Iterator<Item = &Arc<Account>> {
        range_after(&self.accounts, after)
    }
    /// A user (deleted ones included).
    pub fn user(&self, id: UserId) -> Option<&Arc<User>> {
        self.users.get(&id)
    }
    /// The live user of `org` holding an email (by [`crate::Email::key`]:
    /// emails are unique within an organization, case-insensitively).
    pub fn user_by_email(&self, org: OrganizationId, email_key: &str) -> Option<UserId> {
        self.user_by_email
            .get(&(org, email_key.to_owned()))
            .copied()
    }

    /// The live users holding an email in any organization, in
    /// organization id order (one per organization at most).
    pub fn users_by_email(&self, email_key: &str) -> Vec<UserId> {
        let mut key: Option<(OrganizationId, String)> = None;
        self.orgs
            .keys()
            .filter_map(|o| {
                let k = key.get_or_insert_with(|| (*o, email_key.to_owned()));
                k.0 = *o;
                self.user_by_email.get(k).copied()
            })
            .collect()
    }

    /// Every user who could hold a grant through group `group` (its
    /// members), in id order.
    pub fn group_member_ids(&self, group: GroupId) -> impl Iterator<Item = UserId> + '_ {
        self.group_members
            .get(&group)
            .into_iter()
            .flat_map(|s| s.iter().copied())
    }
    /// Users whose home is `org`, in id order.
    pub fn users_of(&self, org: OrganizationId) -> impl Iterator<Item = UserId> + '_ {
        self.users_by_org
            .get(&org)
            .into_iter()
            .flat_map(|s| s.iter().copied())
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
        self.membership_by_pair
            .get(&(user, account))
            .and_then(|id| self.memberships.get(id))
    }
    /// Members of an account in user-id order.
    pub fn members_of(&self, account: AccountId) -> impl Iterator<Item = UserId> + '_ {
        self.members_by_account
            .get(&account)
            .into_iter()
            .flat_map(|s| s.iter().copied())
    }
    /// Accounts a user is a member of.
    pub fn accounts_of_user(&self, user: UserId) -> impl Iterator<Item = AccountId> + '_ {
        self.accounts_by_user
            .get(&user)
            .into_iter()
            .flat_map(|s| s.iter().copied())
    }
    /// A permission.
    pub fn permission(&self, id: PermissionId) -> Option<&Arc<Permission>> {
        self.permissions.get(&id)
    }
    /// A permission by code: the built-in, else the custom one of `org`.
    pub fn permission_by_code(
        &self,
        org: Option<OrganizationId>,
        code: &str,
    ) -> Option<PermissionId> {
        let of = |owner: Option<OrganizationId>| {
            self.permission_by_code
                .get(&owner)
                .and_then(|m| m.get(code))
        };
        of(None).or_else(|| org.and_then(|o| of(Some(o)))).copied()
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
    pub fn resolve_role(
        &self,
        org: Option<OrganizationId>,
        id: &crate::RoleId,
    ) -> Option<&Arc<Role>> {
        self.roles
            .get(&RoleKey {
                organization_id: None,
                id: id.clone(),
            })
            .or_else(|| {
                org.and_then(|o| {
                    self.roles.get(&RoleKey {
                        organization_id: Some(o),
                        id: id.clone(),
                    })
                })
            })
    }
    /// Built-in roles and the custom roles of `org`.
    pub fn roles_visible_in(&self, org: OrganizationId) -> impl Iterator<Item = &Arc<Role>> {
        self.roles
            .values()
            .filter(move |r| r.organization_id.is_none() || r.organization_id == Some(org))
    }
    /// A grant of `holder` (a user or a group), expired or not.
    pub fn grant(&self, holder: impl Into<GrantHolder>, id: GrantId) -> Option<Grant> {
        let holder = holder.into();
        let slots = self.slots_of(holder)?;
        let at = slots.binary_search_by(|s| s.id.cmp(&id)).ok()?;
        Some(slots[at].grant(holder, &self.interned))
    }
    /// The grants `holder` (a user or a group) holds itself, in id order,
    /// expired ones (not yet removed) included. A user's grants through its
    /// groups are [`Holder::grants`].
    pub fn grants_of(&self, holder: impl Into<GrantHolder>) -> impl Iterator<Item = Grant> + '_ {
        let holder = holder.into();
        self.slots_of(holder)
            .into_iter()
            .flat_map(move |s| s.iter().map(move |s| s.grant(holder, &self.interned)))
    }
    /// All grants (of users and of groups), in no particular order.
    pub fn grants(&self) -> impl Iterator<Item = Grant> + '_ {
        let users = self.deciders.iter().flat_map(move |(user, d)| {
            d.slots
                .iter()
                .map(move |s| s.grant(GrantHolder::User(*user), &self.interned))
        });
        let groups = self.group_grants.iter().flat_map(move |(group, d)| {
            d.slots()
                .iter()
                .map(move |s| s.grant(GrantHolder::Group(*group), &self.interned))
        });
        users.chain(groups)
    }
    /// Number of grants.
    pub fn grant_count(&self) -> usize {
        self.grant_count
    }
    /// Grants whose scope is exactly `organization(org)`.
    pub fn org_level_grants(&self, org: OrganizationId) -> impl Iterator<Item = Grant> + '_ {
        self.org_level_grants
            .get(&org)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|k| self.grant(k.holder, k.id))
    }
    /// Grants whose scope is exactly `scope`, a scope inside `org`: of the
    /// users who can hold grants there (see [`Model::candidate_holders`])
    /// and of `org`'s groups.
    pub fn grants_at(&self, org: OrganizationId, scope: Scope) -> Vec<Grant> {
        let users = self
            .candidate_holders(org, None)
            .flat_map(|u| self.grants_of(u).filter(|g| g.scope == scope));
        let groups = self
            .groups_of_org(org)
            .flat_map(|g| self.grants_of(g.id).filter(|g| g.scope == scope));
        users.chain(groups).collect()
    }
    /// Whether anybody (a user or a group) holds a grant of role `key`.
    pub fn role_is_granted(&self, key: &RoleKey) -> bool {
        let Some(h) = self.interned.role_handle.get(key) else {
            return false;
        };
        if key.organization_id.is_some() {
            return self.role_holders.contains_key(h) || self.role_groups.contains_key(h);
        }
        let holds = |slots: &[Slot]| slots.iter().any(|s| s.target == SlotTarget::Role(*h));
        self.deciders.iter().any(|(_, d)| holds(&d.slots))
            || self.group_grants.iter().any(|(_, d)| holds(d.slots()))
    }
    /// The users holding role `key` themselves, and the groups holding it.
    pub fn role_grantees(&self, key: &RoleKey) -> (Vec<UserId>, Vec<GroupId>) {
        let Some(h) = self.interned.role_handle.get(key) else {
            return (Vec::new(), Vec::new());
        };
        let (mut users, mut groups) = self.holders_of(*h, key.organization_id.is_some());
        users.sort_unstable();
        groups.sort_unstable();
        (users, groups)
    }

    /// The users holding role `h` themselves, and the groups holding it:
    /// from the side indexes for a custom role, by a scan for a built-in
    /// one (built-in roles never change after `Model::new`, so only a
    /// replaced one or a listing needs it).
    fn holders_of(&self, h: u32, custom: bool) -> (Vec<UserId>, Vec<GroupId>) {
        if custom {
            return (
                set_items(&self.role_holders, &h),
                set_items(&self.role_groups, &h),
            );
        }
        let holds = |slots: &[Slot]| slots.iter().any(|s| s.target == SlotTarget::Role(h));
        (
            self.deciders
                .iter()
                .filter(|(_, d)| holds(&d.slots))
                .map(|(u, _)| *u)
                .collect(),
            self.group_grants
                .iter()
                .filter(|(_, d)| holds(d.slots()))
                .map(|(g, _)| *g)
                .collect(),
        )
    }
    /// A group.
    pub fn group(&self, id: GroupId) -> Option<&Arc<Group>> {
        self.groups.get(&id)
    }
    /// The group of `org` named `name` (case-insensitively).
    pub fn group_by_name(&self, org: OrganizationId, name: &str) -> Option<GroupId> {
        self.group_by_name.get(&(org, name.to_lowercase())).copied()
    }
    /// The groups of an organization, in id order.
    pub fn groups_of_org(&self, org: OrganizationId) -> impl Iterator<Item = &Arc<Group>> {
        self.groups_by_org
            .get(&org)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|id| self.groups.get(id))
    }
    /// All groups, in id order, from `after` (exclusive).
    pub fn groups_after(&self, after: Option<GroupId>) -> impl Iterator<Item = &Arc<Group>> {
        range_after(&self.groups, after)
    }
    /// Number of groups.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }
    /// The members of a group, in user-id order (expired memberships not
    /// yet removed included: see [`GroupMember::is_expired`]).
    pub fn group_members(&self, group: GroupId) -> impl Iterator<Item = GroupMember> + '_ {
        self.group_members
            .get(&group)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(move |u| self.group_member(group, *u))
    }
    /// Number of members of a group.
    pub fn group_member_count(&self, group: GroupId) -> usize {
        self.group_members.get(&group).map_or(0, |s| s.len())
    }
    /// A user's membership in a group.
    pub fn group_member(&self, group: GroupId, user: UserId) -> Option<GroupMember> {
        let d = self.deciders.get(&user)?;
        let at = d.groups.binary_search_by(|m| m.group.cmp(&group)).ok()?;
        Some(d.groups[at].member(user))
    }
    /// A user's group memberships, in group-id order (expired ones not yet
    /// removed included).
    pub fn memberships_of(&self, user: UserId) -> impl Iterator<Item = GroupMember> + '_ {
        self.deciders
            .get(&user)
            .into_iter()
            .flat_map(move |d| d.groups.iter().map(move |m| m.member(user)))
    }
    /// The grants and memberships that have expired at `now` and are still
    /// stored (what the expiry sweeper removes), soonest first, at most
    /// `limit`. Costs O(log n + what it returns).
    pub fn expired(&self, now: Moment, limit: usize) -> Vec<Expiring> {
        use std::ops::Bound;
        self.expiries
            .range((Bound::Unbounded, Bound::Included((now, Expiring::MAX))))
            .take(limit)
            .map(|(_, e)| *e)
            .collect()
    }
    /// When the next stored grant or membership expires, if any does.
    pub fn next_expiry(&self) -> Option<Moment> {
        self.expiries.get_min().map(|(m, _)| *m)
    }
    /// An API key record.
    pub fn api_key(&self, id: ApiKeyId) -> Option<&Arc<ApiKey>> {
        self.api_keys.get(&id)
    }
    /// An API key by its public key id.
    pub fn api_key_by_key_id(&self, key_id: &str) -> Option<&Arc<ApiKey>> {
        self.api_key_by_key_id
            .get(key_id)
            .and_then(|id| self.api_keys.get(id))
    }
    /// An API key by the hex SHA-256 of its secret.
    pub fn api_key_by_hash(&self, hash: &str) -> Option<&Arc<ApiKey>> {
        self.api_key_by_hash
            .get(hash)
            .and_then(|id| self.api_keys.get(id))
    }
    /// All API keys in id order.
    pub fn api_keys(&self) -> impl Iterator<Item = &Arc<ApiKey>> {
        self.api_keys.values()
    }
    /// A token signing key by its id (a token's `kid`).
    pub fn signing_key(&self, id: SigningKeyId) -> Option<&Arc<SigningKey>> {
        self.signing_keys.get(&id)
    }
    /// Every signing key, oldest first.
    pub fn signing_keys(&self) -> impl DoubleEndedIterator<Item = &Arc<SigningKey>> {
        self.signing_keys.values()
    }
    /// The key new tokens are signed with: the newest that is neither
    /// retired nor revoked.
    pub fn current_signing_key(&self) -> Option<&Arc<SigningKey>> {
        self.signing_keys.values().rev().find(|k| k.signs())
    }
    /// An identity provider.
    pub fn identity_provider(&self, id: IdentityProviderId) -> Option<&Arc<IdentityProvider>> {
        self.identity_providers.get(&id)
    }
    /// The identity providers of an organization, in id order.
    pub fn identity_providers_of(
        &self,
        org: OrganizationId,
    ) -> impl Iterator<Item = &Arc<IdentityProvider>> {
        self.providers_by_org
            .get(&org)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|id| self.identity_providers.get(id))
    }
    /// The identity providers whose issuer is exactly `issuer`, of every
    /// organization, in id order.
    pub fn identity_providers_by_issuer(
        &self,
        issuer: &str,
    ) -> impl Iterator<Item = &Arc<IdentityProvider>> {
        self.providers_by_issuer
            .get(issuer)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|id| self.identity_providers.get(id))
    }
    /// A webhook subscription.
    pub fn webhook(&self, id: WebhookId) -> Option<&Arc<Webhook>> {
        self.webhooks.get(&id)
    }
    /// The webhook subscriptions of an organization, in id order.
    pub fn webhooks_of(&self, org: OrganizationId) -> impl Iterator<Item = &Arc<Webhook>> {
        self.webhooks_by_org
            .get(&org)
            .into_iter()
            .flat_map(|s| s.iter())
            .filter_map(|id| self.webhooks.get(id))
    }
    /// All webhook subscriptions, in id order.
    pub fn webhooks(&self) -> impl Iterator<Item = &Arc<Webhook>> {
        self.webhooks.values()
    }
    /// All identity providers, in id order.
    pub fn identity_providers(&self) -> impl Iterator<Item = &Arc<IdentityProvider>> {
        self.identity_providers.values()
    }
    /// The live users of `org` whose `external_ids[key]` is `value`, in id order.
    pub fn users_by_external_id(
        &self,
        org: OrganizationId,
        key: &str,
        value: &str,
    ) -> impl Iterator<Item = UserId> + '_ {
        self.users_by_external_id
            .get(&(org, key.to_owned(), value.to_owned()))
            .into_iter()
            .flat_map(|s| s.iter().copied())
    }

    // ----- decisions ------------------------------------------------------

    /// Resolves a target from an account id (its organization and status).
    pub fn account_target(&self, account: AccountId) -> Option<Target> {
        self.account_facts
            .get(&account)
            .map(|(o, _)| Target::Account(*o, account))
    }

    /// The interned index of a permission; `None` when no role or grant has
    /// ever named it (so nobody holds it).
    #[inline]
    pub fn permission_index(&self, p: PermissionId) -> Option<PermIndex> {
        self.interned.perm_index.get(&p).map(|i| PermIndex(*i))
    }

    /// A user as the decision index sees it (`None` for an unknown user).
    #[inline]
    pub fn holder(&self, user: UserId) -> Option<Holder<'_>> {
        let d = self.deciders.get(&user)?;
        match d.state {
            UserState::Unknown => None,
            state => Some(Holder {
                user,
                home: d.home,
                effective: state == UserState::Effective,
                slots: &d.slots,
                groups: &d.groups,
                group_grants: &self.group_grants,
                summaries: &self.group_summaries,
                interned: &self.interned,
            }),
        }
    }

    /// Whether grant `g` hands out permission `p`.
    #[inline]
    pub fn grant_gives(&self, g: &Grant, p: PermissionId) -> bool {
        match &g.target {
            GrantTarget::Permission(q) => *q == p,
            GrantTarget::Role(k) => self
                .roles
                .get(k)
                .is_some_and(|r| r.permissions.contains(&p)),
        }
    }

    /// The permissions grant `g` hands out.
    pub fn grant_permissions(&self, g: &Grant) -> Vec<PermissionId> {
        match &g.target {
            GrantTarget::Permission(q) => vec![*q],
            GrantTarget::Role(k) => self
                .roles
                .get(k)
                .map(|r| r.permissions.iter().copied().collect())
                .unwrap_or_default(),
        }
    }

    /// SPEC §2.1, evaluated here and nowhere else (the engine's checks and
    /// the rules both call it): the first grant counting at `now` (in the
    /// order of [`Holder`]: the user's own, then its groups') through which
    /// `user` may do `permission` on `on`, or why not. The user must be
    /// active and not deleted, an account target must exist and be active,
    /// and a grant must give the permission at a scope covering the target;
    /// when only an expired grant or membership would have, the reason is
    /// [`DenyReason::Expired`].
    ///
    /// Cost: a hash probe for the user, one for the account, one for the
    /// permission, then a scan of that user's compiled grants and of each of
    /// its groups' (a bit test and a scope comparison each, a probe per
    /// group). No allocation, no lock, no role look-up.
    #[inline]
    pub fn evaluate(
        &self,
        user: UserId,
        permission: PermissionId,
        on: On,
        now: Moment,
    ) -> Result<GrantRef<'_>, DenyReason> {
        // The three look-ups are independent: made before any of their
        // results is used, their cache misses overlap instead of queueing
        // (on a large data set a check is memory latency, not instructions).
        let holder = self.holder(user);
        let account = match on {
            On::Account(a) => self.account_state(a),
            On::Organization(_) => None,
        };
        let p = self.permission_index(permission);
        let h = holder.ok_or(DenyReason::UnknownUser)?;
        if !h.is_effective() {
            return Err(DenyReason::UserInactive);
        }
        let target = match (on, account) {
            (On::Organization(o), _) => Target::Organization(o),
            (On::Account(a), Some((o, AccountStatus::Active))) => Target::Account(o, a),
            (On::Account(_), Some(_)) => return Err(DenyReason::AccountDisabled),
            (On::Account(_), None) => return Err(DenyReason::UnknownAccount),
        };
        match p.map(|p| h.first_grant(p, &target, now)) {
            Some(Found::Live(g)) => Ok(g),
            Some(Found::Expired) => Err(DenyReason::Expired),
            Some(Found::Nothing) | None => Err(DenyReason::NoGrant),
        }
    }

    /// [`Model::evaluate`] on a resolved target, without the reason.
    #[inline]
    pub fn decide(
        &self,
        user: UserId,
        p: PermissionId,
        target: &Target,
        now: Moment,
    ) -> Option<GrantRef<'_>> {
        let on = match *target {
            Target::Organization(o) => On::Organization(o),
            Target::Account(_, a) => On::Account(a),
        };
        self.evaluate(user, p, on, now).ok()
    }

    /// Whether `user` holds `p` over the whole of `scope` at `now` (a grant
    /// counting then, its own or a group's, with `p`, whose scope contains
    /// it). Used by the escalation guard.
    pub fn holds_over(&self, user: UserId, p: PermissionId, scope: &Scope, now: Moment) -> bool {
        let Some(h) = self.holder(user).filter(Holder::is_effective) else {
            return false;
        };
        let Some(pi) = self.permission_index(p) else {
            return false;
        };
        h.first_grant_over(pi, scope, now, |a| self.account_org(a))
            .is_some()
    }

    /// Whether `org` has an active user holding `grants:write` through a
    /// grant without expiry on the organization itself, its own or through
    /// a membership without expiry in a group holding one (the lockout
    /// guard's invariant, SPEC §2.5).
    pub fn has_org_admin(&self, org: OrganizationId) -> bool {
        let Some(gw) = self.permission_index(crate::catalogue::perms::grants_write()) else {
            return false;
        };
        let admin_slot = |slots: &[Slot], id: GrantId| {
            slots
                .binary_search_by(|s| s.id.cmp(&id))
                .is_ok_and(|at| slots[at].is_permanent() && slots[at].gives(gw, &self.interned))
        };
        let ids = self.org_level_grants.get(&org);
        ids.into_iter()
            .flat_map(|s| s.iter())
            .any(|k| match k.holder {
                GrantHolder::User(u) => self
                    .deciders
                    .get(&u)
                    .is_some_and(|d| d.state == UserState::Effective && admin_slot(&d.slots, k.id)),
                GrantHolder::Group(g) => {
                    self.group_grants
                        .get(&g)
                        .is_some_and(|d| admin_slot(d.slots(), k.id))
                        && self
                            .group_members
                            .get(&g)
                            .into_iter()
                            .flat_map(|s| s.iter())
                            .any(|u| {
                                self.deciders.get(u).is_some_and(|d| {
                                    d.state == UserState::Effective
                                        && d.groups
                                            .binary_search_by(|m| m.group.cmp(&g))
                                            .is_ok_and(|at| d.groups[at].expires == Moment::NEVER)
                                })
                            })
                }
            })
    }

    /// Every user who could hold a grant covering something in `org`, in id
    /// order, after `after`: its own users, holders of `global` grants, and
    /// users of other organizations holding a grant in it. A superset of the
    /// users a check on `org` or one of its accounts can allow.
    pub fn candidate_holders(
        &self,
        org: OrganizationId,
        after: Option<UserId>,
    ) -> impl Iterator<Item = UserId> + '_ {
        let mut extra: Vec<UserId> = range_after_set(&self.global_holders, after)
            .copied()
            .collect();
        if let Some(f) = self.foreign_holders.get(&org) {
            extra.extend(range_after_set(f, after).copied());
        }
        // Members of groups holding a `global` grant hold it too.
        for g in &self.global_groups {
            if let Some(members) = self.group_members.get(g) {
                extra.extend(range_after_set(members, after).copied());
            }
        }
        extra.sort_unstable();
        extra.dedup();
        let own = self
            .users_by_org
            .get(&org)
            .into_iter()
            .flat_map(move |s| range_after_set(s, after).copied());
        MergeUnique {
            a: own.peekable(),
            b: extra.into_iter().peekable(),
        }
    }
}

/// Why a check was denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// No such user.
    UnknownUser,
    /// The user is invited, disabled or deleted.
    UserInactive,
    /// No such account.
    UnknownAccount,
    /// The account is disabled.
    AccountDisabled,
    /// No grant of the user gives the permission at a covering scope.
    NoGrant,
    /// Only a grant or a group membership that has expired would have
    /// allowed it.
    Expired,
}

impl DenyReason {
    /// Wire code.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown_user",
            Self::UserInactive => "user_inactive",
            Self::UnknownAccount => "unknown_account",
            Self::AccountDisabled => "account_disabled",
            Self::NoGrant => "no_grant",
            Self::Expired => "expired",
        }
    }
}

/// Two ascending iterators merged into one, without repeats.
struct MergeUnique<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<T: Ord, A: Iterator<Item = T>, B: Iterator<Item = T>> Iterator for MergeUnique<A, B> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        let order = match (self.a.peek(), self.b.peek()) {
            (None, None) => return None,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(y),
        };
        match order {
            std::cmp::Ordering::Less => self.a.next(),
            std::cmp::Ordering::Greater => self.b.next(),
            std::cmp::Ordering::Equal => {
                self.b.next();
                self.a.next()
            }
        }
    }
}

fn range_after_set<K: Ord + Clone>(set: &OrdSet<K>, after: Option<K>) -> impl Iterator<Item = &K> {
    use std::ops::Bound;
    let lower = match after {
        Some(k) => Bound::Excluded(k),
        None => Bound::Unbounded,
    };
    set.range((lower, Bound::Unbounded))
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
