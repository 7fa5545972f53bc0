//! The permission catalogue and roles. Custom permissions and roles belong
//! to one organization and are administered with `roles:write` over it;
//! built-ins are read-only. Changing a role's permissions changes what every
//! holder may do, so the actor must hold every permission it adds or removes.

use crate::catalogue::perms;
use crate::draft::{snapshot, AuditDraft, Draft};
use crate::entity::{Permission, Role, RoleKey};
use crate::error::DomainError;
use crate::ids::{OrganizationId, PermissionId};
use crate::model::Change;
use crate::ops::Precondition;
use crate::rules;
use crate::scope::Scope;
use crate::values::{Description, DisplayName, PermissionCode, RoleId};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Input of [`create_permission`].
#[derive(Clone, Debug)]
pub struct NewPermission {
    /// Id to use (demo data), else fresh.
    pub id: Option<PermissionId>,
    /// Organization.
    pub organization_id: OrganizationId,
    /// Code.
    pub code: PermissionCode,
    /// Description.
    pub description: Description,
}

/// Adds a custom permission to an organization's catalogue.
pub fn create_permission(
    d: &mut Draft<'_>,
    new: NewPermission,
) -> Result<Arc<Permission>, DomainError> {
    let org = new.organization_id;
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    d.require(
        perms::roles_write(),
        &Scope::Organization(org),
        ("organization", org.to_string()),
    )?;
    if d.model()
        .permission_by_code(Some(org), new.code.as_str())
        .is_some()
    {
        return Err(DomainError::conflict(
            "code",
            format!("permission `{}` exists", new.code),
        ));
    }
    let id = new.id.unwrap_or_default();
    if d.model().permission(id).is_some() {
        return Err(DomainError::conflict(
            "id",
            format!("permission `{id}` exists"),
        ));
    }
    let p = Permission {
        id,
        code: new.code,
        description: new.description.as_str().to_owned(),
        organization_id: Some(org),
        revision: d.revision(),
    };
    d.record(
        Change::PutPermission(p.clone()),
        Some(org),
        AuditDraft {
            action: "permission.create",
            target_type: "permission",
            target_id: id.to_string(),
            organization_id: Some(org),
            account_id: None,
            before: None,
            after: snapshot(&p),
        },
    );
    Ok(Arc::new(p))
}

/// Permissions visible to the actor: built-ins and the custom ones of
/// organizations it reaches.
pub fn list_permissions(d: &Draft<'_>) -> Vec<Arc<Permission>> {
    let m = d.model();
    m.permissions()
        .filter(|p| match (p.organization_id, d.actor()) {
            (None, _) | (_, None) => true,
            (Some(o), Some(a)) => rules::can_reach(m, a, o),
        })
        .cloned()
        .collect()
}

/// Resolves permission references (ids or codes) usable in `org`, naming
/// `field[i]` on failure.
pub fn resolve_permissions(
    d: &Draft<'_>,
    org: Option<OrganizationId>,
    field: &str,
    refs: &[String],
) -> Result<BTreeSet<PermissionId>, DomainError> {
    let m = d.model();
    let mut out = BTreeSet::new();
    for (i, r) in refs.iter().enumerate() {
        let found = match r.parse::<PermissionId>() {
            Ok(id) => m
                .permission(id)
                .filter(|p| p.organization_id.is_none() || p.organization_id == org)
                .map(|p| p.id),
            Err(_) => m.permission_by_code(org, r),
        };
        match found {
            Some(id) => {
                out.insert(id);
            }
            None => {
                return Err(DomainError::invalid(
                    format!("{field}[{i}]"),
                    format!("unknown permission `{}`", crate::values::truncate(r)),
                ))
            }
        }
    }
    Ok(out)
}

/// Input of [`create_role`].
#[derive(Clone, Debug)]
pub struct NewRole {
    /// Organization.
    pub organization_id: OrganizationId,
    /// Slug id.
    pub id: RoleId,
    /// Name.
    pub name: DisplayName,
    /// Description.
    pub description: Description,
    /// Permissions.
    pub permissions: BTreeSet<PermissionId>,
}

fn require_holds_all(
    d: &Draft<'_>,
    org: OrganizationId,
    permissions: impl IntoIterator<Item = PermissionId>,
) -> Result<(), DomainError> {
    let Some(actor) = d.actor() else {
        return Ok(());
    };
    for p in permissions {
        if !rules::holds_to_hand_out(d.model(), actor, p, &Scope::Organization(org)) {
            return Err(DomainError::forbidden(format!(
                "escalation guard: you do not hold `{}` over the organization",
                rules::code_of(d.model(), p)
            )));
        }
    }
    Ok(())
}

/// Creates a custom role.
pub fn create_role(d: &mut Draft<'_>, new: NewRole) -> Result<Arc<Role>, DomainError> {
    let org = new.organization_id;
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    d.require(
        perms::roles_write(),
        &Scope::Organization(org),
        ("organization", org.to_string()),
    )?;
    if d.model().resolve_role(Some(org), &new.id).is_some() {
        return Err(DomainError::conflict(
            "id",
            format!("role `{}` exists", new.id),
        ));
    }
    require_holds_all(d, org, new.permissions.iter().copied())?;
    let role = Role {
        id: new.id,
        organization_id: Some(org),
        name: new.name,
        description: new.description.as_str().to_owned(),
        permissions: new.permissions,
        revision: d.revision(),
    };
    d.record(
        Change::PutRole(role.clone()),
        Some(org),
        AuditDraft {
            action: "role.create",
            target_type: "role",
            target_id: role.id.to_string(),
            organization_id: Some(org),
            account_id: None,
            before: None,
            after: snapshot(&role),
        },
    );
    Ok(Arc::new(role))
}

/// Reads a role as seen from `org` (built-in or custom).
pub fn get_role(d: &Draft<'_>, org: OrganizationId, id: &RoleId) -> Result<Arc<Role>, DomainError> {
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    d.require(
        perms::roles_read(),
        &Scope::Organization(org),
        ("organization", org.to_string()),
    )?;
    d.model()
        .resolve_role(Some(org), id)
        .cloned()
        .ok_or_else(|| DomainError::not_found("role", id))
}

/// Roles of an organization (built-ins first, then custom, by id).
pub fn list_roles(d: &Draft<'_>, org: OrganizationId) -> Result<Vec<Arc<Role>>, DomainError> {
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    d.require(
        perms::roles_read(),
        &Scope::Organization(org),
        ("organization", org.to_string()),
    )?;
    Ok(d.model().roles_visible_in(org).cloned().collect())
}

/// Changes to a custom role.
#[derive(Clone, Debug, Default)]
pub struct RolePatch {
    /// New name.
    pub name: Option<DisplayName>,
    /// New description.
    pub description: Option<Description>,
    /// New permission set (replaces).
    pub permissions: Option<BTreeSet<PermissionId>>,
}

fn custom_role(d: &Draft<'_>, org: OrganizationId, id: &RoleId) -> Result<Arc<Role>, DomainError> {
    let r = get_role(d, org, id)?;
    if r.is_builtin() {
        return Err(DomainError::forbidden(format!(
            "built-in role `{id}` is read-only"
        )));
    }
    Ok(r)
}

/// Updates a custom role.
pub fn update_role(
    d: &mut Draft<'_>,
    org: OrganizationId,
    id: &RoleId,
    patch: RolePatch,
    pre: Precondition,
) -> Result<Arc<Role>, DomainError> {
    let before = custom_role(d, org, id)?;
    d.require(
        perms::roles_write(),
        &Scope::Organization(org),
        ("organization", org.to_string()),
    )?;
    pre.check(before.revision)?;
    let mut after = (*before).clone();
    if let Some(v) = patch.name {
        after.name = v;
    }
    if let Some(v) = patch.description {
        after.description = v.as_str().to_owned();
    }
    if let Some(v) = patch.permissions {
        let changed: Vec<_> = v
            .symmetric_difference(&before.permissions)
            .copied()
            .collect();
        require_holds_all(d, org, changed)?;
        after.permissions = v;
    }
    if after == *before {
        return Ok(before);
    }
    after.revision = d.revision();
    d.record(
        Change::PutRole(after.clone()),
        Some(org),
        AuditDraft {
            action: "role.update",
            target_type: "role",
            target_id: id.to_string(),
            organization_id: Some(org),
            account_id: None,
            before: snapshot(&*before),
            after: snapshot(&after),
        },
    );
    Ok(Arc::new(after))
}

/// Deletes a custom role that no grant uses.
pub fn delete_role(
    d: &mut Draft<'_>,
    org: OrganizationId,
    id: &RoleId,
    pre: Precondition,
) -> Result<(), DomainError> {
    let before = custom_role(d, org, id)?;
    d.require(
        perms::roles_write(),
        &Scope::Organization(org),
        ("organization", org.to_string()),
    )?;
    pre.check(before.revision)?;
    let key = RoleKey {
        organization_id: Some(org),
        id: id.clone(),
    };
    if d.model().role_is_granted(&key) {
        return Err(DomainError::conflict(
            "role_id",
            format!("role `{id}` is still granted; remove its grants first"),
        ));
    }
    d.record(
        Change::DeleteRole(key),
        Some(org),
        AuditDraft {
            action: "role.delete",
            target_type: "role",
            target_id: id.to_string(),
            organization_id: Some(org),
            account_id: None,
            before: snapshot(&*before),
            after: None,
        },
    );
    Ok(())
}
