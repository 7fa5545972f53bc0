//! From a Yuno request to the domain write: the entries become
//! `(account, role)` pairs, each set with [`ops::set_account_role`].

use super::render::permissions;
use super::wire::{PermissionsBody, UpdateBody};
use crate::error::ApiError;
use roster_domain::ops;
use roster_domain::{truncate, AccountId, DomainError, Draft, RoleId, UserId};

/// Most entries one request may carry.
pub const MAX_ENTRIES: usize = 1000;

/// Validates the body into `(account, role)` pairs.
pub fn entries(body: UpdateBody) -> Result<Vec<(AccountId, RoleId)>, ApiError> {
    if body.account_permissions.len() > MAX_ENTRIES {
        return Err(ApiError::bad_request(
            "account_permissions",
            format!("must have at most {MAX_ENTRIES} entries"),
        ));
    }
    body.account_permissions
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let account = e.account_id.parse::<AccountId>().map_err(|_| {
                ApiError::bad_request(
                    format!("account_permissions[{i}].account_id"),
                    format!("`{}` is not a UUID", truncate(&e.account_id)),
                )
            })?;
            let role =
                RoleId::parse_field(&format!("account_permissions[{i}].role_id"), &e.role_id)?;
            Ok((account, role))
        })
        .collect()
}

/// The write: each entry sets the user's role at its account; answers all
/// of the user's account permissions the actor may see.
pub fn update(
    d: &mut Draft<'_>,
    user: UserId,
    entries: &[(AccountId, RoleId)],
) -> Result<PermissionsBody, DomainError> {
    let holder = ops::live_user(d, user)?;
    for (i, (account, role)) in entries.iter().enumerate() {
        ops::set_account_role(
            d,
            &holder,
            *account,
            role,
            &format!("account_permissions[{i}].role_id"),
        )
        .map_err(|e| match e {
            // The account lies in another organization than the user.
            DomainError::Invalid { field, message } if field == "scope.id" => {
                DomainError::Invalid {
                    field: format!("account_permissions[{i}].account_id"),
                    message,
                }
            }
            e => e,
        })?;
    }
    Ok(PermissionsBody {
        permissions: permissions(d, &holder),
    })
}
