//! Who acts: a user, through a credential that may narrow what it may do.
//!
//! A credential with scopes (an API key created with `scopes`, a token
//! minted from it) acts as its user **and** only for the permissions in its
//! scopes: whatever a rule asks of the actor is asked of the intersection
//! of the user's grants and the scopes. Reach (which organizations the
//! actor can see at all, SPEC §2.2) stays the user's: a scope narrows what
//! it may do, not what exists.

use crate::ids::{PermissionId, UserId};
use crate::model::{Model, Moment};
use crate::scope::Scope;
use std::sync::Arc;

/// The acting user, the scopes of its credential if any, and the instant
/// its rights are judged at (the request's time: a grant that has expired
/// by then gives the actor nothing, SPEC §2.1).
#[derive(Clone, Debug)]
pub struct Actor {
    /// The user the credential acts as.
    pub user: UserId,
    /// Sorted, without duplicates; `None`: the user's full power.
    scopes: Option<Arc<[PermissionId]>>,
    /// When it acts.
    now: Moment,
}

/// Two actors are the same when they are the same user with the same
/// scopes, whenever they act.
impl PartialEq for Actor {
    fn eq(&self, other: &Self) -> bool {
        self.user == other.user && self.scopes == other.scopes
    }
}

impl Eq for Actor {}

impl From<UserId> for Actor {
    fn from(user: UserId) -> Self {
        Self::user(user)
    }
}

impl Actor {
    /// A credential with its user's full power.
    pub fn user(user: UserId) -> Self {
        Self::scoped(user, None)
    }

    /// A credential acting as `user` only for `scopes` (`None`: unscoped).
    pub fn scoped(user: UserId, scopes: Option<&[PermissionId]>) -> Self {
        let scopes = scopes.map(|s| {
            let mut v = s.to_vec();
            v.sort_unstable();
            v.dedup();
            Arc::from(v)
        });
        Self {
            user,
            scopes,
            now: Moment::now(),
        }
    }

    /// The same actor, acting at `now`.
    pub fn at(mut self, now: time::OffsetDateTime) -> Self {
        self.now = Moment::of(now);
        self
    }

    /// The instant the actor's rights are judged at.
    pub fn now(&self) -> Moment {
        self.now
    }

    /// The scopes, sorted, if the credential is scoped.
    pub fn scopes(&self) -> Option<&[PermissionId]> {
        self.scopes.as_deref()
    }

    /// Whether the credential's scopes admit `p` (always, when unscoped).
    #[inline]
    pub fn permits(&self, p: PermissionId) -> bool {
        self.scopes
            .as_deref()
            .is_none_or(|s| s.binary_search(&p).is_ok())
    }

    /// Whether the actor holds `p` over the whole of `scope`: its user does
    /// and its credential's scopes admit `p`.
    #[inline]
    pub fn holds(&self, model: &Model, p: PermissionId, scope: &Scope) -> bool {
        self.permits(p) && model.holds_over(self.user, p, scope, self.now)
    }

    /// Whether the actor holds `p` anywhere (over some scope).
    pub fn holds_somewhere(&self, model: &Model, p: PermissionId) -> bool {
        let Some(i) = model.permission_index(p) else {
            return false;
        };
        self.permits(p)
            && model
                .holder(self.user)
                .is_some_and(|h| h.grants(self.now).any(|g| g.gives(i)))
    }
}
