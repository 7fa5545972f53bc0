//! An account user (SoftwareOne's `AccountUser`, Fynn's "account"): a
//! membership, its user and the user's groups, read and written as one
//! object with one revision. Administered by a platform operator of the
//! organization (see [`UserAdmin::PlatformOperator`]); the user may edit
//! its own profile.

use crate::draft::{snapshot, AuditDraft, Draft};
use crate::entity::{Account, Group, GroupMember, Membership, User};
use crate::error::DomainError;
use crate::ids::{AccountId, GroupId, Revision, UserId};
use crate::model::{Change, Model};
use crate::ops::{
    apply_membership_patch, apply_user_patch, authorize_user_update, live_user, set_user_groups,
    MembershipPatch, Precondition, UserAdmin, UserPatch,
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
    /// The user's groups (all of its organization's, which is the
    /// account's) with its memberships, in group-id order.
    pub groups: Vec<(Arc<Group>, GroupMember)>,
}

impl AccountUser {
    /// The object's revision: the latest of its user's, its membership's and
    /// its group memberships'.
    pub fn revision(&self) -> Revision {
        self.groups.iter().map(|(_, m)| m.revision).fold(
            self.user.revision.max(self.membership.revision),
            Revision::max,
        )
    }
}

/// The groups of `user` with its memberships, in group-id order.
fn groups_of(model: &Model, user: UserId) -> Vec<(Arc<Group>, GroupMember)> {
    model
        .memberships_of(user)
        .filter_map(|m| model.group(m.group_id).map(|g| (g.clone(), m)))
        .collect()
}

/// The groups an account user's group list names (SoftwareOne's
/// `groups`): `ids`, the `i`-th named `field(i)` in errors.
#[derive(Clone, Copy)]
pub struct GroupList<'a> {
    /// The groups, exactly.
    pub ids: &'a [GroupId],
    /// The name of the `i`-th in a client's request.
    pub field: &'a dyn Fn(usize) -> String,
}

impl std::fmt::Debug for GroupList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupList").field("ids", &self.ids).finish()
    }
}

/// A delta update of an account user: `user_patch` says, from the current
/// user, what changes on it (so a surface can merge partial nested objects);
/// `membership` what changes on the membership; `body_revision`, when given,
/// must be the account user's revision (`409` otherwise).
///
/// `groups`, when given, become exactly the user's groups
/// ([`set_user_groups`]): each membership added or removed needs what the
/// native groups API needs (`users:write` over the organization, the
/// escalation guard over each of the group's grants, and the self guard);
/// a list equal to the current one changes nothing and needs nothing.
/// When the groups change, the membership records the change (a new
/// revision and a `membership.update` event), so that the account user's
/// revision moves even when the only change is a removal.
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
    groups: Option<GroupList<'_>>,
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
    .check(
        AccountUser {
            user: before.clone(),
            membership: m.clone(),
            account: acc.clone(),
            groups: groups_of(d.model(), user),
        }
        .revision(),
    )?;
    let after = apply_user_patch(d, &before, patch, Precondition::NONE)?;
    let mut m = apply_membership_patch(d, &m, membership, Precondition::NONE)?;
    if let Some(list) = groups {
        if set_user_groups(d, user, list.ids, list.field)? && m.revision != d.revision() {
            m = touch_membership(d, &m);
        }
    }
    Ok(AccountUser {
        user: after,
        membership: m,
        account: acc,
        groups: groups_of(d.model(), user),
    })
}

/// Records that an account user changed through its groups alone: its
/// membership takes the write's revision.
fn touch_membership(d: &mut Draft<'_>, before: &Arc<Membership>) -> Arc<Membership> {
    let after = Membership {
        revision: d.revision(),
        ..(**before).clone()
    };
    let org = d.model().account_org(after.account_id);
    d.record(
        Change::PutMembership(after.clone()),
        org,
        AuditDraft {
            action: "membership.update",
            target_type: "membership",
            target_id: after.id.to_string(),
            organization_id: org,
            account_id: Some(after.account_id),
            before: snapshot(&**before),
            after: snapshot(&after),
        },
    );
    Arc::new(after)
}
