//! What a token request may ask for (RFC 6749 §3.3 `scope`): a token never
//! carries more than its API key may do (escalation guard, SPEC §2.3).

use crate::entity::ApiKey;
use crate::error::DomainError;
use crate::ids::PermissionId;
use crate::model::Model;
use crate::values::truncate;
use std::collections::BTreeSet;

/// Most permission codes a token request may name.
pub const MAX_TOKEN_SCOPES: usize = 100;

/// The permission codes a token for `key` is limited to when `requested`
/// (space-separated codes) is asked for: each must be a permission the
/// key's user holds (through some grant, at some scope). The codes are
/// returned sorted, without repeats. A refusal names `scope`.
pub fn token_scope(
    model: &Model,
    key: &ApiKey,
    requested: &str,
) -> Result<Vec<String>, DomainError> {
    let codes: BTreeSet<&str> = requested.split(' ').filter(|c| !c.is_empty()).collect();
    if codes.is_empty() {
        return Err(DomainError::invalid("scope", "names no permission"));
    }
    if codes.len() > MAX_TOKEN_SCOPES {
        return Err(DomainError::invalid(
            "scope",
            format!("names more than {MAX_TOKEN_SCOPES} permissions"),
        ));
    }
    let home = model.user(key.user_id).map(|u| u.organization_id);
    let held: BTreeSet<PermissionId> = model
        .grants_of(key.user_id)
        .flat_map(|g| model.grant_permissions(&g))
        .collect();
    for code in &codes {
        let known = model.permission_by_code(home, code);
        if !known.is_some_and(|p| held.contains(&p)) {
            return Err(DomainError::invalid(
                "scope",
                format!("`{}` is not a permission the client holds", truncate(code)),
            ));
        }
    }
    Ok(codes.into_iter().map(str::to_owned).collect())
}
