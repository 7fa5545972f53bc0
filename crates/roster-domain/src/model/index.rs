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
//! The maps are persistent (imbl HAMTs with a fast hasher), so the writer's
//! O(1) clone of the model still holds, and applying a change rewrites only
//! the entries it touches: a grant change copies that user's slot array
//! (O(grants of the user)); a change of a custom role's permissions
//! recompiles the slots of every holder of that role (O(holders × their
//! grants)), the one change whose cost grows with the data set.

use crate::entity::Grant;
use crate::ids::OrganizationId;
use crate::scope::{Scope, Target};
use std::sync::Arc;

/// The hasher of the decision maps: foldhash, seeded per process (UUID keys
/// may be chosen by clients, so the seed must not be predictable).
pub(crate) type FastState = foldhash::fast::RandomState;

/// A persistent hash map with the fast hasher.
pub(crate) type FastMap<K, V> =
    imbl::GenericHashMap<K, V, FastState, imbl::shared_ptr::DefaultSharedPtr>;

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
}

/// One grant compiled for decisions.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    /// The grant's scope (a copy, so a check does not follow the grant pointer).
    pub(crate) scope: Scope,
    /// The permissions the grant hands out, resolved through its role.
    pub(crate) perms: PermSet,
    /// The grant itself (what an explanation names).
    pub(crate) grant: Arc<Grant>,
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

/// A user, as the decision index sees it: borrowed from a model snapshot.
#[derive(Clone, Copy, Debug)]
pub struct Holder<'m> {
    pub(crate) effective: bool,
    pub(crate) slots: &'m [Slot],
}

impl<'m> Holder<'m> {
    /// Active and not deleted (SPEC §2.1: otherwise nothing is allowed).
    #[inline]
    pub fn is_effective(&self) -> bool {
        self.effective
    }

    /// The first grant (in id order) that gives permission `p` at a scope
    /// covering `target`. Does not look at the user's or the account's
    /// status: the caller does.
    #[inline]
    pub fn first_grant(&self, p: PermIndex, target: &Target) -> Option<&'m Arc<Grant>> {
        self.slots
            .iter()
            .find(|s| s.perms.contains(p) && s.scope.covers(target))
            .map(|s| &s.grant)
    }

    /// The first grant (in id order) that gives `p` at a scope containing
    /// all of `scope`. `org_of` resolves an account's organization.
    pub fn first_grant_over(
        &self,
        p: PermIndex,
        scope: &Scope,
        org_of: impl Fn(crate::AccountId) -> Option<OrganizationId>,
    ) -> Option<&'m Arc<Grant>> {
        self.slots
            .iter()
            .find(|s| s.perms.contains(p) && s.scope.contains(scope, &org_of))
            .map(|s| &s.grant)
    }

    /// The scopes at which the user holds `p`, in grant-id order.
    pub fn scopes_with(&self, p: PermIndex) -> impl Iterator<Item = Scope> + 'm {
        self.slots
            .iter()
            .filter(move |s| s.perms.contains(p))
            .map(|s| s.scope)
    }

    /// The user's grants in id order.
    pub fn grants(&self) -> impl Iterator<Item = &'m Arc<Grant>> + 'm {
        self.slots.iter().map(|s| &s.grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
