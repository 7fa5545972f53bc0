//! Roster's decision engine. It answers checks, batches, lookups and
//! explanations from a published [`Model`]: readers load the current
//! snapshot (an `ArcSwap`, no lock a writer holds) and evaluate against it;
//! the writer publishes a new snapshot only after the database committed it.
//!
//! Pure and synchronous: no tokio, no sqlx. Waiting for a revision is the
//! server's business.

use arc_swap::ArcSwap;
use roster_domain::{
    AccountId, AccountStatus, Grant, GrantTarget, Model, OrganizationId, PermissionId, Revision, Scope,
    Target, UserId,
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
        Self { current: ArcSwap::from_pointee(model) }
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
        self.current.rcu(|cur| if model.revision() >= cur.revision() { model.clone() } else { cur.clone() });
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

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed through this grant.
    Allowed(Arc<Grant>),
    /// Denied, and why.
    Denied(DenyReason),
}

impl Decision {
    /// Whether allowed.
    pub fn allowed(&self) -> bool {
        matches!(self, Self::Allowed(_))
    }
}

/// What a check is about, before resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum On {
    /// An organization.
    Organization(OrganizationId),
    /// An account.
    Account(AccountId),
}

/// Answers one check (SPEC §2.1), explaining it.
#[inline]
pub fn check(model: &Model, user: UserId, permission: PermissionId, on: On) -> Decision {
    let Some(u) = model.user(user) else { return Decision::Denied(DenyReason::UnknownUser) };
    if !u.is_effective() {
        return Decision::Denied(DenyReason::UserInactive);
    }
    let target = match on {
        On::Organization(o) => Target::Organization(o),
        On::Account(a) => match model.account(a) {
            None => return Decision::Denied(DenyReason::UnknownAccount),
            Some(acc) if acc.status != AccountStatus::Active => {
                return Decision::Denied(DenyReason::AccountDisabled)
            }
            Some(acc) => Target::Account(acc.organization_id, acc.id),
        },
    };
    match model.grants_of(user).find(|g| g.scope.covers(&target) && model.grant_gives(g, permission)) {
        Some(g) => Decision::Allowed(g.clone()),
        None => Decision::Denied(DenyReason::NoGrant),
    }
}

/// Accounts where `user` may do `permission`, in id order, after `after`.
pub fn lookup_accounts(
    model: &Model,
    user: UserId,
    permission: PermissionId,
    after: Option<AccountId>,
) -> impl Iterator<Item = AccountId> + '_ {
    let effective = model.user(user).is_some_and(|u| u.is_effective());
    // Candidate organizations: those the user's grants with the permission reach.
    let mut orgs: Vec<OrganizationId> = Vec::new();
    let mut global = false;
    let mut direct: Vec<AccountId> = Vec::new();
    if effective {
        for g in model.grants_of(user).filter(|g| model.grant_gives(g, permission)) {
            match g.scope {
                Scope::Global => global = true,
                Scope::Organization(o) | Scope::Accounts(o) => orgs.push(o),
                Scope::Account(a) => direct.push(a),
            }
        }
    }
    let candidates: Box<dyn Iterator<Item = AccountId> + '_> = if global {
        Box::new(model.accounts_after(after).map(|a| a.id))
    } else {
        let mut all: Vec<AccountId> = orgs.iter().flat_map(|o| model.accounts_of(*o)).chain(direct).collect();
        all.sort_unstable();
        all.dedup();
        Box::new(all.into_iter())
    };
    candidates
        .filter(move |a| after.is_none_or(|x| *a > x))
        .filter(move |a| check(model, user, permission, On::Account(*a)).allowed())
}

/// Users who may do `permission` on `on`, in id order, after `after`.
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
    // Holders are users of the organization plus holders of global grants.
    let mut ids: Vec<UserId> = org.into_iter().flat_map(|o| model.users_of(o)).collect();
    ids.extend(model.grants().filter(|g| g.scope == Scope::Global).map(|g| g.user_id));
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter(move |u| after.is_none_or(|x| *u > x))
        .filter(move |u| check(model, *u, permission, on).allowed())
}

/// Every permission `user` holds on `on`, each with the first grant that gives it.
pub fn effective_permissions(model: &Model, user: UserId, on: On) -> Vec<(PermissionId, Arc<Grant>)> {
    let mut out: Vec<(PermissionId, Arc<Grant>)> = Vec::new();
    let candidates: Vec<PermissionId> = model
        .grants_of(user)
        .flat_map(|g| match &g.target {
            GrantTarget::Permission(p) => vec![*p],
            GrantTarget::Role(_) => model.grant_permissions(g),
        })
        .collect();
    for p in candidates {
        if out.iter().any(|(q, _)| *q == p) {
            continue;
        }
        if let Decision::Allowed(g) = check(model, user, p, on) {
            out.push((p, g));
        }
    }
    out.sort_by_key(|(p, _)| *p);
    out
}
