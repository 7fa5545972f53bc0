//! Grants: every creation and removal passes the escalation and self guards
//! ([`rules::guard_grant_change`]); the lockout guard runs when the draft
//! finishes. The dialects' bulk operations (Yuno, Fynn, Crux, Lexful) are
//! compositions of the same two primitives.

use crate::catalogue::perms;
use crate::draft::{snapshot, to_micros, AuditDraft, Draft};
use crate::entity::{Grant, GrantHolder, GrantTarget, Membership, RoleKey, User};
use crate::error::DomainError;
use crate::ids::{AccountId, GrantId, MembershipId, OrganizationId, PermissionId, UserId};
use crate::model::Change;
use crate::ops::Precondition;
use crate::rules;
use crate::scope::Scope;
use crate::values::RoleId;
use std::sync::Arc;
use time::OffsetDateTime;

/// What to grant, as a client names it.
#[derive(Clone, Debug)]
pub enum GrantSubject {
    /// A role id, resolved in the holder's organization.
    Role(RoleId),
    /// A permission id.
    Permission(PermissionId),
}

/// Resolves a grant subject for a holder of organization `org` (a role:
/// built-in or `org`'s; a permission: built-in or `org`'s), naming `field`
/// on failure.
pub fn resolve_subject(
    d: &Draft<'_>,
    org: OrganizationId,
    subject: &GrantSubject,
    field: &str,
) -> Result<GrantTarget, DomainError> {
    let m = d.model();
    match subject {
        GrantSubject::Role(id) => m
            .resolve_role(Some(org), id)
            .map(|r| GrantTarget::Role(r.key()))
            .ok_or_else(|| DomainError::invalid(field, format!("unknown role `{id}`"))),
        GrantSubject::Permission(p) => m
            .permission(*p)
            .filter(|q| q.organization_id.is_none_or(|o| o == org))
            .map(|q| GrantTarget::Permission(q.id))
            .ok_or_else(|| DomainError::invalid(field, format!("unknown permission `{p}`"))),
    }
}

/// Checks that a scope exists and lies in organization `org`, the
/// holder's (only `global` crosses organizations). Unreachable accounts
/// are 404.
pub fn validate_scope(
    d: &Draft<'_>,
    org: OrganizationId,
    scope: &Scope,
) -> Result<(), DomainError> {
    let m = d.model();
    let in_org = match *scope {
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
    if in_org != org {
        return Err(DomainError::invalid(
            "scope.id",
            "only `global` grants cross organizations; the scope must be in the holder's organization",
        ));
    }
    Ok(())
}

/// Checks an expiry a client sets: in the future (SPEC §1), cut to the
/// stores' precision.
pub fn validate_expiry(
    d: &Draft<'_>,
    expires_at: Option<OffsetDateTime>,
    field: &str,
) -> Result<Option<OffsetDateTime>, DomainError> {
    match expires_at {
        Some(t) if t <= d.now() => Err(DomainError::invalid(field, "must be in the future")),
        Some(t) => Ok(Some(to_micros(t))),
        None => Ok(None),
    }
}

/// The organization of a grant holder the actor may address: a live user
/// or a group, in reach (else `404`).
pub fn holder_org(d: &Draft<'_>, holder: GrantHolder) -> Result<OrganizationId, DomainError> {
    match holder {
        GrantHolder::User(u) => crate::ops::live_user(d, u).map(|u| u.organization_id),
        GrantHolder::Group(g) => crate::ops::live_group(d, g).map(|g| g.organization_id),
    }
}

/// The organization and account a grant's audit entry names.
fn grant_audit_place(d: &Draft<'_>, g: &Grant) -> (Option<OrganizationId>, Option<AccountId>) {
    let m = d.model();
    let holder_org = match g.holder {
        GrantHolder::User(u) => m.user(u).map(|u| u.organization_id),
        GrantHolder::Group(x) => m.group(x).map(|x| x.organization_id),
    };
    let org = g.scope.organization(|a| m.account_org(a)).or(holder_org);
    let account = match g.scope {
        Scope::Account(a) => Some(a),
        _ => None,
    };
    (org, account)
}

/// Records a grant's change with its audit entry (`action`).
fn record_grant(
    d: &mut Draft<'_>,
    action: &'static str,
    before: Option<&Grant>,
    after: Option<&Grant>,
) {
    let Some(g) = after.or(before) else { return };
    let (org, account) = grant_audit_place(d, g);
    let change = match after {
        Some(a) => Change::PutGrant(a.clone()),
        None => Change::DeleteGrant(g.key()),
    };
    d.record(
        change,
        org,
        AuditDraft {
            action,
            target_type: "grant",
            target_id: g.id.to_string(),
            organization_id: org,
            account_id: account,
            before: before.and_then(snapshot),
            after: after.and_then(snapshot),
        },
    );
}

/// Gives `holder` (of organization `org`) `target` at `scope` unless it
/// holds exactly that already (then that grant is returned, unchanged).
/// Returns the grant and whether it was created. The escalation and self
/// guards apply.
pub fn put_grant(
    d: &mut Draft<'_>,
    holder: GrantHolder,
    target: GrantTarget,
    scope: Scope,
    expires_at: Option<OffsetDateTime>,
) -> Result<(Grant, bool), DomainError> {
    rules::guard_grant_change(d.model(), d.actor(), holder, &target, &scope)?;
    // An expired grant the sweeper has not removed yet is not "held".
    if let Some(g) = d
        .model()
        .grants_of(holder)
        .find(|g| g.target == target && g.scope == scope && !g.is_expired(d.now()))
    {
        return Ok((g, false));
    }
    let g = Grant {
        id: GrantId::new(),
        holder,
        target,
        scope,
        expires_at,
        created_at: d.now(),
        created_by: d.actor_id(),
        revision: d.revision(),
    };
    record_grant(d, "grant.create", None, Some(&g));
    Ok((g, true))
}

/// Gives user `holder` `target` at `scope`, without expiry, unless it holds
/// exactly that already (the dialects' primitive).
pub fn ensure_grant(
    d: &mut Draft<'_>,
    holder: &User,
    target: GrantTarget,
    scope: Scope,
) -> Result<(Grant, bool), DomainError> {
    put_grant(d, GrantHolder::User(holder.id), target, scope, None)
}

/// Removes a grant (guards apply).
pub fn remove_grant(d: &mut Draft<'_>, g: &Grant) -> Result<(), DomainError> {
    rules::guard_grant_change(d.model(), d.actor(), g.holder, &g.target, &g.scope)?;
    record_grant(d, "grant.delete", Some(g), None);
    Ok(())
}

/// Removes a grant that has expired (the expiry sweeper, as the system:
/// `grant.expire`).
pub fn expire_grant(d: &mut Draft<'_>, g: &Grant) {
    record_grant(d, "grant.expire", Some(g), None);
}

/// A new grant as a client asks for it.
#[derive(Clone, Debug)]
pub struct NewGrant {
    /// What.
    pub subject: GrantSubject,
    /// Where.
    pub scope: Scope,
    /// Until when (`None`: until removed).
    pub expires_at: Option<OffsetDateTime>,
}

/// Native `POST /v1/users/{id}/grants` and `POST /v1/groups/{id}/grants`.
pub fn create_grant(
    d: &mut Draft<'_>,
    holder: impl Into<GrantHolder>,
    new: NewGrant,
) -> Result<(Grant, bool), DomainError> {
    let holder = holder.into();
    let org = holder_org(d, holder)?;
    let field = match new.subject {
        GrantSubject::Role(_) => "role_id",
        GrantSubject::Permission(_) => "permission_id",
    };
    let target = resolve_subject(d, org, &new.subject, field)?;
    validate_scope(d, org, &new.scope)?;
    let expires_at = validate_expiry(d, new.expires_at, "expires_at")?;
    put_grant(d, holder, target, new.scope, expires_at)
}

/// The grant `id` of `holder`, addressed by a client (`404` when either
/// is unknown or out of reach).
fn addressed_grant(d: &Draft<'_>, holder: GrantHolder, id: GrantId) -> Result<Grant, DomainError> {
    holder_org(d, holder)?;
    d.model()
        .grant(holder, id)
        .ok_or_else(|| DomainError::not_found("grant", id))
}

/// Native `DELETE /v1/users/{id}/grants/{grant_id}` and the group's.
pub fn delete_grant(
    d: &mut Draft<'_>,
    holder: impl Into<GrantHolder>,
    grant: GrantId,
) -> Result<(), DomainError> {
    let g = addressed_grant(d, holder.into(), grant)?;
    remove_grant(d, &g)
}

/// Native `PATCH /v1/users/{id}/grants/{grant_id}` and the group's: sets
/// or clears (`None`) the expiry, under the escalation and self guards.
pub fn update_grant(
    d: &mut Draft<'_>,
    holder: impl Into<GrantHolder>,
    grant: GrantId,
    expires_at: Option<OffsetDateTime>,
    pre: Precondition,
) -> Result<Grant, DomainError> {
    let before = addressed_grant(d, holder.into(), grant)?;
    if before.is_expired(d.now()) {
        // Expired is gone (the sweeper removes it within a second): a new
        // expiry must not bring it back; grant it anew instead.
        return Err(DomainError::not_found("grant", grant));
    }
    rules::guard_grant_change(
        d.model(),
        d.actor(),
        before.holder,
        &before.target,
        &before.scope,
    )?;
    pre.check(before.revision)?;
    let expires_at = validate_expiry(d, expires_at, "expires_at")?;
    if expires_at == before.expires_at {
        return Ok(before);
    }
    let after = Grant {
        expires_at,
        revision: d.revision(),
        ..before.clone()
    };
    record_grant(d, "grant.update", Some(&before), Some(&after));
    Ok(after)
}

/// Grants of a holder (a user or a group) that the actor may see.
pub fn list_grants(
    d: &Draft<'_>,
    holder: impl Into<GrantHolder>,
) -> Result<Vec<Grant>, DomainError> {
    let holder = holder.into();
    let org = holder_org(d, holder)?;
    let m = d.model();
    let visible: Vec<_> = m
        .grants_of(holder)
        .filter(|g| rules::may_see_grant(m, d.actor(), g))
        .collect();
    if visible.is_empty() && d.actor_id().is_some_and(|a| holder != GrantHolder::User(a)) {
        // The actor must at least be able to read grants somewhere in the organization.
        let any = d.actor().is_some_and(|a| {
            a.holds(m, perms::grants_read(), &Scope::Organization(org))
                || a.permits(perms::grants_read())
                    && m.holder(a.user).is_some_and(|h| {
                        h.grants(a.now()).any(|g| {
                            g.scope() != Scope::Global
                                && m.grant_gives(&g.grant(), perms::grants_read())
                        })
                    })
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
    let target = resolve_subject(
        d,
        holder.organization_id,
        &GrantSubject::Role(role.clone()),
        field,
    )?;
    let scope = Scope::Account(account);
    validate_scope(d, holder.organization_id, &scope)?;
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
    let target = resolve_subject(
        d,
        holder.organization_id,
        &GrantSubject::Role(role.clone()),
        field,
    )?;
    for s in scopes {
        validate_scope(d, holder.organization_id, s)?;
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
            holder.organization_id,
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
