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
pub use roster_domain::Moment;
use roster_domain::{
    AccountId, Grant, Model, OrganizationId, PermissionId, Revision, Scope, UserId,
};
pub use roster_domain::{DenyReason, On};
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

/// Answers one check (SPEC §2.1) at instant `now`, explaining it: the
/// domain's one evaluator ([`Model::evaluate`]), as a [`Decision`].
#[inline]
pub fn check(
    model: &Model,
    user: UserId,
    permission: PermissionId,
    on: On,
    now: Moment,
) -> Decision<'_> {
    match model.evaluate(user, permission, on, now) {
        Ok(g) => Decision::Allowed(g),
        Err(r) => Decision::Denied(r),
    }
}

/// Answers a question the domain resolved ([`roster_domain::ops::Asker`]):
/// a user out of the caller's reach is answered as an unknown one, so that
/// nothing about it, not even whether it is active, shows (SPEC §2.10).
#[inline]
pub fn answer<'m>(model: &'m Model, q: &Question, now: Moment) -> Decision<'m> {
    if q.hidden {
        return Decision::Denied(DenyReason::UnknownUser);
    }
    check(model, q.user, q.permission, q.on, now)
}

/// Accounts where `user` may do `permission` at `now`, in id order, after
/// `after`. Candidates come from the grants the user holds (its own and its
/// groups') that give the permission (every account only when one of them
/// is `global`).
pub fn lookup_accounts(
    model: &Model,
    user: UserId,
    permission: PermissionId,
    after: Option<AccountId>,
    now: Moment,
) -> impl Iterator<Item = AccountId> + '_ {
    let mut orgs: Vec<OrganizationId> = Vec::new();
    let mut global = false;
    let mut direct: Vec<AccountId> = Vec::new();
    if let (Some(h), Some(p)) = (
        model.holder(user).filter(|h| h.is_effective()),
        model.permission_index(permission),
    ) {
        for scope in h.scopes_with(p, now) {
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
    candidates.filter(move |a| check(model, user, permission, On::Account(*a), now).allowed())
}

/// Users who may do `permission` on `on` at `now`, in id order, after
/// `after`. Candidates are the organization's users, holders of `global`
/// grants (members of groups holding one included) and users of other
/// organizations holding grants in it, streamed in id order.
pub fn lookup_users(
    model: &Model,
    permission: PermissionId,
    on: On,
    after: Option<UserId>,
    now: Moment,
) -> impl Iterator<Item = UserId> + '_ {
    let org = match on {
        On::Organization(o) => Some(o),
        On::Account(a) => model.account_org(a),
    };
    org.into_iter()
        .flat_map(move |o| model.candidate_holders(o, after))
        .filter(move |u| check(model, *u, permission, on, now).allowed())
}

/// Every permission `user` holds on `on` at `now`, each with the first
/// grant that gives it (the user's own or a group's: [`Grant::holder`]).
pub fn effective_permissions(
    model: &Model,
    user: UserId,
    on: On,
    now: Moment,
) -> Vec<(PermissionId, Grant)> {
    let mut candidates: Vec<PermissionId> = model
        .holder(user)
        .into_iter()
        .flat_map(|h| h.grants(now))
        .flat_map(|g| model.grant_permissions(&g.grant()))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates
        .into_iter()
        .filter_map(|p| match check(model, user, p, on, now) {
            Decision::Allowed(g) => Some((p, g.grant())),
            Decision::Denied(_) => None,
        })
        .collect()
}
