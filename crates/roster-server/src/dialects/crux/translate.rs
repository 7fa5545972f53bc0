//! From a Crux request to the domain write: permission ids added with
//! [`ops::add_org_permissions`].

use super::render::direct_permissions;
use super::wire::{AddBody, UserPermissions};
use crate::error::ApiError;
use roster_domain::ops;
use roster_domain::{truncate, DomainError, Draft, PermissionId, UserId};

/// Most permissions one request may add.
pub const MAX_PERMISSIONS: usize = 1000;

/// The body's one field.
pub const FIELD: &str = "permission_uuids";

/// Validates the body into permission ids.
pub fn permissions(body: AddBody) -> Result<Vec<PermissionId>, ApiError> {
    if body.permission_uuids.len() > MAX_PERMISSIONS {
        return Err(ApiError::bad_request(
            FIELD,
            format!("Ensure this field has no more than {MAX_PERMISSIONS} elements."),
        ));
    }
    body.permission_uuids
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.parse::<PermissionId>().map_err(|_| {
                ApiError::bad_request(
                    format!("{FIELD}[{i}]"),
                    format!("`{}` is not a valid UUID.", truncate(p)),
                )
            })
        })
        .collect()
}

/// The write: adds the permissions; answers the user's direct permissions.
pub fn add(
    d: &mut Draft<'_>,
    user: UserId,
    permissions: &[PermissionId],
) -> Result<UserPermissions, DomainError> {
    let holder = ops::add_org_permissions(d, user, permissions, FIELD)?;
    Ok(UserPermissions {
        user_uuid: holder.id.to_string(),
        permission_uuids: direct_permissions(d, &holder),
    })
}
