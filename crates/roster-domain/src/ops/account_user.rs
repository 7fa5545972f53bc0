//! An account user (SoftwareOne's `AccountUser`, Fynn's "account"): a
//! membership and its user, read and written as one object with one
//! revision. Administered by a platform operator of the organization (see
//! [`UserAdmin::PlatformOperator`]); the user may edit its own profile.

use crate::draft::Draft;
use crate::entity::{Account, Membership, User};
use crate::error::DomainError;
use crate::ids::{AccountId, Revision, UserId};
use crate::ops::{
    apply_membership_patch, apply_user_patch, authorize_user_update, live_user, MembershipPatch,
    Precondition, UserAdmin, UserPatch,
};
use std::sync::Arc;

/// An account user as one object.
#[derive(Clone, Debug)]
pub struct AccountUser {
    /// The user.
    pub user: Arc<User>,
    /// Its membership of the account.
    pub membership: Arc<Membership>,
    /// The account.
    pub account: Arc<Account>,
}

impl AccountUser {
    /// The object's revision: the later of its user's and its membership's.
    pub fn revision(&self) -> Revision {
        account_user_revision(&self.user, &self.membership)
    }
}

/// The revision of an account user made of `user` and `membership`.
pub fn account_user_revision(user: &User, membership: &Membership) -> Revision {
    user.revision.max(membership.revision)
}

/// A delta update of an account user: `user_patch` says, from the current
/// user, what changes on it (so a surface can merge partial nested objects);
/// `membership` what changes on the membership; `body_revision`, when given,
/// must be the account user's revision (`409` otherwise).
///
/// Unknown or unreachable account, user, or a user that is not a member of
/// the account, are `404`. Only a platform operator of the organization
/// changes another user, or the membership; the user itself may change its
/// profile fields. The escalation guard over whole users applies as on
/// every surface (`ops::apply_user_patch`).
pub fn update_account_user(
    d: &mut Draft<'_>,
    account: AccountId,
    user: UserId,
    body_revision: Option<Revision>,
    user_patch: impl FnOnce(&User) -> UserPatch,
    membership: MembershipPatch,
) -> Result<AccountUser, DomainError> {
    let before = live_user(d, user)?;
    let acc = d
        .model()
        .account(account)
        .cloned()
        .ok_or_else(|| DomainError::not_found("account", account))?;
    d.reach(acc.organization_id, ("account", account.to_string()))?;
    let m = d
        .model()
        .membership_of(user, account)
        .cloned()
        .ok_or_else(|| DomainError::not_found("user", user))?;
    let patch = user_patch(&before);
    let profile_only =
        patch.is_profile_only() && membership.status.is_none() && membership.groups.is_none();
    authorize_user_update(d, &before, profile_only, UserAdmin::PlatformOperator)?;
    // The account user is one object made of two entities; its revision is
    // checked as a whole, then neither part is checked again.
    Precondition {
        if_match: None,
        body_revision,
    }
    .check(account_user_revision(&before, &m))?;
    let after = apply_user_patch(d, &before, patch, Precondition::NONE)?;
    let m = apply_membership_patch(d, &m, membership, Precondition::NONE)?;
    Ok(AccountUser {
        user: after,
        membership: m,
        account: acc,
    })
}
