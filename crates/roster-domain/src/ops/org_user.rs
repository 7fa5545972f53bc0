//! A user as an administrator acting in one of its organization's accounts
//! sees it (Lexful's user): its profile, plus one role held at a set of
//! scopes of that organization. One use case, one domain call.

use crate::draft::Draft;
use crate::entity::User;
use crate::error::DomainError;
use crate::ids::{AccountId, OrganizationId, UserId};
use crate::model::Model;
use crate::ops::{
    apply_user_patch, authorize_user_update, get_user, replace_org_grants, Precondition, UserAdmin,
    UserPatch,
};
use crate::scope::Scope;
use crate::values::RoleId;
use std::sync::Arc;

/// What the access part of a request asks for, worked out by the surface
/// from the model before any change (a partial request keeps what the user
/// holds now): the user's grants in the organization become `role` at each
/// of `scopes`.
pub type WantedAccess = (RoleId, Vec<Scope>);

/// Updates `user`'s profile (`patch`) and, when `access` asks for it, its
/// role and scopes in its organization, acting in `account`: an unknown or
/// unreachable account is `404`, as is a user of another organization than
/// the account's. `access` is called once, on the model before the change,
/// with the user and the organization; `None` leaves grants alone. Profile
/// fields need `users:write` over the organization (or being the user);
/// grants go through the escalation, self and lockout guards
/// ([`replace_org_grants`]). Returns the user after the change and the
/// organization.
pub fn update_org_user(
    d: &mut Draft<'_>,
    account: AccountId,
    user: UserId,
    patch: UserPatch,
    access: impl FnOnce(&Model, &User, OrganizationId) -> Result<Option<WantedAccess>, DomainError>,
) -> Result<(Arc<User>, OrganizationId), DomainError> {
    let org = d
        .model()
        .account_org(account)
        .ok_or_else(|| DomainError::not_found("account", account))?;
    d.reach(org, ("account", account.to_string()))?;
    let before = get_user(d, user)?;
    if before.organization_id != org {
        return Err(DomainError::not_found("user", user));
    }
    let wanted = access(d.model(), &before, org)?;
    let after = if patch.is_empty() {
        before
    } else {
        authorize_user_update(d, &before, patch.is_profile_only(), UserAdmin::UsersWrite)?;
        apply_user_patch(d, &before, patch, Precondition::NONE)?
    };
    if let Some((role, scopes)) = &wanted {
        replace_org_grants(d, &after, role, scopes, "role")?;
    }
    Ok((after, org))
}
