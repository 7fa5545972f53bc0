//! Grants: every creation and removal passes the escalation and self guards
//! ([`rules::guard_grant_change`]); the lockout guard runs when the draft
//! finishes. The dialects' bulk operations (Yuno, Fynn, Crux, Lexful) are
//! compositions of the same two primitives.

use crate::catalogue::perms;
use crate::draft::{snapshot, AuditDraft, Draft};
use crate::entity::{Grant, GrantTarget, Membership, RoleKey, User};
use crate::error::DomainError;
use crate::ids::{AccountId, GrantId, MembershipId, PermissionId, UserId};
use crate::model::Change;
use crate::rules;
use crate::scope::Scope;
use crate::values::RoleId;
use std::sync::Arc;

/// What to grant, as a client names it.
#[derive(Clone, Debug)]
pub enum GrantSubject {
    /// A role id, resolved in the holder's organization.
    Role(RoleId),
    /// A permission id.
    Permission(PermissionId),
}

/// Resolves a grant subject for `holder`, naming `field` on failure.
pub fn resolve_subject(
    d: &Draft<'_>,
    holder: &User,
    subject: &GrantSubject,
    field: &str,
) -> Result<GrantTarget, DomainError> {
    let m = d.model();
    match subject {
        GrantSubject::Role(id) => m
            .resolve_role(Some(holder.organization_id), id)
            .map(|r| GrantTarget::Role(r.key()))
            .ok_or_else(|| DomainError::invalid(field, format!("unknown role `{id}`"))),
        GrantSubject::Permission(p) => m
            .permission(*p)
            .filter(|q| {
                q.organization_id.is_none() || q.organization_id == Some(holder.organization_id)
            })
            .map(|q| GrantTarget::Permission(q.id))
            .ok_or_else(|| DomainError::invalid(field, format!("unknown permission `{p}`"))),
    }
}

/// Checks that a scope exists and lies in the holder's organization (only
/// `global` crosses organizations). Unreachable accounts are 404.
pub fn validate_scope(d: &Draft<'_>, holder: &User, scope: &Scope) -> Result<(), DomainError> {
    let m = d.model();
    let org = match *scope {
        Scope::Global => return Ok(()),
        Scope::Organization(o) | Scope::Accounts(o) => {
            if m.organization(o).is_none() {
                return Err(DomainError::not_found("organization", o));
            }
            d.reach(o, ("organization", o.to_string()))?;
            o
        }
        Scope::Account(a) => {
            let o = m
                .account_org(a)
                .ok_or_else(|| DomainError::not_found("account", a))?;
            d.reach(o, ("account", a.to_string()))?;
            o
        }
    };
    if org != holder.organization_id {
        return Err(DomainError::invalid("scope.id", "only `global` grants cross organizations; the scope must be in the user's organization"));
    }
    Ok(())
}

/// Adds a grant unless an identical one exists. Returns the grant and
/// whether it was created.
pub fn ensure_grant(
    d: &mut Draft<'_>,
    holder: &User,
    target: GrantTarget,
    scope: Scope,
) -> Result<(Grant, bool), DomainError> {
    rules::guard_grant_change(d.model(), d.actor(), holder.id, &target, &scope)?;
    if let Some(g) = d
        .model()
        .grants_of(holder.id)
        .find(|g| g.target == target && g.scope == scope)
    {
        return Ok((g, false));
    }
    let g = Grant {
        id: GrantId::new(),
        user_id: holder.id,
        target,
        scope,
        created_at: d.now(),
        created_by: d.actor_id(),
        revision: d.revision(),
    };
    let org = scope
        .organization(|a| d.model().account_org(a))
        .or(Some(holder.organization_id));
    let account = match scope {
        Scope::Account(a) => Some(a),
        _ => None,
    };
    d.record(
        Change::PutGrant(g.clone()),
        org,
        AuditDraft {
            action: "grant.create",
            target_type: "grant",
            target_id: g.id.to_string(),
            organization_id: org,
            account_id: account,
            before: None,
            after: snapshot(&g),
        },
    );
    Ok((g, true))
}

/// Removes a grant (guards apply).
pub fn remove_grant(d: &mut Draft<'_>, g: &Grant) -> Result<(), DomainError> {
    rules::guard_grant_change(d.model(), d.actor(), g.user_id, &g.target, &g.scope)?;
    let holder_org = d.model().user(g.user_id).map(|u| u.organization_id);
    let org = g
        .scope
        .organization(|a| d.model().account_org(a))
        .or(holder_org);
    let account = match g.scope {
        Scope::Account(a) => Some(a),
        _ => None,
    };
    d.record(
        Change::DeleteGrant(g.key()),
        org,
        AuditDraft {
            action: "grant.delete",
            target_type: "grant",
            target_id: g.id.to_string(),
            organization_id: org,
            account_id: account,
            before: snapshot(g),
            after: None,
        },
    );
    Ok(())
}

/// Native `POST /v1/users/{id}/grants`.
pub fn create_grant(
    d: &mut Draft<'_>,
    user: UserId,
    subject: GrantSubject,
    scope: Scope,
) -> Result<(Grant, bool), DomainError> {
    let holder = crate::ops::live_user(d, user)?;
    let field = match subject {
        GrantSubject::Role(_) => "role_id",
        GrantSubject::Permission(_) => "permission_id",
    };
    let target = resolve_subject(d, &holder, &subject, field)?;
    validate_scope(d, &holder, &scope)?;
    ensure_grant(d, &holder, target, scope)
}

/// Native `DELETE /v1/users/{id}/grants/{grant_id}`.
pub fn delete_grant(d: &mut Draft<'_>, user: UserId, grant: GrantId) -> Result<(), DomainError> {
    let holder = crate::ops::live_user(d, user)?;
    let g = d
        .model()
        .grant(holder.id, grant)
        .ok_or_else(|| DomainError::not_found("grant", grant))?;
    remove_grant(d, &g)
}

/// Grants of a user that the actor may see.
pub fn list_grants(d: &Draft<'_>, user: UserId) -> Result<Vec<Grant>, DomainError> {
    let holder = crate::ops::live_user(d, user)?;
    let m = d.model();
    let visible: Vec<_> = m
        .grants_of(holder.id)
        .filter(|g| rules::may_see_grant(m, d.actor(), g))
        .collect();
    if visible.is_empty() && d.actor_id().is_some_and(|a| a != holder.id) {
        // The actor must at least be able to read grants somewhere in the organization.
        let any = d.actor().is_some_and(|a| {
            a.holds(
                m,
                perms::grants_read(),
                &Scope::Organization(holder.organization_id),
            ) || a.permits(perms::grants_read())
                && m.grants_of(a.user)
                    .any(|g| g.scope != Scope::Global && m.grant_gives(&g, perms::grants_read()))
        });
        if !any {
            return Err(DomainError::forbidden("requires `grants:read`"));
        }
    }
    Ok(visible)
}

/// Yuno and Fynn: sets `user`'s role in `account` to `role`, replacing the
/// user's other role grants at exactly that account. Field names in errors
/// use `field`.
pub fn set_account_role(
    d: &mut Draft<'_>,
    holder: &User,
    account: AccountId,
    role: &RoleId,
    field: &str,
) -> Result<(), DomainError> {
    let target = resolve_subject(d, holder, &GrantSubject::Role(role.clone()), field)?;
    let scope = Scope::Account(account);
    validate_scope(d, holder, &scope)?;
    if d.actor_id() == Some(holder.id) {
        return Err(DomainError::SelfChange {
            message: "you cannot change the role of your own account".into(),
        });
    }
    let stale: Vec<_> = d
        .model()
        .grants_of(holder.id)
        .filter(|g| {
            g.scope == scope && matches!(g.target, GrantTarget::Role(_)) && g.target != target
        })
        .collect();
    for g in stale {
        remove_grant(d, &g)?;
    }
    ensure_grant(d, holder, target, scope)?;
    Ok(())
}

/// The role a user holds at exactly `account` (the first, by role id).
pub fn account_role(d: &Draft<'_>, user: UserId, account: AccountId) -> Option<RoleKey> {
    d.model()
        .grants_of(user)
        .filter(|g| g.scope == Scope::Account(account))
        .filter_map(|g| match &g.target {
            GrantTarget::Role(k) => Some(k.clone()),
            GrantTarget::Permission(_) => None,
        })
        .min()
}

/// Lexful: the user's grants within its organization become exactly `role`
/// at each of `scopes` (grants at `global` are kept unless `global` is listed).
pub fn replace_org_grants(
    d: &mut Draft<'_>,
    holder: &User,
    role: &RoleId,
    scopes: &[Scope],
    field: &str,
) -> Result<(), DomainError> {
    let target = resolve_subject(d, holder, &GrantSubject::Role(role.clone()), field)?;
    for s in scopes {
        validate_scope(d, holder, s)?;
    }
    if d.actor_id() == Some(holder.id) {
        return Err(DomainError::SelfChange {
            message: "you cannot change your own role or scopes".into(),
        });
    }
    let org = holder.organization_id;
    let in_org = |m: &crate::Model, g: &Grant| match g.scope {
        Scope::Global => scopes.contains(&Scope::Global),
        s => s.organization(|a| m.account_org(a)) == Some(org),
    };
    let stale: Vec<_> = d
        .model()
        .grants_of(holder.id)
        .filter(|g| in_org(d.model(), g) && !(g.target == target && scopes.contains(&g.scope)))
        .collect();
    for g in stale {
        remove_grant(d, &g)?;
    }
    for s in scopes {
        ensure_grant(d, holder, target.clone(), *s)?;
    }
    Ok(())
}

/// Crux: adds each of `permissions` to `user` as a direct grant at the
/// actor's (home) organization; re-adding is a no-op. The user must belong
/// to that organization (else 404), the actor needs `edit_org_users` over
/// it, and the self and escalation guards apply to every grant. `field`
/// names the list in errors (`field[i]`). Returns the user.
pub fn add_org_permissions(
    d: &mut Draft<'_>,
    user: UserId,
    permissions: &[PermissionId],
    field: &str,
) -> Result<Arc<User>, DomainError> {
    let holder = crate::ops::live_user(d, user)?;
    let org = match d.actor_id() {
        Some(a) => d
            .model()
            .user(a)
            .map(|u| u.organization_id)
            .ok_or_else(|| DomainError::not_found("user", user))?,
        None => holder.organization_id,
    };
    if holder.organization_id != org {
        // Only users of the actor's own organization are addressed here.
        return Err(DomainError::not_found("user", user));
    }
    d.require(
        perms::edit_org_users(),
        &Scope::Organization(org),
        ("user", user.to_string()),
    )?;
    if d.actor_id() == Some(holder.id) {
        return Err(DomainError::SelfChange {
            message: "you cannot change your own permissions".into(),
        });
    }
    for (i, p) in permissions.iter().enumerate() {
        let target = resolve_subject(
            d,
            &holder,
            &GrantSubject::Permission(*p),
            &format!("{field}[{i}]"),
        )?;
        ensure_grant(d, &holder, target, Scope::Organization(org))?;
    }
    Ok(holder)
}

/// Fynn: sets the role of a membership's user at the membership's account.
/// The actor needs `account:role:write` over the account; then
/// [`set_account_role`] applies (self and escalation guards). Unknown or
/// unreachable memberships are 404. Returns the membership and its user.
pub fn set_membership_role(
    d: &mut Draft<'_>,
    membership: MembershipId,
    role: &RoleId,
    field: &str,
) -> Result<(Arc<Membership>, Arc<User>), DomainError> {
    let not_found = || DomainError::not_found("membership", membership);
    let m = d
        .model()
        .membership(membership)
        .cloned()
        .ok_or_else(not_found)?;
    let org = d.model().account_org(m.account_id).ok_or_else(not_found)?;
    d.reach(org, ("membership", membership.to_string()))?;
    let holder = d
        .model()
        .user(m.user_id)
        .filter(|u| u.deleted_at.is_none())
        .cloned()
        .ok_or_else(not_found)?;
    d.require(
        perms::account_role_write(),
        &Scope::Account(m.account_id),
        ("membership", membership.to_string()),
    )?;
    set_account_role(d, &holder, m.account_id, role, field)?;
    Ok((m, holder))
}
