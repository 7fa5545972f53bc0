//! Users: created and administered with `users:write` over their home
//! organization; a user may edit their own profile fields.

use crate::catalogue::perms;
use crate::draft::{snapshot, AuditDraft, Draft};
use crate::entity::{User, UserStatus};
use crate::error::DomainError;
use crate::ids::{AccountId, OrganizationId, UserId};
use crate::model::Change;
use crate::ops::Precondition;
use crate::rules;
use crate::scope::Scope;
use crate::values::*;
use std::sync::Arc;

/// Input of [`create_user`].
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Id to use (demo data and imports), else a fresh one.
    pub id: Option<UserId>,
    /// Home organization.
    pub organization_id: OrganizationId,
    /// Email.
    pub email: Email,
    /// First name.
    pub first_name: Option<PersonName>,
    /// Last name.
    pub last_name: Option<PersonName>,
    /// Phone.
    pub phone: Option<Phone>,
    /// Settings.
    pub settings: Option<Settings>,
    /// External ids.
    pub external_ids: ExternalIds,
    /// Status (default active).
    pub status: Option<UserStatus>,
}

/// Creates a user in an organization.
pub fn create_user(d: &mut Draft<'_>, new: NewUser) -> Result<Arc<User>, DomainError> {
    let org = new.organization_id;
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    d.require(
        perms::users_write(),
        &Scope::Organization(org),
        ("organization", org.to_string()),
    )?;
    if let Some(p) = &new.phone {
        p.validate("phone")?;
    }
    if let Some(s) = &new.settings {
        s.validate("settings")?;
    }
    validate_external_ids("external_ids", &new.external_ids)?;
    if d.model().user_by_email(org, &new.email.key()).is_some() {
        return Err(DomainError::conflict(
            "email",
            format!(
                "a user with email `{}` exists in the organization",
                new.email
            ),
        ));
    }
    let id = new.id.unwrap_or_default();
    if d.model().user(id).is_some() {
        return Err(DomainError::conflict("id", format!("user `{id}` exists")));
    }
    let user = User {
        id,
        organization_id: org,
        email: new.email,
        first_name: new.first_name,
        last_name: new.last_name,
        phone: new.phone,
        settings: new.settings,
        external_ids: new.external_ids,
        status: new.status.unwrap_or(UserStatus::Active),
        created_at: d.now(),
        created_by: d.actor_id(),
        updated_at: d.now(),
        updated_by: d.actor_id(),
        deleted_at: None,
        revision: d.revision(),
    };
    d.record(
        Change::PutUser(user.clone()),
        Some(org),
        AuditDraft {
            action: "user.create",
            target_type: "user",
            target_id: id.to_string(),
            organization_id: Some(org),
            account_id: None,
            before: None,
            after: snapshot(&user),
        },
    );
    Ok(Arc::new(user))
}

/// Whether the actor may read `user`: itself, `users:read` over its home
/// organization, or over an account it is a member of.
pub fn may_read_user(d: &Draft<'_>, user: &User) -> bool {
    let m = d.model();
    match d.actor() {
        None => true,
        Some(a) if a.user == user.id => true,
        Some(a) => {
            a.holds(
                m,
                perms::users_read(),
                &Scope::Organization(user.organization_id),
            ) || m
                .accounts_of_user(user.id)
                .any(|acc| a.holds(m, perms::users_read(), &Scope::Account(acc)))
        }
    }
}

/// Reads a user. Deleted users are not found.
pub fn get_user(d: &Draft<'_>, id: UserId) -> Result<Arc<User>, DomainError> {
    let u = d
        .model()
        .user(id)
        .filter(|u| u.deleted_at.is_none())
        .cloned()
        .ok_or_else(|| DomainError::not_found("user", id))?;
    d.reach(u.organization_id, ("user", id.to_string()))?;
    if !may_read_user(d, &u) {
        return Err(DomainError::forbidden(
            "requires `users:read` over the user's organization or account",
        ));
    }
    Ok(u)
}

/// Filters of [`list_users`].
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// Home organization.
    pub organization_id: Option<OrganizationId>,
    /// Member of this account.
    pub account_id: Option<AccountId>,
    /// Exact email (case-insensitive).
    pub email: Option<String>,
}

/// Users the actor may read, matching the filter, in id order after `after`.
pub fn list_users(
    d: &Draft<'_>,
    filter: &UserFilter,
    after: Option<UserId>,
    limit: usize,
) -> Result<Vec<Arc<User>>, DomainError> {
    let m = d.model();
    if let Some(org) = filter.organization_id {
        if m.organization(org).is_none() {
            return Err(DomainError::not_found("organization", org));
        }
        d.reach(org, ("organization", org.to_string()))?;
    }
    if let Some(acc) = filter.account_id {
        let org = m
            .account_org(acc)
            .ok_or_else(|| DomainError::not_found("account", acc))?;
        d.reach(org, ("account", acc.to_string()))?;
    }
    let keep = |u: &Arc<User>| {
        u.deleted_at.is_none()
            && filter
                .organization_id
                .is_none_or(|o| u.organization_id == o)
            && filter
                .account_id
                .is_none_or(|a| m.membership_of(u.id, a).is_some())
            && filter
                .email
                .as_ref()
                .is_none_or(|e| u.email.key() == e.to_lowercase())
            && may_read_user(d, u)
    };
    // Pick the narrowest source to scan.
    let email_key = filter.email.as_ref().map(|e| e.to_lowercase());
    let ids: Box<dyn Iterator<Item = UserId> + '_> = if let Some(e) = &email_key {
        // Emails are unique within an organization: one probe per
        // organization in question.
        match filter.organization_id {
            Some(o) => Box::new(m.user_by_email(o, e).into_iter()),
            None => {
                let mut found = m.users_by_email(e);
                found.sort_unstable();
                Box::new(found.into_iter())
            }
        }
    } else if let Some(a) = filter.account_id {
        Box::new(m.members_of(a))
    } else if let Some(o) = filter.organization_id {
        Box::new(m.users_of(o))
    } else if let Some(actor) = d
        .actor()
        .filter(|a| !a.holds(m, perms::users_read(), &Scope::Global))
        .map(|a| a.user)
    {
        // Non-global actors only ever see their home organization's users.
        let home = m.user(actor).map(|u| u.organization_id);
        Box::new(home.into_iter().flat_map(move |o| m.users_of(o)))
    } else {
        Box::new(m.users_after(after).map(|u| u.id))
    };
    Ok(ids
        .filter(|id| after.is_none_or(|x| *id > x))
        .filter_map(|id| m.user(id).cloned())
        .filter(|u| keep(u))
        .take(limit)
        .collect())
}

/// A partial update of a user. `None` leaves a field alone; `Some(None)`
/// clears a nullable field.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    /// New email.
    pub email: Option<Email>,
    /// New first name or clear.
    pub first_name: Option<Option<PersonName>>,
    /// New last name or clear.
    pub last_name: Option<Option<PersonName>>,
    /// New phone or clear.
    pub phone: Option<Option<Phone>>,
    /// New settings or clear.
    pub settings: Option<Option<Settings>>,
    /// New external ids (replaces the map).
    pub external_ids: Option<ExternalIds>,
    /// New status (administrators only).
    pub status: Option<UserStatus>,
}

impl UserPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.first_name.is_none()
            && self.last_name.is_none()
            && self.phone.is_none()
            && self.settings.is_none()
            && self.external_ids.is_none()
            && self.status.is_none()
    }

    /// Whether only profile fields (which users may edit themselves) are set.
    pub fn is_profile_only(&self) -> bool {
        self.status.is_none() && self.external_ids.is_none()
    }
}

/// How the caller is allowed to update the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAdmin {
    /// `users:write` over the user's organization.
    UsersWrite,
    /// `platform:accounts:manage` in an operations account of the user's
    /// organization (SoftwareOne).
    PlatformOperator,
}

/// Requires the actor to administer `user` the given way (or be the user,
/// editing only profile fields).
pub fn authorize_user_update(
    d: &Draft<'_>,
    user: &User,
    patch_is_profile_only: bool,
    how: UserAdmin,
) -> Result<(), DomainError> {
    let Some(actor) = d.actor() else {
        return Ok(());
    };
    d.reach(user.organization_id, ("user", user.id.to_string()))?;
    let m = d.model();
    let admin = match how {
        UserAdmin::UsersWrite => actor.holds(
            m,
            perms::users_write(),
            &Scope::Organization(user.organization_id),
        ),
        UserAdmin::PlatformOperator => {
            actor.holds(m, perms::platform_accounts_manage(), &Scope::Global)
                || m.accounts_of(user.organization_id).any(|acc| {
                    m.account(acc).is_some_and(|a| {
                        a.kind == crate::entity::AccountType::Operations
                            && a.status == crate::entity::AccountStatus::Active
                    }) && actor.permits(perms::platform_accounts_manage())
                        && m.decide(
                            actor.user,
                            perms::platform_accounts_manage(),
                            &crate::Target::Account(user.organization_id, acc),
                            actor.now(),
                        )
                        .is_some()
                })
        }
    };
    if admin {
        return Ok(());
    }
    if actor.user == user.id {
        if patch_is_profile_only {
            return Ok(());
        }
        return Err(DomainError::SelfChange {
            message: "you may only edit your own profile fields".into(),
        });
    }
    Err(DomainError::forbidden(match how {
        UserAdmin::UsersWrite => "requires `users:write` over the user's organization",
        UserAdmin::PlatformOperator => {
            "requires `platform:accounts:manage` in an operations account of the organization"
        }
    }))
}

/// Updates a user (the native PATCH).
pub fn update_user(
    d: &mut Draft<'_>,
    id: UserId,
    patch: UserPatch,
    pre: Precondition,
) -> Result<Arc<User>, DomainError> {
    let before = live_user(d, id)?;
    authorize_user_update(d, &before, patch.is_profile_only(), UserAdmin::UsersWrite)?;
    apply_user_patch(d, &before, patch, pre)
}

/// Looks up a user that is not deleted (404 otherwise, also across tenants).
pub fn live_user(d: &Draft<'_>, id: UserId) -> Result<Arc<User>, DomainError> {
    let u = d
        .model()
        .user(id)
        .filter(|u| u.deleted_at.is_none())
        .cloned()
        .ok_or_else(|| DomainError::not_found("user", id))?;
    d.reach(u.organization_id, ("user", id.to_string()))?;
    Ok(u)
}

/// Applies an authorized patch: validates, checks preconditions and email
/// uniqueness, records the change. A patch that changes nothing records nothing.
pub fn apply_user_patch(
    d: &mut Draft<'_>,
    before: &Arc<User>,
    patch: UserPatch,
    pre: Precondition,
) -> Result<Arc<User>, DomainError> {
    pre.check(before.revision)?;
    let mut after = (**before).clone();
    if let Some(e) = patch.email {
        if e.key() != before.email.key()
            && d.model()
                .user_by_email(before.organization_id, &e.key())
                .is_some()
        {
            return Err(DomainError::conflict(
                "email",
                format!("a user with email `{e}` exists in the organization"),
            ));
        }
        after.email = e;
    }
    if let Some(v) = patch.first_name {
        after.first_name = v;
    }
    if let Some(v) = patch.last_name {
        after.last_name = v;
    }
    if let Some(v) = patch.phone {
        if let Some(p) = &v {
            p.validate("phone")?;
        }
        after.phone = v;
    }
    if let Some(v) = patch.settings {
        if let Some(s) = &v {
            s.validate("settings")?;
        }
        after.settings = v;
    }
    if let Some(v) = patch.external_ids {
        validate_external_ids("external_ids", &v)?;
        after.external_ids = v;
    }
    if let Some(v) = patch.status {
        if d.actor_id() == Some(before.id) && v != before.status {
            return Err(DomainError::SelfChange {
                message: "you cannot change your own status".into(),
            });
        }
        after.status = v;
    }
    if after == **before {
        return Ok(before.clone());
    }
    // Switching a user off or on, or moving the identity a token maps to,
    // gives or takes away all it holds (SPEC §2.3).
    if let Some(actor) = d.actor().filter(|a| a.user != before.id) {
        if after.status != before.status {
            rules::guard_power_over(d.model(), actor, before.id, "change their status")?;
        }
        if after.email.key() != before.email.key() || after.external_ids != before.external_ids {
            rules::guard_power_over(
                d.model(),
                actor,
                before.id,
                "change the email or external ids their tokens map to",
            )?;
        }
    }
    after.revision = d.revision();
    after.updated_at = d.now();
    after.updated_by = d.actor_id();
    let org = after.organization_id;
    d.record(
        Change::PutUser(after.clone()),
        Some(org),
        AuditDraft {
            action: "user.update",
            target_type: "user",
            target_id: after.id.to_string(),
            organization_id: Some(org),
            account_id: None,
            before: snapshot(&**before),
            after: snapshot(&after),
        },
    );
    Ok(Arc::new(after))
}

/// Soft-deletes a user (`users:write` over its organization; not oneself).
/// Its grants stay recorded but no longer allow anything.
pub fn delete_user(d: &mut Draft<'_>, id: UserId, pre: Precondition) -> Result<(), DomainError> {
    let before = live_user(d, id)?;
    d.require(
        perms::users_write(),
        &Scope::Organization(before.organization_id),
        ("user", id.to_string()),
    )?;
    match d.actor() {
        Some(a) if a.user == id => {
            return Err(DomainError::SelfChange {
                message: "you cannot delete yourself".into(),
            })
        }
        // Deleting takes away everything the user holds (SPEC §2.3).
        Some(a) => rules::guard_power_over(d.model(), a, id, "delete them")?,
        None => {}
    }
    pre.check(before.revision)?;
    // A deleted user is nobody's member any more.
    crate::ops::group::leave_all_groups(d, id);
    let mut after = (*before).clone();
    after.deleted_at = Some(d.now());
    after.revision = d.revision();
    after.updated_at = d.now();
    after.updated_by = d.actor_id();
    let org = after.organization_id;
    d.record(
        Change::PutUser(after.clone()),
        Some(org),
        AuditDraft {
            action: "user.delete",
            target_type: "user",
            target_id: id.to_string(),
            organization_id: Some(org),
            account_id: None,
            before: snapshot(&*before),
            after: snapshot(&after),
        },
    );
    Ok(())
}

/// Whether `actor` may see the user for reads of its sub-resources.
pub fn require_user_visible(d: &Draft<'_>, id: UserId) -> Result<Arc<User>, DomainError> {
    get_user(d, id)
}
