//! What a token request may ask for (RFC 6749 §3.3 `scope`): a token never
//! carries more than its API key may do (escalation guard, SPEC §2.3).

use crate::entity::ApiKey;
use crate::error::DomainError;
use crate::model::Model;
use crate::values::truncate;
use std::collections::BTreeSet;

/// Most permission codes a token request may name.
pub const MAX_TOKEN_SCOPES: usize = 100;

/// The permission codes a token issued to `key` is limited to, sorted and
/// without repeats; `None`: not limited (an unscoped key, nothing asked).
///
/// Without `requested` a token carries its key's scopes. With it
/// (space-separated codes), each code must be among the key's scopes, or,
/// for an unscoped key, a permission its user holds (through some grant,
/// at some scope): nobody mints a scope they do not hold. A refusal names
/// `scope`.
pub fn token_scope(
    model: &Model,
    key: &ApiKey,
    requested: Option<&str>,
) -> Result<Option<Vec<String>>, DomainError> {
    let home = model.user(key.user_id).map(|u| u.organization_id);
    let Some(requested) = requested else {
        return Ok(key.scopes.as_ref().map(|scopes| {
            let codes: BTreeSet<String> = scopes
                .iter()
                .filter_map(|p| model.permission(*p))
                .map(|p| p.code.as_str().to_owned())
                .collect();
            codes.into_iter().collect()
        }));
    };
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
    for code in &codes {
        let allowed = model
            .permission_by_code(home, code)
            .is_some_and(|p| match &key.scopes {
                Some(scopes) => scopes.contains(&p),
                None => model
                    .grants_of(key.user_id)
                    .any(|g| model.grant_gives(&g, p)),
            });
        if !allowed {
            return Err(DomainError::invalid(
                "scope",
                format!(
                    "`{}` is not among the permissions the client holds",
                    truncate(code)
                ),
            ));
        }
    }
    Ok(Some(codes.into_iter().map(str::to_owned).collect()))
}
