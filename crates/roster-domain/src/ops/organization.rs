//! Organizations: create (global `organizations:write`), update, delete
//! (without accounts or users; its identity providers, roles and custom
//! permissions go with it).

use crate::catalogue::perms;
use crate::draft::{snapshot, AuditDraft, Draft};
use crate::entity::Organization;
use crate::error::DomainError;
use crate::ids::OrganizationId;
use crate::model::Change;
use crate::ops::Precondition;
use crate::scope::Scope;
use crate::values::{DisplayName, Slug};
use std::sync::Arc;

/// Input of [`create_organization`].
#[derive(Clone, Debug)]
pub struct NewOrganization {
    /// Id to use (demo data and imports), else a fresh one.
    pub id: Option<OrganizationId>,
    /// Name.
    pub name: DisplayName,
    /// Slug; derived from the name when absent.
    pub slug: Option<Slug>,
}

/// Creates an organization. Requires `organizations:write` at `global`.
pub fn create_organization(
    d: &mut Draft<'_>,
    new: NewOrganization,
) -> Result<Arc<Organization>, DomainError> {
    d.require(
        perms::organizations_write(),
        &Scope::Global,
        ("organization", String::new()),
    )?;
    let slug = match new.slug {
        Some(s) => {
            if d.model().organization_by_slug(s.as_str()).is_some() {
                return Err(DomainError::conflict(
                    "slug",
                    format!("slug `{s}` is taken"),
                ));
            }
            s
        }
        None => unique_slug(d, &Slug::from_name(new.name.as_str())),
    };
    let id = new.id.unwrap_or_default();
    if d.model().organization(id).is_some() {
        return Err(DomainError::conflict(
            "id",
            format!("organization `{id}` exists"),
        ));
    }
    let org = Organization {
        id,
        name: new.name,
        slug,
        revision: d.revision(),
        created_at: d.now(),
        updated_at: d.now(),
    };
    d.record(
        Change::PutOrganization(org.clone()),
        Some(id),
        AuditDraft {
            action: "organization.create",
            target_type: "organization",
            target_id: id.to_string(),
            organization_id: Some(id),
            account_id: None,
            before: None,
            after: snapshot(&org),
        },
    );
    Ok(Arc::new(org))
}

fn unique_slug(d: &Draft<'_>, base: &Slug) -> Slug {
    if d.model().organization_by_slug(base.as_str()).is_none() {
        return base.clone();
    }
    for n in 2.. {
        let candidate = format!("{}-{n}", base.as_str());
        if d.model().organization_by_slug(&candidate).is_none() {
            if let Ok(s) = Slug::parse(&candidate) {
                return s;
            }
        }
    }
    base.clone()
}

/// Reads an organization (`organizations:read` over it; unreachable → 404).
pub fn get_organization(
    d: &Draft<'_>,
    id: OrganizationId,
) -> Result<Arc<Organization>, DomainError> {
    let org = d
        .model()
        .organization(id)
        .cloned()
        .ok_or_else(|| DomainError::not_found("organization", id))?;
    d.require(
        perms::organizations_read(),
        &Scope::Organization(id),
        ("organization", id.to_string()),
    )?;
    Ok(org)
}

/// The organizations the actor may read (reaches, and holds
/// `organizations:read` over), in id order after `after`, at most `limit`.
pub fn list_organizations(
    d: &Draft<'_>,
    after: Option<OrganizationId>,
    limit: usize,
) -> Vec<Arc<Organization>> {
    let m = d.model();
    // The caller's reach is worked out once, not once per organization.
    let asker = d.actor().map(|a| crate::ops::Asker::new(m, a));
    m.organizations_after(after)
        .filter(|o| {
            asker.as_ref().is_none_or(|k| k.reaches(o.id))
                && crate::rules::may(
                    m,
                    d.actor(),
                    perms::organizations_read(),
                    &Scope::Organization(o.id),
                )
        })
        .take(limit)
        .cloned()
        .collect()
}

/// Changes to an organization; absent fields are left alone.
#[derive(Clone, Debug, Default)]
pub struct OrganizationPatch {
    /// New name.
    pub name: Option<DisplayName>,
    /// New slug.
    pub slug: Option<Slug>,
}

/// Updates an organization (`organizations:write` over it).
pub fn update_organization(
    d: &mut Draft<'_>,
    id: OrganizationId,
    patch: OrganizationPatch,
    pre: Precondition,
) -> Result<Arc<Organization>, DomainError> {
    let before = d
        .model()
        .organization(id)
        .cloned()
        .ok_or_else(|| DomainError::not_found("organization", id))?;
    d.require(
        perms::organizations_write(),
        &Scope::Organization(id),
        ("organization", id.to_string()),
    )?;
    pre.check(before.revision)?;
    let mut after = (*before).clone();
    if let Some(n) = patch.name {
        after.name = n;
    }
    if let Some(s) = patch.slug {
        if s != before.slug && d.model().organization_by_slug(s.as_str()).is_some() {
            return Err(DomainError::conflict(
                "slug",
                format!("slug `{s}` is taken"),
            ));
        }
        after.slug = s;
    }
    if after == *before {
        return Ok(before);
    }
    after.revision = d.revision();
    after.updated_at = d.now();
    d.record(
        Change::PutOrganization(after.clone()),
        Some(id),
        AuditDraft {
            action: "organization.update",
            target_type: "organization",
            target_id: id.to_string(),
            organization_id: Some(id),
            account_id: None,
            before: snapshot(&*before),
            after: snapshot(&after),
        },
    );
    Ok(Arc::new(after))
}

/// Deletes an organization that has no accounts and no users
/// (`organizations:write` at `global`).
pub fn delete_organization(
    d: &mut Draft<'_>,
    id: OrganizationId,
    pre: Precondition,
) -> Result<(), DomainError> {
    let before = d
        .model()
        .organization(id)
        .cloned()
        .ok_or_else(|| DomainError::not_found("organization", id))?;
    d.reach(id, ("organization", id.to_string()))?;
    d.require(
        perms::organizations_write(),
        &Scope::Global,
        ("organization", id.to_string()),
    )?;
    pre.check(before.revision)?;
    if d.model().accounts_of(id).next().is_some() || d.model().users_of(id).next().is_some() {
        return Err(DomainError::conflict(
            "id",
            "organization still has accounts or users; remove them first",
        ));
    }
    // Its identity providers, webhooks, groups (with their grants: an organization
    // without users has no members), custom roles and permissions belong
    // to the organization and go with it.
    let groups: Vec<_> = d.model().groups_of_org(id).cloned().collect();
    for g in groups {
        let grants: Vec<_> = d.model().grants_of(g.id).collect();
        for grant in &grants {
            crate::ops::remove_grant(d, grant)?;
        }
        crate::ops::group::remove(d, &g);
    }
    let providers: Vec<_> = d.model().identity_providers_of(id).cloned().collect();
    for p in providers {
        crate::ops::identity_provider::remove(d, &p);
    }
    let webhooks: Vec<_> = d.model().webhooks_of(id).cloned().collect();
    for w in webhooks {
        crate::ops::webhook::remove(d, &w);
    }
    let roles: Vec<_> = d
        .model()
        .roles_visible_in(id)
        .filter(|r| !r.is_builtin())
        .cloned()
        .collect();
    for r in roles {
        d.record(
            Change::DeleteRole(r.key()),
            None,
            AuditDraft {
                action: "role.delete",
                target_type: "role",
                target_id: r.id.to_string(),
                organization_id: Some(id),
                account_id: None,
                before: snapshot(&*r),
                after: None,
            },
        );
    }
    let custom: Vec<_> = d
        .model()
        .permissions()
        .filter(|p| p.organization_id == Some(id))
        .cloned()
        .collect();
    for p in custom {
        d.record(
            Change::DeletePermission(p.id),
            None,
            AuditDraft {
                action: "permission.delete",
                target_type: "permission",
                target_id: p.id.to_string(),
                organization_id: Some(id),
                account_id: None,
                before: snapshot(&*p),
                after: None,
            },
        );
    }
    d.record(
        Change::DeleteOrganization(id),
        None,
        AuditDraft {
            action: "organization.delete",
            target_type: "organization",
            target_id: id.to_string(),
            organization_id: Some(id),
            account_id: None,
            before: snapshot(&*before),
            after: None,
        },
    );
    Ok(())
}
