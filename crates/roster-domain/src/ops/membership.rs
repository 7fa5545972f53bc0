//! Memberships: a user of the account's organization joins an account;
//! administered with `users:write` over the account.

use crate::catalogue::perms;
use crate::draft::{snapshot, AuditDraft, Draft};
use crate::entity::{Membership, MembershipStatus};
use crate::error::DomainError;
use crate::ids::{AccountId, MembershipId, UserId};
use crate::model::Change;
use crate::ops::Precondition;
use crate::scope::Scope;
use std::sync::Arc;

/// Input of [`add_member`].
#[derive(Clone, Debug)]
pub struct NewMembership {
    /// Id to use (demo data), else fresh.
    pub id: Option<MembershipId>,
    /// Account.
    pub account_id: AccountId,
    /// User.
    pub user_id: UserId,
    /// Status (default active).
    pub status: Option<MembershipStatus>,
    /// Groups.
    pub groups: Vec<String>,
}

fn validate_groups(groups: &[String]) -> Result<(), DomainError> {
    if groups.len() > 100 {
        return Err(DomainError::invalid(
            "groups",
            "must have at most 100 entries",
        ));
    }
    for (i, g) in groups.iter().enumerate() {
        if g.is_empty() || g.chars().count() > 100 {
            return Err(DomainError::invalid(
                format!("groups[{i}]"),
                "must be 1..100 characters",
            ));
        }
    }
    Ok(())
}

/// Adds a user to an account.
pub fn add_member(d: &mut Draft<'_>, new: NewMembership) -> Result<Arc<Membership>, DomainError> {
    let acc = d
        .model()
        .account(new.account_id)
        .cloned()
        .ok_or_else(|| DomainError::not_found("account", new.account_id))?;
    d.require(
        perms::users_write(),
        &Scope::Account(acc.id),
        ("account", acc.id.to_string()),
    )?;
    let user = d
        .model()
        .user(new.user_id)
        .filter(|u| u.deleted_at.is_none())
        .cloned()
        .ok_or_else(|| DomainError::not_found("user", new.user_id))?;
    d.reach(user.organization_id, ("user", user.id.to_string()))?;
    if user.organization_id != acc.organization_id {
        return Err(DomainError::invalid(
            "user_id",
            "the user belongs to another organization than the account",
        ));
    }
    validate_groups(&new.groups)?;
    if d.model().membership_of(user.id, acc.id).is_some() {
        return Err(DomainError::conflict(
            "user_id",
            "the user is already a member of the account",
        ));
    }
    let status = new.status.unwrap_or(MembershipStatus::Active);
    let m = Membership {
        id: new.id.unwrap_or_default(),
        user_id: user.id,
        account_id: acc.id,
        status,
        groups: new.groups,
        invited_at: Some(d.now()),
        joined_at: (status == MembershipStatus::Active).then(|| d.now()),
        last_access_at: None,
        created_at: d.now(),
        created_by: d.actor_id(),
        revision: d.revision(),
    };
    d.record(
        Change::PutMembership(m.clone()),
        Some(acc.organization_id),
        AuditDraft {
            action: "membership.create",
            target_type: "membership",
            target_id: m.id.to_string(),
            organization_id: Some(acc.organization_id),
            account_id: Some(acc.id),
            before: None,
            after: snapshot(&m),
        },
    );
    Ok(Arc::new(m))
}

/// Members of an account (`users:read` over it).
pub fn list_members(
    d: &Draft<'_>,
    account: AccountId,
    after: Option<UserId>,
    limit: usize,
) -> Result<Vec<Arc<Membership>>, DomainError> {
    if d.model().account(account).is_none() {
        return Err(DomainError::not_found("account", account));
    }
    d.require(
        perms::users_read(),
        &Scope::Account(account),
        ("account", account.to_string()),
    )?;
    let m = d.model();
    Ok(m.members_of(account)
        .filter(|u| after.is_none_or(|x| *u > x))
        .filter_map(|u| m.membership_of(u, account).cloned())
        .take(limit)
        .collect())
}

/// Changes to a membership.
#[derive(Clone, Debug, Default)]
pub struct MembershipPatch {
    /// New status.
    pub status: Option<MembershipStatus>,
    /// New groups.
    pub groups: Option<Vec<String>>,
}

/// Records a membership change (already authorized by the caller's operation).
pub fn apply_membership_patch(
    d: &mut Draft<'_>,
    before: &Arc<Membership>,
    patch: MembershipPatch,
    pre: Precondition,
) -> Result<Arc<Membership>, DomainError> {
    pre.check(before.revision)?;
    let mut after = (**before).clone();
    if let Some(g) = patch.groups {
        validate_groups(&g)?;
        after.groups = g;
    }
    if let Some(s) = patch.status {
        // Self guard (SPEC §2.4), as for the user's own status.
        if d.actor_id() == Some(before.user_id) && s != before.status {
            return Err(DomainError::SelfChange {
                message: "you cannot change the status of your own membership".into(),
            });
        }
        // INVARIANT: a membership's status is not part of a decision (SPEC
        // §2.1), so changing it gives or takes away nothing and needs no
        // escalation guard over the user. Should it ever deny checks, it
        // must go through `rules::guard_power_over` as the user's status does.
        if s == MembershipStatus::Active && after.joined_at.is_none() {
            after.joined_at = Some(d.now());
        }
        after.status = s;
    }
    if after == **before {
        return Ok(before.clone());
    }
    after.revision = d.revision();
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
    Ok(Arc::new(after))
}

/// Removes a user from an account (`users:write` over it). Grants scoped to
/// the account are left to the grants API.
pub fn remove_member(
    d: &mut Draft<'_>,
    account: AccountId,
    user: UserId,
) -> Result<(), DomainError> {
    let acc = d
        .model()
        .account(account)
        .cloned()
        .ok_or_else(|| DomainError::not_found("account", account))?;
    d.require(
        perms::users_write(),
        &Scope::Account(account),
        ("account", account.to_string()),
    )?;
    let m = d
        .model()
        .membership_of(user, account)
        .cloned()
        .ok_or_else(|| DomainError::not_found("membership", user))?;
    d.record(
        Change::DeleteMembership(m.id),
        Some(acc.organization_id),
        AuditDraft {
            action: "membership.delete",
            target_type: "membership",
            target_id: m.id.to_string(),
            organization_id: Some(acc.organization_id),
            account_id: Some(account),
            before: snapshot(&*m),
            after: None,
        },
    );
    Ok(())
}
