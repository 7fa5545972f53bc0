//! Who may read which part of the audit trail (SPEC §3.2): `audit:read`
//! over an organization shows its events; `global` holders see them all.

use crate::catalogue::perms;
use crate::draft::Draft;
use crate::error::DomainError;
use crate::ids::OrganizationId;
use crate::scope::Scope;

/// The organizations whose audit events the actor may read: `None` for all
/// of them (a `global` holder, or the system), else the list. Asked about
/// one `organization`: `404` out of reach, `403` without `audit:read` over
/// it. Asked about none: the organizations the actor holds `audit:read`
/// on (`403` if none).
pub fn audit_organizations(
    d: &Draft<'_>,
    organization: Option<OrganizationId>,
) -> Result<Option<Vec<OrganizationId>>, DomainError> {
    let m = d.model();
    let Some(me) = d.actor() else {
        return Ok(organization.map(|o| vec![o]));
    };
    match organization {
        Some(o) => {
            d.reach(o, ("organization", o.to_string()))?;
            if !me.holds(m, perms::audit_read(), &Scope::Organization(o)) {
                return Err(DomainError::forbidden(
                    "requires `audit:read` over the organization",
                ));
            }
            Ok(Some(vec![o]))
        }
        None if me.holds(m, perms::audit_read(), &Scope::Global) => Ok(None),
        None => {
            let orgs: Vec<OrganizationId> = m
                .grants_of(me.user)
                .filter_map(|g| match g.scope {
                    Scope::Organization(o)
                        if me.permits(perms::audit_read())
                            && m.grant_gives(&g, perms::audit_read()) =>
                    {
                        Some(o)
                    }
                    _ => None,
                })
                .collect();
            if orgs.is_empty() {
                return Err(DomainError::forbidden(
                    "requires `audit:read` over an organization",
                ));
            }
            Ok(Some(orgs))
        }
    }
}
