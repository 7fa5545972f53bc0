//! From a Lexful request to the domain write: the body parsed into a
//! profile patch, a role and scope lists; the write resolves the acting
//! account and the user, then applies the patch and makes the user's grants
//! in that organization *role at each listed scope*.

use super::render::{render, view};
use super::wire::{UpdateUserIn, UserOut};
use super::ROLES;
use roster_domain::ops::{self, UserPatch};
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

/// What a request's role and scope lists mean for `user` in `org`, read
/// against its grants now (Lexful's reading): an absent list keeps the
/// user's current scopes of that kind, an absent role its current role.
/// `None` when the request changes no grant.
fn wanted_access(
    p: &Parsed,
    model: &Model,
    user: &roster_domain::User,
    org: OrganizationId,
) -> Result<Option<ops::WantedAccess>, DomainError> {
    if !p.changes_grants() {
        return Ok(None);
    }
    let current = view(model, user.id, org);
    let account_scopes = p.account_scopes.as_deref().unwrap_or_default();
    let organization_scopes = p.organization_scopes.as_deref().unwrap_or_default();
    let mut wanted = scopes(model, org, account_scopes, organization_scopes)?;
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
    Ok(Some((role, wanted)))
}

/// The write: one domain call (profile, then role and scopes), rendered.
pub fn write(
    d: &mut Draft<'_>,
    account: AccountId,
    user: UserId,
    p: &Parsed,
) -> Result<UserOut, DomainError> {
    let (after, org) = ops::update_org_user(d, account, user, p.patch.clone(), |m, u, org| {
        wanted_access(p, m, u, org)
    })?;
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
