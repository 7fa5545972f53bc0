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
use crate::entity::{Grant, GrantTarget, RoleKey};
use crate::ids::{GrantId, OrganizationId, PermissionId, Revision, UserId};
use crate::scope::{Scope, Target};
use crate::RoleId;
use std::sync::Arc;
use time::OffsetDateTime;

/// The dense index of an interned permission. Indices are never reused, so
/// an index stays valid for the life of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PermIndex(pub(crate) u32);

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
/// the model keeps (96 bytes, inline in its holder's slot array): the
/// [`Grant`] entity is rebuilt from it when asked for.
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
    /// Who granted it.
    pub(crate) created_by: Option<UserId>,
    /// When.
    pub(crate) created_at: OffsetDateTime,
    /// The revision that created it.
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

    /// The grant entity this slot stores. Handles only come from
    /// interning and interned rows are never removed, so both look-ups hit.
    pub(crate) fn grant(&self, user: UserId, interned: &Interned) -> Grant {
        let target = match self.target {
            SlotTarget::Role(h) => GrantTarget::Role(interned.roles[h as usize].key.clone()),
            SlotTarget::Permission(i) => GrantTarget::Permission(interned.perm_ids[i.0 as usize]),
        };
        Grant {
            id: self.id,
            user_id: user,
            target,
            scope: self.scope,
            created_at: self.created_at,
            created_by: self.created_by,
            revision: self.revision,
        }
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
    /// The user's grants, compiled, in grant-id order.
    pub(crate) slots: Arc<[Slot]>,
}

/// One of a user's grants, borrowed from a model snapshot: what a decision
/// names without building the grant entity.
#[derive(Clone, Copy, Debug)]
pub struct GrantRef<'m> {
    pub(crate) user: UserId,
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
    /// The role, when the grant is of a role.
    pub fn role_id(&self) -> Option<&'m RoleId> {
        self.slot.role_key(self.interned).map(|k| &k.id)
    }
    /// The grant entity.
    pub fn grant(&self) -> Grant {
        self.slot.grant(self.user, self.interned)
    }
}

impl PartialEq for GrantRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.user == other.user && self.slot.id == other.slot.id
    }
}

impl Eq for GrantRef<'_> {}

/// A user, as the decision index sees it: borrowed from a model snapshot.
#[derive(Clone, Copy, Debug)]
pub struct Holder<'m> {
    pub(crate) user: UserId,
    pub(crate) home: Option<OrganizationId>,
    pub(crate) effective: bool,
    pub(crate) slots: &'m [Slot],
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

    fn at(&self, slot: &'m Slot) -> GrantRef<'m> {
        GrantRef {
            user: self.user,
            slot,
            interned: self.interned,
        }
    }

    /// The first grant (in id order) that gives permission `p` at a scope
    /// covering `target`. Does not look at the user's or the account's
    /// status: the caller does.
    #[inline]
    pub fn first_grant(&self, p: PermIndex, target: &Target) -> Option<GrantRef<'m>> {
        self.slots
            .iter()
            .find(|s| s.gives(p, self.interned) && s.scope.covers(target))
            .map(|s| self.at(s))
    }

    /// The first grant (in id order) that gives `p` at a scope containing
    /// all of `scope`. `org_of` resolves an account's organization.
    pub fn first_grant_over(
        &self,
        p: PermIndex,
        scope: &Scope,
        org_of: impl Fn(crate::AccountId) -> Option<OrganizationId>,
    ) -> Option<GrantRef<'m>> {
        self.slots
            .iter()
            .find(|s| s.gives(p, self.interned) && s.scope.contains(scope, &org_of))
            .map(|s| self.at(s))
    }

    /// The scopes at which the user holds `p`, in grant-id order.
    pub fn scopes_with(&self, p: PermIndex) -> impl Iterator<Item = Scope> + 'm {
        let interned = self.interned;
        self.slots
            .iter()
            .filter(move |s| s.gives(p, interned))
            .map(|s| s.scope)
    }

    /// The user's grants in id order.
    pub fn grants(&self) -> impl Iterator<Item = GrantRef<'m>> + 'm {
        let (user, interned) = (self.user, self.interned);
        self.slots.iter().map(move |slot| GrantRef {
            user,
            slot,
            interned,
        })
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
