//! Roster's decision engine. It answers checks, batches, lookups and
//! explanations from a published [`Model`]: readers load the current
//! snapshot (an `ArcSwap`, no lock a writer holds) and evaluate against it;
//! the writer publishes a new snapshot only after the database committed it.
//!
//! Pure and synchronous: no tokio, no sqlx. Waiting for a revision is the
//! server's business.

use arc_swap::ArcSwap;
use roster_domain::model::GrantRef;
use roster_domain::ops::Question;
pub use roster_domain::On;
use roster_domain::{
    AccountId, AccountStatus, Grant, Model, OrganizationId, PermissionId, Revision, Scope, Target,
    UserId,
};
use std::sync::Arc;

/// The published model, swapped atomically as revisions commit.
#[derive(Debug)]
pub struct Engine {
    current: ArcSwap<Model>,
}

impl Engine {
    /// An engine answering from `model`.
    pub fn new(model: Model) -> Self {
        Self {
            current: ArcSwap::from_pointee(model),
        }
    }

    /// The current snapshot. Cheap; hold it for the duration of one request
    /// so that every answer in it is at one revision.
    pub fn snapshot(&self) -> Arc<Model> {
        self.current.load_full()
    }

    /// The revision of the current snapshot.
    pub fn revision(&self) -> Revision {
        self.current.load().revision()
    }

    /// Publishes a newer snapshot. Older revisions are ignored so that a
    /// slow follower can never move the engine backwards.
    pub fn publish(&self, model: Arc<Model>) {
        self.current.rcu(|cur| {
            if model.revision() >= cur.revision() {
                model.clone()
            } else {
                cur.clone()
            }
        });
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
        }
    }
}

/// The outcome of one check, borrowing from the model it was answered on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision<'m> {
    /// Allowed through this grant (the first, in id order, that allows it).
    Allowed(GrantRef<'m>),
    /// Denied, and why.
    Denied(DenyReason),
}

impl Decision<'_> {
    /// Whether allowed.
    #[inline]
    pub fn allowed(&self) -> bool {
        matches!(self, Self::Allowed(_))
    }
}

/// Answers one check (SPEC §2.1), explaining it.
///
/// Cost: a hash probe for the user, one for the account, one for the
/// permission, then a scan of that user's compiled grants (a bit test and a
/// scope comparison each). No allocation, no lock, no role look-up.
#[inline]
pub fn check(model: &Model, user: UserId, permission: PermissionId, on: On) -> Decision<'_> {
    // The three look-ups are independent: made before any of their results
    // is used, their cache misses overlap instead of queueing (on a large
    // data set a check is memory latency, not instructions).
    let holder = model.holder(user);
    let account = match on {
        On::Account(a) => model.account_state(a),
        On::Organization(_) => None,
    };
    let p = model.permission_index(permission);
    let Some(h) = holder else {
        return Decision::Denied(DenyReason::UnknownUser);
    };
    if !h.is_effective() {
        return Decision::Denied(DenyReason::UserInactive);
    }
    let target = match (on, account) {
        (On::Organization(o), _) => Target::Organization(o),
        (On::Account(a), Some((o, AccountStatus::Active))) => Target::Account(o, a),
        (On::Account(_), Some(_)) => return Decision::Denied(DenyReason::AccountDisabled),
        (On::Account(_), None) => return Decision::Denied(DenyReason::UnknownAccount),
    };
    match p.and_then(|p| h.first_grant(p, &target)) {
        Some(g) => Decision::Allowed(g),
        None => Decision::Denied(DenyReason::NoGrant),
    }
}

/// Answers a question the domain resolved ([`roster_domain::ops::Asker`]):
/// a user out of the caller's reach is answered as an unknown one, so that
/// nothing about it, not even whether it is active, shows (SPEC §2.10).
#[inline]
pub fn answer<'m>(model: &'m Model, q: &Question) -> Decision<'m> {
    if q.hidden {
        return Decision::Denied(DenyReason::UnknownUser);
    }
    check(model, q.user, q.permission, q.on)
}

/// Accounts where `user` may do `permission`, in id order, after `after`.
/// Candidates come from the user's own grants that give the permission
/// (every account only when one of them is `global`).
pub fn lookup_accounts(
    model: &Model,
    user: UserId,
    permission: PermissionId,
    after: Option<AccountId>,
) -> impl Iterator<Item = AccountId> + '_ {
    let mut orgs: Vec<OrganizationId> = Vec::new();
    let mut global = false;
    let mut direct: Vec<AccountId> = Vec::new();
    if let (Some(h), Some(p)) = (
        model.holder(user).filter(|h| h.is_effective()),
        model.permission_index(permission),
    ) {
        for scope in h.scopes_with(p) {
            match scope {
                Scope::Global => global = true,
                Scope::Organization(o) | Scope::Accounts(o) => orgs.push(o),
                Scope::Account(a) => direct.push(a),
            }
        }
    }
    let candidates: Box<dyn Iterator<Item = AccountId> + '_> = if global {
        Box::new(model.accounts_after(after).map(|a| a.id))
    } else {
        orgs.sort_unstable();
        orgs.dedup();
        let mut all: Vec<AccountId> = orgs
            .iter()
            .flat_map(|o| model.accounts_of(*o))
            .chain(direct)
            .collect();
        all.sort_unstable();
        all.dedup();
        Box::new(
            all.into_iter()
                .filter(move |a| after.is_none_or(|x| *a > x)),
        )
    };
    candidates.filter(move |a| check(model, user, permission, On::Account(*a)).allowed())
}

/// Users who may do `permission` on `on`, in id order, after `after`.
/// Candidates are the organization's users, holders of `global` grants and
/// users of other organizations holding grants in it, streamed in id order.
pub fn lookup_users(
    model: &Model,
    permission: PermissionId,
    on: On,
    after: Option<UserId>,
) -> impl Iterator<Item = UserId> + '_ {
    let org = match on {
        On::Organization(o) => Some(o),
        On::Account(a) => model.account_org(a),
    };
    org.into_iter()
        .flat_map(move |o| model.candidate_holders(o, after))
        .filter(move |u| check(model, *u, permission, on).allowed())
}

/// Every permission `user` holds on `on`, each with the first grant that gives it.
pub fn effective_permissions(model: &Model, user: UserId, on: On) -> Vec<(PermissionId, Grant)> {
    let mut candidates: Vec<PermissionId> = model
        .grants_of(user)
        .flat_map(|g| model.grant_permissions(&g))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates
        .into_iter()
        .filter_map(|p| match check(model, user, p, on) {
            Decision::Allowed(g) => Some((p, g.grant())),
            Decision::Denied(_) => None,
        })
        .collect()
}
