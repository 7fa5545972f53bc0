//! From a Fynn request to the domain write: a role of Fynn's enum set on
//! the membership with [`ops::set_membership_role`].

use super::wire::{AccountDetailsRole, SetAccountRole};
use crate::error::ApiError;
use roster_domain::ops;
use roster_domain::{DomainError, Draft, MembershipId, RoleId};

/// The three roles of Fynn's enum; each is a built-in role of the same id.
pub const ROLES: [&str; 3] = ["administrator", "account", "read-only"];

/// Validates the body into a role id of Fynn's enum.
pub fn role(body: SetAccountRole) -> Result<RoleId, ApiError> {
    if !ROLES.contains(&body.role.as_str()) {
        return Err(ApiError::bad_request(
            "role",
            format!(
                "The value you selected is not a valid choice (one of {}).",
                ROLES.join(", ")
            ),
        ));
    }
    Ok(RoleId::parse_field("role", &body.role)?)
}

/// The write: sets the membership's role; answers the membership.
pub fn set_role(
    d: &mut Draft<'_>,
    membership: MembershipId,
    role: &RoleId,
) -> Result<AccountDetailsRole, DomainError> {
    let (m, user) = ops::set_membership_role(d, membership, role, "role")?;
    Ok(AccountDetailsRole::new(&m, &user, role.as_str()))
}
