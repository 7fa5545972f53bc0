//! Groups (SPEC §1): users of one organization who hold the group's
//! grants together. Managing a group needs `users:write` over its
//! organization, reading it `users:read`; another tenant's group is a `404`
//! like a missing one.
//!
//! A membership is a grant of everything the group holds: adding, changing
//! or removing one passes [`rules::guard_membership_change`] (the escalation
//! guard for each of the group's grants, and the self guard), and the
//! lockout guard runs when the draft finishes, so the last permanent
//! administrator of an organization cannot leave through a group either.

use crate::catalogue::perms;
use crate::draft::{snapshot, AuditDraft, Draft};
use crate::entity::{Group, GroupMember};
use crate::error::DomainError;
use crate::ids::{GroupId, OrganizationId, UserId};
use crate::model::Change;
use crate::ops::grant::validate_expiry;
use crate::ops::Precondition;
use crate::rules;
use crate::scope::Scope;
use crate::values::{Description, DisplayName};
use std::sync::Arc;
use time::OffsetDateTime;

/// Most groups an organization may have.
pub const MAX_GROUPS_PER_ORGANIZATION: usize = 10_000;

/// Input of [`create_group`].
#[derive(Clone, Debug)]
pub struct NewGroup {
    /// A chosen id (demo data, imports); `None`: a new one.
    pub id: Option<GroupId>,
    /// The organization.
    pub organization_id: OrganizationId,
    /// Name (unique in the organization, case-insensitively).
    pub name: DisplayName,
    /// Description.
    pub description: Option<Description>,
}

/// Changes to a group; absent fields are left alone.
#[derive(Clone, Debug, Default)]
pub struct GroupPatch {
    /// New name.
    pub name: Option<DisplayName>,
    /// New description.
    pub description: Option<Description>,
}

/// The group `id`, `404` when missing or out of the actor's reach.
pub fn live_group(d: &Draft<'_>, id: GroupId) -> Result<Arc<Group>, DomainError> {
    let g = d
        .model()
        .group(id)
        .cloned()
        .ok_or_else(|| DomainError::not_found("group", id))?;
    d.reach(g.organization_id, ("group", id.to_string()))?;
    Ok(g)
}

fn require_in(
    d: &Draft<'_>,
    permission: crate::PermissionId,
    org: OrganizationId,
    not_found: (&'static str, String),
) -> Result<(), DomainError> {
    d.require(permission, &Scope::Organization(org), not_found)
}

/// A group the actor may read (`users:read` over its organization).
pub fn get_group(d: &Draft<'_>, id: GroupId) -> Result<Arc<Group>, DomainError> {
    let g = live_group(d, id)?;
    require_in(
        d,
        perms::users_read(),
        g.organization_id,
        ("group", id.to_string()),
    )?;
    Ok(g)
}

/// A group the actor may change (`users:write` over its organization).
fn managed_group(d: &Draft<'_>, id: GroupId) -> Result<Arc<Group>, DomainError> {
    let g = live_group(d, id)?;
    require_in(
        d,
        perms::users_write(),
        g.organization_id,
        ("group", id.to_string()),
    )?;
    Ok(g)
}

fn name_conflict(
    d: &Draft<'_>,
    org: OrganizationId,
    name: &DisplayName,
    except: Option<GroupId>,
) -> Result<(), DomainError> {
    match d.model().group_by_name(org, name.as_str()) {
        Some(other) if Some(other) != except => Err(DomainError::conflict(
            "name",
            format!("the organization has a group named `{name}`"),
        )),
        _ => Ok(()),
    }
}

fn group_audit(
    action: &'static str,
    g: &Group,
    before: Option<&Group>,
    after: Option<&Group>,
) -> AuditDraft {
    AuditDraft {
        action,
        target_type: "group",
        target_id: g.id.to_string(),
        organization_id: Some(g.organization_id),
        account_id: None,
        before: before.and_then(snapshot),
        after: after.and_then(snapshot),
    }
}

/// Creates a group (`users:write` over its organization).
pub fn create_group(d: &mut Draft<'_>, new: NewGroup) -> Result<Arc<Group>, DomainError> {
    let org = new.organization_id;
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    require_in(
        d,
        perms::users_write(),
        org,
        ("organization", org.to_string()),
    )?;
    name_conflict(d, org, &new.name, None)?;
    if d.model().groups_of_org(org).count() >= MAX_GROUPS_PER_ORGANIZATION {
        return Err(DomainError::conflict(
            "organization_id",
            format!("an organization may have at most {MAX_GROUPS_PER_ORGANIZATION} groups"),
        ));
    }
    let id = new.id.unwrap_or_default();
    if d.model().group(id).is_some() {
        return Err(DomainError::conflict("id", format!("group `{id}` exists")));
    }
    let g = Group {
        id,
        organization_id: org,
        name: new.name,
        description: new
            .description
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        created_at: d.now(),
        created_by: d.actor_id(),
        updated_at: d.now(),
        revision: d.revision(),
    };
    d.record(
        Change::PutGroup(g.clone()),
        Some(org),
        group_audit("group.create", &g, None, Some(&g)),
    );
    Ok(Arc::new(g))
}

/// The groups of `org` (`users:read` over it), in id order, after
/// `after`, at most `limit`.
pub fn list_groups(
    d: &Draft<'_>,
    org: OrganizationId,
    after: Option<GroupId>,
    limit: usize,
) -> Result<Vec<Arc<Group>>, DomainError> {
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    require_in(
        d,
        perms::users_read(),
        org,
        ("organization", org.to_string()),
    )?;
    Ok(d.model()
        .groups_of_org(org)
        .filter(|g| after.is_none_or(|a| g.id > a))
        .take(limit)
        .cloned()
        .collect())
}

/// Renames or re-describes a group (`users:write`).
pub fn update_group(
    d: &mut Draft<'_>,
    id: GroupId,
    patch: GroupPatch,
    pre: Precondition,
) -> Result<Arc<Group>, DomainError> {
    let before = managed_group(d, id)?;
    pre.check(before.revision)?;
    let mut after = (*before).clone();
    if let Some(n) = patch.name {
        name_conflict(d, before.organization_id, &n, Some(id))?;
        after.name = n;
    }
    if let Some(v) = patch.description {
        after.description = v.as_str().to_owned();
    }
    if after == *before {
        return Ok(before);
    }
    after.revision = d.revision();
    after.updated_at = d.now();
    d.record(
        Change::PutGroup(after.clone()),
        Some(after.organization_id),
        group_audit("group.update", &after, Some(&before), Some(&after)),
    );
    Ok(Arc::new(after))
}

/// Deletes a group (`users:write`): its grants are removed first (each
/// under the escalation and self guards, since its members lose them),
/// then its memberships, then the group.
pub fn delete_group(d: &mut Draft<'_>, id: GroupId, pre: Precondition) -> Result<(), DomainError> {
    let before = managed_group(d, id)?;
    pre.check(before.revision)?;
    let grants: Vec<_> = d.model().grants_of(id).collect();
    for g in &grants {
        crate::ops::remove_grant(d, g)?;
    }
    let members: Vec<_> = d.model().group_members(id).collect();
    for m in &members {
        rules::guard_membership_change(d.model(), d.actor(), id, m.user_id)?;
        record_member(d, "group_member.remove", Some(m), None);
    }
    remove(d, &before);
    Ok(())
}

/// Records the removal of an empty group (also when its organization goes).
pub(crate) fn remove(d: &mut Draft<'_>, g: &Group) {
    d.record(
        Change::DeleteGroup(g.id),
        Some(g.organization_id),
        group_audit("group.delete", g, Some(g), None),
    );
}

/// Records a membership's change with its audit entry.
fn record_member(
    d: &mut Draft<'_>,
    action: &'static str,
    before: Option<&GroupMember>,
    after: Option<&GroupMember>,
) {
    let Some(m) = after.or(before) else { return };
    let org = d.model().group(m.group_id).map(|g| g.organization_id);
    let change = match after {
        Some(a) => Change::PutGroupMember(a.clone()),
        None => Change::DeleteGroupMember(m.key()),
    };
    d.record(
        change,
        org,
        AuditDraft {
            action,
            target_type: "group_member",
            target_id: format!("{}:{}", m.group_id, m.user_id),
            organization_id: org,
            account_id: None,
            before: before.and_then(snapshot),
            after: after.and_then(snapshot),
        },
    );
}

/// The membership of `user` in a group the actor may change (`404` for
/// either unknown, or a user who is not a member).
fn managed_member(d: &Draft<'_>, group: GroupId, user: UserId) -> Result<GroupMember, DomainError> {
    managed_group(d, group)?;
    d.model()
        .group_member(group, user)
        .ok_or_else(|| DomainError::not_found("group_member", user))
}

/// Adds `user` to a group (`users:write`, and the membership guards).
/// Members must be live users of the group's organization. Adding a member
/// again leaves its membership as it is. Returns the membership and
/// whether it was created.
pub fn add_group_member(
    d: &mut Draft<'_>,
    group: GroupId,
    user: UserId,
    expires_at: Option<OffsetDateTime>,
) -> Result<(GroupMember, bool), DomainError> {
    let g = managed_group(d, group)?;
    let u = crate::ops::live_user(d, user)?;
    if u.organization_id != g.organization_id {
        return Err(DomainError::invalid(
            "user_id",
            "members must be users of the group's organization",
        ));
    }
    let expires_at = validate_expiry(d, expires_at, "expires_at")?;
    rules::guard_membership_change(d.model(), d.actor(), group, user)?;
    // An expired membership the sweeper has not removed yet counts as none.
    if let Some(m) = d
        .model()
        .group_member(group, user)
        .filter(|m| !m.is_expired(d.now()))
    {
        return Ok((m, false));
    }
    let m = GroupMember {
        group_id: group,
        user_id: user,
        expires_at,
        created_at: d.now(),
        created_by: d.actor_id(),
        revision: d.revision(),
    };
    record_member(d, "group_member.add", None, Some(&m));
    Ok((m, true))
}

/// Sets or clears (`None`) a membership's expiry (`users:write`, and the
/// membership guards).
pub fn update_group_member(
    d: &mut Draft<'_>,
    group: GroupId,
    user: UserId,
    expires_at: Option<OffsetDateTime>,
    pre: Precondition,
) -> Result<GroupMember, DomainError> {
    let before = managed_member(d, group, user)?;
    if before.is_expired(d.now()) {
        // Expired is gone: a new expiry must not bring it back.
        return Err(DomainError::not_found("group_member", user));
    }
    rules::guard_membership_change(d.model(), d.actor(), group, user)?;
    pre.check(before.revision)?;
    let expires_at = validate_expiry(d, expires_at, "expires_at")?;
    if expires_at == before.expires_at {
        return Ok(before);
    }
    let after = GroupMember {
        expires_at,
        revision: d.revision(),
        ..before.clone()
    };
    record_member(d, "group_member.update", Some(&before), Some(&after));
    Ok(after)
}

/// Removes `user` from a group (`users:write`, and the membership guards).
pub fn remove_group_member(
    d: &mut Draft<'_>,
    group: GroupId,
    user: UserId,
) -> Result<(), DomainError> {
    let before = managed_member(d, group, user)?;
    rules::guard_membership_change(d.model(), d.actor(), group, user)?;
    record_member(d, "group_member.remove", Some(&before), None);
    Ok(())
}

/// Removes every group membership of a user being deleted (the deletion's
/// own guards already cover what the user loses).
pub(crate) fn leave_all_groups(d: &mut Draft<'_>, user: UserId) {
    let memberships: Vec<_> = d.model().memberships_of(user).collect();
    for m in &memberships {
        record_member(d, "group_member.remove", Some(m), None);
    }
}

/// Removes a membership that has expired (the expiry sweeper, as the
/// system: `group_member.expire`).
pub fn expire_group_member(d: &mut Draft<'_>, m: &GroupMember) {
    record_member(d, "group_member.expire", Some(m), None);
}

/// The members of a group (`users:read`), in user-id order, after
/// `after`, at most `limit`.
pub fn list_group_members(
    d: &Draft<'_>,
    group: GroupId,
    after: Option<UserId>,
    limit: usize,
) -> Result<Vec<GroupMember>, DomainError> {
    get_group(d, group)?;
    Ok(d.model()
        .group_members(group)
        .filter(|m| after.is_none_or(|a| m.user_id > a))
        .take(limit)
        .collect())
}

/// The groups `user` is a member of, with its memberships (`users:read`
/// over its organization, or the user itself).
pub fn groups_of_user(
    d: &Draft<'_>,
    user: UserId,
) -> Result<Vec<(Arc<Group>, GroupMember)>, DomainError> {
    let u = crate::ops::live_user(d, user)?;
    if d.actor_id() != Some(user) {
        require_in(
            d,
            perms::users_read(),
            u.organization_id,
            ("user", user.to_string()),
        )?;
    }
    let m = d.model();
    Ok(m.memberships_of(user)
        .filter_map(|gm| m.group(gm.group_id).map(|g| (g.clone(), gm)))
        .collect())
}

/// Sets `user`'s groups among those of its organization to exactly
/// `groups` (SoftwareOne's `groups` list): adds the missing memberships and
/// removes the others, each under the membership guards; a group listed
/// twice counts once. Unknown groups, and groups of another organization,
/// are `400` naming `field(i)` for the `i`-th. Returns whether anything
/// changed.
pub fn set_user_groups(
    d: &mut Draft<'_>,
    user: UserId,
    groups: &[GroupId],
    field: &dyn Fn(usize) -> String,
) -> Result<bool, DomainError> {
    let u = crate::ops::live_user(d, user)?;
    for (i, g) in groups.iter().enumerate() {
        if d.model()
            .group(*g)
            .is_none_or(|x| x.organization_id != u.organization_id)
        {
            return Err(DomainError::invalid(
                field(i),
                format!("unknown group `{g}`"),
            ));
        }
    }
    let wanted: std::collections::BTreeSet<GroupId> = groups.iter().copied().collect();
    let current: std::collections::BTreeSet<GroupId> =
        d.model().memberships_of(user).map(|m| m.group_id).collect();
    for g in current.difference(&wanted) {
        remove_group_member(d, *g, user)?;
    }
    for g in wanted.difference(&current) {
        add_group_member(d, *g, user, None)?;
    }
    Ok(wanted != current)
}
