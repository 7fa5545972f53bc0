//! The decision index: what a check reads, laid out so that one check costs
//! two or three hash probes and a scan of that user's own compiled grants,
//! with no allocation and no lock.
//!
//! Every user has one [`Decider`]: whether it may be allowed at all, and its
//! grants *compiled* into [`Slot`]s, each holding the grant's scope inline and
//! the permissions it hands out as a bitset over interned permission indices
//! ([`PermIndex`]). A role's permissions are resolved into the slot when the
//! grant is applied, so a check never looks a role up. Slots are kept in
//! grant-id order, so "the first grant that allows" is the same grant a naive
//! scan of the user's grants in id order finds.
//!
//! The slots are also where grants live: a slot is the grant stored
//! compactly (the role and the permission as interned handles, no heap
//! allocation of its own), and the [`Grant`] entity is rebuilt from it when
//! an API asks for it.
//!
//! The maps are persistent ([`FlatMap`]: flat hash shards, copy-on-write),
//! so the writer's O(1) clone of the model still holds, and applying a change
//! rewrites only the entries it touches: a grant change copies that user's
//! slot array (O(grants of the user)); a change of a custom role's
//! permissions recompiles the slots of every holder of that role
//! (O(holders × their grants)), the one change whose cost grows with the
//! data set.

use super::flat::FlatMap;
use crate::entity::{Grant, GrantHolder, GrantTarget, GroupMember, RoleKey};
use crate::ids::{AccountId, GrantId, GroupId, OrganizationId, PermissionId, Revision, UserId};
use crate::scope::{Scope, Target};
use crate::RoleId;
use std::sync::Arc;
use time::OffsetDateTime;

/// The dense index of an interned permission. Indices are never reused, so
/// an index stays valid for the life of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PermIndex(pub(crate) u32);

/// An instant as decisions compare it: microseconds since the Unix epoch
/// (the precision both stores keep). Expiry is `expires <= now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Moment(pub(crate) i64);

impl Moment {
    /// What "never expires" is stored as.
    pub(crate) const NEVER: Self = Self(i64::MAX);
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);
    /// Before every instant: what is stored counts, expired or not (what
    /// the event feed's access deltas compare).
    pub const MIN: Self = Self(i64::MIN);

    /// The instant `t`.
    #[inline]
    pub fn of(t: OffsetDateTime) -> Self {
        Self((t.unix_timestamp_nanos() / 1_000) as i64)
    }

    /// The current instant.
    pub fn now() -> Self {
        Self::of(OffsetDateTime::now_utc())
    }

    /// An optional expiry (`None`: never).
    pub(crate) fn expiry(t: Option<OffsetDateTime>) -> Self {
        t.map_or(Self::NEVER, Self::of)
    }

    /// The expiry as a time (`None` for never).
    pub(crate) fn to_expiry(self) -> Option<OffsetDateTime> {
        (self != Self::NEVER).then(|| self.to_time())
    }

    /// As a time.
    pub fn to_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Whether something expiring at `self` still counts at `now`.
    #[inline]
    pub(crate) fn live_at(self, now: Moment) -> bool {
        self.0 > now.0
    }
}

/// A set of permission indices: one machine word for the first 64 interned
/// permissions (the built-ins and the first custom ones), a shared word array
/// beyond.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PermSet {
    /// Indices 0..64.
    Bits(u64),
    /// Any indices; word `i / 64`, bit `i % 64`.
    Wide(Arc<[u64]>),
}

impl PermSet {
    /// The empty set.
    pub(crate) const EMPTY: Self = Self::Bits(0);

    /// The set of `indices`.
    pub(crate) fn from_indices(indices: impl IntoIterator<Item = PermIndex>) -> Self {
        let mut words: Vec<u64> = Vec::new();
        for PermIndex(i) in indices {
            let w = (i / 64) as usize;
            if words.len() <= w {
                words.resize(w + 1, 0);
            }
            words[w] |= 1 << (i % 64);
        }
        match words.as_slice() {
            [] => Self::EMPTY,
            [w] => Self::Bits(*w),
            _ => Self::Wide(words.into()),
        }
    }

    /// Whether `i` is in the set.
    #[inline]
    pub(crate) fn contains(&self, PermIndex(i): PermIndex) -> bool {
        match self {
            Self::Bits(b) => i < 64 && (b >> i) & 1 == 1,
            Self::Wide(words) => words
                .get((i / 64) as usize)
                .is_some_and(|w| (w >> (i % 64)) & 1 == 1),
        }
    }

    /// Indices 0..64 of the set, as a word.
    pub(crate) fn low_word(&self) -> u64 {
        match self {
            Self::Bits(b) => *b,
            Self::Wide(words) => words.first().copied().unwrap_or(0),
        }
    }
}

/// A role as the index knows it: its key and its permissions, compiled.
/// Roles are interned into a table of handles that are never reused (a
/// deleted role keeps its row, with no permissions).
#[derive(Clone, Debug)]
pub(crate) struct RoleEntry {
    pub(crate) key: RoleKey,
    pub(crate) set: PermSet,
}

/// The interned tables a slot's handles point into.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interned {
    /// Permission id → index.
    pub(crate) perm_index: FlatMap<PermissionId, u32>,
    /// Index → permission id.
    pub(crate) perm_ids: imbl::Vector<PermissionId>,
    /// Role key → handle.
    pub(crate) role_handle: imbl::HashMap<RoleKey, u32>,
    /// Handle → role.
    pub(crate) roles: imbl::Vector<RoleEntry>,
}

/// What a grant hands out, by interned handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotTarget {
    /// A role (handle into [`Interned::roles`]).
    Role(u32),
    /// One permission.
    Permission(PermIndex),
}

/// One grant, compiled for decisions. It is also the only copy of the grant
/// the model keeps (96 bytes, inline in its holder's slot array: a user's
/// or a group's): the [`Grant`] entity is rebuilt from it when asked for.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    /// The permissions with index < 64 the grant hands out (resolved
    /// through its role).
    pub(crate) bits: u64,
    /// The grant's scope.
    pub(crate) scope: Scope,
    /// What it hands out.
    pub(crate) target: SlotTarget,
    /// The grant's id.
    pub(crate) id: GrantId,
    /// When it expires ([`Moment::NEVER`]: never).
    pub(crate) expires: Moment,
    /// Who granted it.
    pub(crate) created_by: Option<UserId>,
    /// When.
    pub(crate) created_at: Moment,
    /// The revision of its last change.
    pub(crate) revision: Revision,
}

impl Slot {
    /// Whether the grant hands out `p`. One bit test for the first 64
    /// interned permissions; beyond, a look at the role's compiled set.
    #[inline]
    pub(crate) fn gives(&self, p: PermIndex, interned: &Interned) -> bool {
        if p.0 < 64 {
            return (self.bits >> p.0) & 1 == 1;
        }
        match self.target {
            SlotTarget::Permission(q) => q == p,
            SlotTarget::Role(h) => interned
                .roles
                .get(h as usize)
                .is_some_and(|r| r.set.contains(p)),
        }
    }

    /// The role's key when the grant is of a role.
    pub(crate) fn role_key<'i>(&self, interned: &'i Interned) -> Option<&'i RoleKey> {
        match self.target {
            SlotTarget::Role(h) => interned.roles.get(h as usize).map(|r| &r.key),
            SlotTarget::Permission(_) => None,
        }
    }

    /// Whether the grant still counts at `now`.
    #[inline]
    pub(crate) fn live_at(&self, now: Moment) -> bool {
        self.expires.live_at(now)
    }

    /// Whether the grant has no expiry (the lockout guard counts only these).
    pub(crate) fn is_permanent(&self) -> bool {
        self.expires == Moment::NEVER
    }

    /// The grant entity this slot stores. Handles only come from
    /// interning and interned rows are never removed, so both look-ups hit.
    pub(crate) fn grant(&self, holder: GrantHolder, interned: &Interned) -> Grant {
        let target = match self.target {
            SlotTarget::Role(h) => GrantTarget::Role(interned.roles[h as usize].key.clone()),
            SlotTarget::Permission(i) => GrantTarget::Permission(interned.perm_ids[i.0 as usize]),
        };
        Grant {
            id: self.id,
            holder,
            target,
            scope: self.scope,
            expires_at: self.expires.to_expiry(),
            created_at: self.created_at.to_time(),
            created_by: self.created_by,
            revision: self.revision,
        }
    }
}

/// One of a user's group memberships, as the user's decider keeps it (the
/// membership's only copy: the [`GroupMember`] entity is rebuilt from it).
#[derive(Clone, Debug)]
pub(crate) struct MemberSlot {
    /// The group.
    pub(crate) group: GroupId,
    /// The group's handle in [`GroupSummaries`] (`u32::MAX`: unknown).
    pub(crate) handle: u32,
    /// When the membership expires ([`Moment::NEVER`]: never).
    pub(crate) expires: Moment,
    /// When it was made.
    pub(crate) created_at: Moment,
    /// Who made it.
    pub(crate) created_by: Option<UserId>,
    /// The revision of its last change.
    pub(crate) revision: Revision,
}

impl MemberSlot {
    /// Compiles a membership in the group of handle `handle`.
    pub(crate) fn of(m: &GroupMember, handle: u32) -> Self {
        Self {
            group: m.group_id,
            handle,
            expires: Moment::expiry(m.expires_at),
            created_at: Moment::of(m.created_at),
            created_by: m.created_by,
            revision: m.revision,
        }
    }

    /// The membership entity of `user`.
    pub(crate) fn member(&self, user: UserId) -> GroupMember {
        GroupMember {
            group_id: self.group,
            user_id: user,
            expires_at: self.expires.to_expiry(),
            created_at: self.created_at.to_time(),
            created_by: self.created_by,
            revision: self.revision,
        }
    }
}

/// A group as decisions see it: its grants, compiled.
#[derive(Clone, Debug)]
pub(crate) struct GroupDecider {
    /// The group's grants, compiled, in grant-id order.
    slots: Arc<[Slot]>,
}

impl GroupDecider {
    /// Compiles a group's grants (in grant-id order).
    pub(crate) fn new(slots: Arc<[Slot]>) -> Self {
        Self { slots }
    }

    /// The group's grants, in grant-id order.
    pub(crate) fn slots(&self) -> &Arc<[Slot]> {
        &self.slots
    }
}

/// What a group's grants may hand out, where: enough for a check to pass
/// over a group without looking it up. 16 bytes, kept densely by group
/// handle in [`GroupSummaries`], which stays in cache where the groups'
/// own entries would not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GroupSummary {
    /// The union of the grants' [`Slot::bits`].
    perms: u64,
    /// Where: all ones when a grant's scope reaches beyond one account
    /// (global, an organization, its accounts); else one bit per account
    /// a grant is scoped to ([`GroupSummary::account_bit`]).
    accounts: u64,
}

impl GroupSummary {
    /// Says nothing: a check looks at the group.
    const ANY: Self = Self {
        perms: !0,
        accounts: !0,
    };
    /// A group without grants.
    const NONE: Self = Self {
        perms: 0,
        accounts: 0,
    };

    /// The summary of a group's grants.
    pub(crate) fn of(slots: &[Slot]) -> Self {
        slots.iter().fold(Self::NONE, |sum, s| Self {
            perms: sum.perms | s.bits,
            accounts: sum.accounts
                | match s.scope {
                    Scope::Account(a) => Self::account_bit(a),
                    Scope::Global | Scope::Organization(_) | Scope::Accounts(_) => !0,
                },
        })
    }

    #[inline]
    fn account_bit(a: AccountId) -> u64 {
        // UUIDv7's last bits are random.
        1 << (a.0.as_u128() as u64 & 63)
    }

    /// Whether one of the group's grants may give `p` (at `account`, when
    /// the question is about one): false means none does.
    #[inline]
    pub(crate) fn may_give(self, p: PermIndex, account: Option<AccountId>) -> bool {
        (p.0 >= 64 || (self.perms >> p.0) & 1 == 1)
            && account.is_none_or(|a| self.accounts & Self::account_bit(a) != 0)
    }
}

/// Chunk size of [`GroupSummaries`].
const SUMMARY_CHUNK: usize = 256;

/// A group's entry in [`GroupSummaries`]: its summary, and its compiled
/// grants (the same shared array as its [`GroupDecider`]), so that a check
/// reaching a group's grants goes from the membership's handle straight to
/// them, without probing the groups' hash map.
#[derive(Clone, Debug)]
struct GroupEntry {
    sum: GroupSummary,
    /// `None`: no group has this handle (yet).
    slots: Option<Arc<[Slot]>>,
}

impl GroupEntry {
    const UNKNOWN: Self = Self {
        sum: GroupSummary::ANY,
        slots: None,
    };
}

/// Groups' summaries and grants by handle: two levels of shared arrays, so
/// a clone is O(1) and a change copies one 8 KiB chunk and the small array
/// above it. Handles are given when a group is created and never reused.
#[derive(Clone, Debug, Default)]
pub(crate) struct GroupSummaries {
    chunks: Arc<Vec<Arc<[GroupEntry; SUMMARY_CHUNK]>>>,
}

impl GroupSummaries {
    /// The summary of handle `h` and the group's grants (when the handle is
    /// known: [`GroupSummary::ANY`] and `None` otherwise).
    #[inline]
    pub(crate) fn get(&self, h: u32) -> (GroupSummary, Option<&Arc<[Slot]>>) {
        let h = h as usize;
        match self.chunks.get(h / SUMMARY_CHUNK) {
            Some(c) => {
                let e = &c[h % SUMMARY_CHUNK];
                (e.sum, e.slots.as_ref())
            }
            None => (GroupSummary::ANY, None),
        }
    }

    /// Sets the grants of the group of handle `h`, and its summary.
    pub(crate) fn set(&mut self, h: u32, slots: Arc<[Slot]>) {
        let h = h as usize;
        let chunks = Arc::make_mut(&mut self.chunks);
        while chunks.len() <= h / SUMMARY_CHUNK {
            chunks.push(Arc::new([GroupEntry::UNKNOWN; SUMMARY_CHUNK]));
        }
        Arc::make_mut(&mut chunks[h / SUMMARY_CHUNK])[h % SUMMARY_CHUNK] = GroupEntry {
            sum: GroupSummary::of(&slots),
            slots: Some(slots),
        };
    }
}

/// Whether a user can be allowed anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum UserState {
    /// No such user (grants may still name it, e.g. while loading).
    #[default]
    Unknown,
    /// Invited, disabled or deleted.
    Inactive,
    /// Active and not deleted.
    Effective,
}

/// Everything a check needs about one user.
#[derive(Clone, Debug, Default)]
pub(crate) struct Decider {
    /// The user's state.
    pub(crate) state: UserState,
    /// The user's home organization (when known).
    pub(crate) home: Option<OrganizationId>,
    /// The user's own grants, compiled, in grant-id order.
    pub(crate) slots: Arc<[Slot]>,
    /// The user's group memberships, in group-id order.
    pub(crate) groups: Arc<[MemberSlot]>,
}

/// One grant a user holds (its own or a group's), borrowed from a model
/// snapshot: what a decision names without building the grant entity.
#[derive(Clone, Copy, Debug)]
pub struct GrantRef<'m> {
    pub(crate) holder: GrantHolder,
    pub(crate) slot: &'m Slot,
    pub(crate) interned: &'m Interned,
}

impl<'m> GrantRef<'m> {
    /// The grant's id.
    pub fn id(&self) -> GrantId {
        self.slot.id
    }
    /// The grant's scope.
    pub fn scope(&self) -> Scope {
        self.slot.scope
    }
    /// Who holds the grant: the user itself, or a group it is a member of.
    pub fn holder(&self) -> GrantHolder {
        self.holder
    }
    /// The group the user holds the grant through, if any.
    pub fn group(&self) -> Option<GroupId> {
        self.holder.group()
    }
    /// The role, when the grant is of a role.
    pub fn role_id(&self) -> Option<&'m RoleId> {
        self.slot.role_key(self.interned).map(|k| &k.id)
    }
    /// Whether the grant hands out `p`.
    #[inline]
    pub fn gives(&self, p: PermIndex) -> bool {
        self.slot.gives(p, self.interned)
    }
    /// The grant entity.
    pub fn grant(&self) -> Grant {
        self.slot.grant(self.holder, self.interned)
    }
}

impl PartialEq for GrantRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.holder == other.holder && self.slot.id == other.slot.id
    }
}

impl Eq for GrantRef<'_> {}

/// What a search of a user's grants found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found<'m> {
    /// The first live grant that matches.
    Live(GrantRef<'m>),
    /// None live; an expired one (grant or membership) would have matched.
    Expired,
    /// None at all.
    Nothing,
}

/// A user, as the decision index sees it: borrowed from a model snapshot.
///
/// The grants a user holds are its own (in grant-id order), then those of
/// each group it is a member of (in group-id order, each group's in
/// grant-id order): "the first grant" of a decision is the first in that
/// order. A grant or a membership counts at instant `now` when it has not
/// expired by then.
#[derive(Clone, Copy, Debug)]
pub struct Holder<'m> {
    pub(crate) user: UserId,
    pub(crate) home: Option<OrganizationId>,
    pub(crate) effective: bool,
    pub(crate) slots: &'m [Slot],
    pub(crate) groups: &'m [MemberSlot],
    pub(crate) group_grants: &'m FlatMap<GroupId, GroupDecider>,
    pub(crate) summaries: &'m GroupSummaries,
    pub(crate) interned: &'m Interned,
}

impl<'m> Holder<'m> {
    /// Active and not deleted (SPEC §2.1: otherwise nothing is allowed).
    #[inline]
    pub fn is_effective(&self) -> bool {
        self.effective
    }

    /// The user's home organization.
    #[inline]
    pub fn home(&self) -> Option<OrganizationId> {
        self.home
    }

    /// The groups the user is a member of at `now`, in id order.
    pub fn groups_at(&self, now: Moment) -> impl Iterator<Item = GroupId> + 'm {
        self.groups
            .iter()
            .filter(move |m| m.expires.live_at(now))
            .map(|m| m.group)
    }

    /// The first grant, in the holder's order, that gives `p` and
    /// satisfies `pred`, among those counting at `now`; else whether an
    /// expired one would have. `pred` only ever holds of a grant scoped
    /// to `account` or wider, when given: groups that can hold neither are
    /// passed over on their summary.
    #[inline]
    pub(crate) fn find(
        &self,
        p: PermIndex,
        account: Option<AccountId>,
        now: Moment,
        pred: impl Fn(&Slot) -> bool,
    ) -> Found<'m> {
        let mut expired = false;
        let own = GrantHolder::User(self.user);
        let pred = |s: &Slot| s.gives(p, self.interned) && pred(s);
        for s in self.slots {
            if pred(s) {
                if s.live_at(now) {
                    return Found::Live(self.at(own, s));
                }
                expired = true;
            }
        }
        for m in self.groups {
            let (sum, slots) = self.summaries.get(m.handle);
            if !sum.may_give(p, account) {
                continue;
            }
            // A known handle has the group's grants; an unknown one (never
            // in a published model) is looked up by id.
            let Some(slots) =
                slots.or_else(|| self.group_grants.get(&m.group).map(GroupDecider::slots))
            else {
                continue;
            };
            let member_live = m.expires.live_at(now);
            for s in slots.iter() {
                if pred(s) {
                    if member_live && s.live_at(now) {
                        return Found::Live(self.at(GrantHolder::Group(m.group), s));
                    }
                    expired = true;
                }
            }
        }
        if expired {
            Found::Expired
        } else {
            Found::Nothing
        }
    }

    fn at(&self, holder: GrantHolder, slot: &'m Slot) -> GrantRef<'m> {
        GrantRef {
            holder,
            slot,
            interned: self.interned,
        }
    }

    /// The first grant (in the holder's order) counting at `now` that gives
    /// permission `p` at a scope covering `target`, or whether only an
    /// expired one would have. Does not look at the user's or the account's
    /// status: the caller does.
    #[inline]
    pub fn first_grant(&self, p: PermIndex, target: &Target, now: Moment) -> Found<'m> {
        let account = match *target {
            Target::Account(_, a) => Some(a),
            Target::Organization(_) => None,
        };
        self.find(p, account, now, |s| s.scope.covers(target))
    }

    /// The first grant counting at `now` that gives `p` at a scope
    /// containing all of `scope`. `org_of` resolves an account's
    /// organization.
    pub fn first_grant_over(
        &self,
        p: PermIndex,
        scope: &Scope,
        now: Moment,
        org_of: impl Fn(crate::AccountId) -> Option<OrganizationId>,
    ) -> Option<GrantRef<'m>> {
        match self.find(p, None, now, |s| s.scope.contains(scope, &org_of)) {
            Found::Live(g) => Some(g),
            Found::Expired | Found::Nothing => None,
        }
    }

    /// The scopes at which the user holds `p` at `now`, in the holder's order.
    pub fn scopes_with(&self, p: PermIndex, now: Moment) -> impl Iterator<Item = Scope> + 'm {
        let interned = self.interned;
        self.grants(now)
            .filter(move |g| g.slot.gives(p, interned))
            .map(|g| g.slot.scope)
    }

    /// The grants counting at `now`, own and through groups, in the
    /// holder's order.
    pub fn grants(&self, now: Moment) -> impl Iterator<Item = GrantRef<'m>> + 'm {
        let (user, interned, group_grants) = (self.user, self.interned, self.group_grants);
        let own = self.slots.iter().map(move |slot| GrantRef {
            holder: GrantHolder::User(user),
            slot,
            interned,
        });
        let through_groups = self
            .groups
            .iter()
            .filter(move |m| m.expires.live_at(now))
            .flat_map(move |m| {
                group_grants
                    .get(&m.group)
                    .into_iter()
                    .flat_map(move |g| g.slots.iter())
                    .map(move |slot| GrantRef {
                        holder: GrantHolder::Group(m.group),
                        slot,
                        interned,
                    })
            });
        own.chain(through_groups)
            .filter(move |g| g.slot.live_at(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_stays_compact() {
        // Ten million grants at 1M users: every byte here is 10 MB of RSS.
        assert!(
            std::mem::size_of::<Slot>() <= 96,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }

    #[test]
    fn perm_sets() {
        let s = PermSet::from_indices([PermIndex(0), PermIndex(5), PermIndex(63)]);
        assert!(matches!(s, PermSet::Bits(_)));
        assert!(s.contains(PermIndex(0)) && s.contains(PermIndex(5)) && s.contains(PermIndex(63)));
        assert!(
            !s.contains(PermIndex(1)) && !s.contains(PermIndex(64)) && !s.contains(PermIndex(1000))
        );
        let w = PermSet::from_indices([PermIndex(3), PermIndex(64), PermIndex(200)]);
        assert!(matches!(w, PermSet::Wide(_)));
        assert!(
            w.contains(PermIndex(3)) && w.contains(PermIndex(64)) && w.contains(PermIndex(200))
        );
        assert!(
            !w.contains(PermIndex(4)) && !w.contains(PermIndex(65)) && !w.contains(PermIndex(256))
        );
        assert!(!PermSet::EMPTY.contains(PermIndex(0)));
        assert_eq!(PermSet::from_indices([]), PermSet::EMPTY);
    }
}
