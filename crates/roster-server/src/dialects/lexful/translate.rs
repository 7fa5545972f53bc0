//! From a Lexful request to the domain write: the body parsed into a
//! profile patch, a role and scope lists; the write resolves the acting
//! account and the user, then applies the patch and makes the user's grants
//! in that organization *role at each listed scope*.

use super::render::{render, view};
use super::wire::{UpdateUserIn, UserOut};
use super::ROLES;
use roster_domain::ops::{self, Precondition, UserAdmin, UserPatch};
use roster_domain::{
    AccountId, DomainError, Draft, Email, Model, OrganizationId, PersonName, RoleId, Scope, UserId,
};
use std::collections::BTreeSet;

/// Most entries in each scope list.
pub const MAX_SCOPES: usize = 256;

/// One entry of a scope list: a UUID or the wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Id(uuid::Uuid),
    Any,
}

fn parse_entries(field: &str, raw: Vec<String>) -> Result<Vec<Entry>, DomainError> {
    if raw.len() > MAX_SCOPES {
        return Err(DomainError::invalid(
            field,
            format!("must have at most {MAX_SCOPES} entries"),
        ));
    }
    raw.iter()
        .enumerate()
        .map(|(i, s)| {
            if s == "*" {
                Ok(Entry::Any)
            } else {
                uuid::Uuid::parse_str(s).map(Entry::Id).map_err(|_| {
                    DomainError::invalid(
                        format!("{field}[{i}]"),
                        format!("`{}` is neither a UUID nor `*`", roster_domain::truncate(s)),
                    )
                })
            }
        })
        .collect()
}

/// A parsed, validated request.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub patch: UserPatch,
    pub role: Option<RoleId>,
    pub account_scopes: Option<Vec<Entry>>,
    pub organization_scopes: Option<Vec<Entry>>,
}

impl Parsed {
    pub fn parse(b: UpdateUserIn) -> Result<Self, DomainError> {
        let name = |field: &str,
                    v: Option<Option<String>>|
         -> Result<Option<Option<PersonName>>, DomainError> {
            v.map(|v| {
                v.as_deref()
                    .map(|s| PersonName::parse_field(field, s))
                    .transpose()
            })
            .transpose()
        };
        let role = b
            .role
            .map(|r| {
                if ROLES.contains(&r.as_str()) {
                    RoleId::parse_field("role", &r)
                } else {
                    Err(DomainError::invalid(
                        "role",
                        format!(
                            "`{}` is not one of `{}`",
                            roster_domain::truncate(&r),
                            ROLES.join("`, `")
                        ),
                    ))
                }
            })
            .transpose()?;
        Ok(Self {
            patch: UserPatch {
                email: b
                    .email
                    .as_deref()
                    .map(|e| Email::parse_field("email", e))
                    .transpose()?,
                first_name: name("first_name", b.first_name)?,
                last_name: name("last_name", b.last_name)?,
                ..UserPatch::default()
            },
            role,
            account_scopes: b
                .account_scopes
                .map(|v| parse_entries("account_scopes", v))
                .transpose()?,
            organization_scopes: b
                .organization_scopes
                .map(|v| parse_entries("organization_scopes", v))
                .transpose()?,
        })
    }

    fn changes_profile(&self) -> bool {
        let p = &self.patch;
        p.email.is_some() || p.first_name.is_some() || p.last_name.is_some()
    }

    fn changes_grants(&self) -> bool {
        self.role.is_some() || self.account_scopes.is_some() || self.organization_scopes.is_some()
    }
}

/// Translates the scope lists into scopes of `org`. Ids outside the
/// organization are not found (tenant isolation; only `"*"` reaches beyond).
fn scopes(
    model: &Model,
    org: OrganizationId,
    account_scopes: &[Entry],
    organization_scopes: &[Entry],
) -> Result<Vec<Scope>, DomainError> {
    let mut out = Vec::new();
    for e in account_scopes {
        out.push(match *e {
            Entry::Any => Scope::Accounts(org),
            Entry::Id(a) => {
                let a = AccountId(a);
                if model.account_org(a) != Some(org) {
                    return Err(DomainError::not_found("account", a));
                }
                Scope::Account(a)
            }
        });
    }
    for e in organization_scopes {
        out.push(match *e {
            Entry::Any => Scope::Global,
            Entry::Id(o) if OrganizationId(o) == org => Scope::Organization(org),
            Entry::Id(o) => return Err(DomainError::not_found("organization", o)),
        });
    }
    let mut seen = BTreeSet::new();
    out.retain(|s| seen.insert(*s));
    Ok(out)
}

/// The write: resolve the acting account and the user, validate the scopes,
/// then apply the profile patch and the grants as one change.
pub fn write(
    d: &mut Draft<'_>,
    account: AccountId,
    user: UserId,
    p: &Parsed,
) -> Result<UserOut, DomainError> {
    let org = d
        .model()
        .account_org(account)
        .ok_or_else(|| DomainError::not_found("account", account))?;
    d.reach(org, ("account", account.to_string()))?;
    let before = ops::get_user(d, user)?;
    if before.organization_id != org {
        return Err(DomainError::not_found("user", user));
    }
    let grants = if p.changes_grants() {
        let current = view(d.model(), user, org);
        let account_scopes: Vec<Entry> = match &p.account_scopes {
            Some(e) => e.clone(),
            None => Vec::new(),
        };
        let organization_scopes: Vec<Entry> = match &p.organization_scopes {
            Some(e) => e.clone(),
            None => Vec::new(),
        };
        let mut wanted = scopes(d.model(), org, &account_scopes, &organization_scopes)?;
        // An absent list keeps the user's current scopes of that kind.
        for s in &current.scopes {
            let keep = match s {
                Scope::Global | Scope::Organization(_) => p.organization_scopes.is_none(),
                Scope::Accounts(_) | Scope::Account(_) => p.account_scopes.is_none(),
            };
            if keep && !wanted.contains(s) {
                wanted.push(*s);
            }
        }
        let role = match (&p.role, &current.role) {
            (Some(r), _) => r.clone(),
            (None, Some((_, r))) => r.clone(),
            (None, None) => {
                return Err(DomainError::invalid(
                    "role",
                    "required: the user has no role in this organization yet",
                ))
            }
        };
        if p.account_scopes.is_none() && p.organization_scopes.is_none() && wanted.is_empty() {
            return Err(DomainError::invalid(
                "account_scopes",
                "required: the user has no scopes in this organization yet; send `account_scopes` or `organization_scopes`",
            ));
        }
        Some((role, wanted))
    } else {
        None
    };
    let after = if p.changes_profile() {
        ops::authorize_user_update(d, &before, p.patch.is_profile_only(), UserAdmin::UsersWrite)?;
        ops::apply_user_patch(d, &before, p.patch.clone(), Precondition::NONE)?
    } else {
        before
    };
    if let Some((role, wanted)) = &grants {
        ops::replace_org_grants(d, &after, role, wanted, "role")?;
    }
    Ok(render(d.model(), &after, account, org, p.role.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use crate::surface::body::parse_json;

    #[test]
    fn body_parsing() {
        let b =
            parse_json::<UpdateUserIn>(br#"{"first_name":null,"account_scopes":["*"]}"#).unwrap();
        let p = Parsed::parse(b).unwrap();
        assert_eq!(p.patch.first_name, Some(None));
        assert_eq!(p.account_scopes, Some(vec![Entry::Any]));
        let b = parse_json::<UpdateUserIn>(br#"{"organization_scopes":["*","nope"]}"#).unwrap();
        assert!(
            matches!(Parsed::parse(b), Err(DomainError::Invalid { field, .. }) if field == "organization_scopes[1]")
        );
        let b = parse_json::<UpdateUserIn>(br#"{"role":"owner"}"#).unwrap();
        assert!(
            matches!(Parsed::parse(b), Err(DomainError::Invalid { field, .. }) if field == "role")
        );
        assert!(
            matches!(parse_json::<UpdateUserIn>(br#"{"nick":1}"#), Err(ApiError::BadRequest { field, .. }) if field == "nick")
        );
        assert!(
            matches!(parse_json::<UpdateUserIn>(br#"{"email":null}"#), Err(ApiError::BadRequest { field, .. }) if field == "email")
        );
    }
}
