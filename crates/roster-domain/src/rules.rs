//! The rules of SPEC §2, written once. Every surface reaches them through
//! the operations in [`crate::ops`]; nothing else decides who may do what.
//!
//! `actor = None` is the system itself (bootstrap, demo data, CLI) and passes
//! every rule but the invariants checked by [`crate::Draft::finish`].

use crate::actor::Actor;
use crate::catalogue::perms;
use crate::entity::{Grant, GrantHolder, GrantTarget};
use crate::error::DomainError;
use crate::ids::*;
use crate::model::Model;
use crate::scope::Scope;

/// Whether `actor` can reach organization `org` at all: it is the actor's
/// home, the actor holds a grant in it, or a global grant (SPEC §2.2).
pub fn can_reach(model: &Model, actor: &Actor, org: OrganizationId) -> bool {
    let Some(h) = model.holder(actor.user).filter(|h| h.is_effective()) else {
        return false;
    };
    h.home() == Some(org)
        || h.grants(actor.now()).any(|g| match g.scope() {
            Scope::Global => true,
            s => s.organization(|a| model.account_org(a)) == Some(org),
        })
}

/// Tenant isolation: `NotFound` (never `Forbidden`) when `org` is out of reach.
pub fn reach(
    model: &Model,
    actor: Option<&Actor>,
    org: OrganizationId,
    not_found: (&'static str, String),
) -> Result<(), DomainError> {
    match actor {
        None => Ok(()),
        Some(a) if can_reach(model, a, org) => Ok(()),
        Some(_) => Err(DomainError::NotFound {
            kind: not_found.0,
            id: not_found.1,
        }),
    }
}

/// Requires `actor` to hold `permission` over the whole of `scope`. An
/// unreachable organization is `NotFound`; a reachable one without the
/// permission is `Forbidden`.
pub fn require(
    model: &Model,
    actor: Option<&Actor>,
    permission: PermissionId,
    scope: &Scope,
    not_found: (&'static str, String),
) -> Result<(), DomainError> {
    let Some(a) = actor else { return Ok(()) };
    if let Some(org) = scope.organization(|acc| model.account_org(acc)) {
        reach(model, Some(a), org, not_found)?;
    }
    if a.holds(model, permission, scope) {
        Ok(())
    } else {
        Err(DomainError::forbidden(format!(
            "requires `{}` over {}",
            code_of(model, permission),
            scope
        )))
    }
}

/// Whether `actor` may read within `scope` with `permission` (no error).
pub fn may(model: &Model, actor: Option<&Actor>, permission: PermissionId, scope: &Scope) -> bool {
    actor.is_none_or(|a| a.holds(model, permission, scope))
}

/// The code of a permission, for messages.
pub fn code_of(model: &Model, p: PermissionId) -> String {
    model
        .permission(p)
        .map(|p| p.code.to_string())
        .unwrap_or_else(|| p.to_string())
}

/// Escalation guard (SPEC §2.3): an actor may create, change or remove a
/// grant of `target` at `scope` only if it holds `grants:write` over the
/// scope and every permission the target hands out over the scope. Also
/// the self guard (SPEC §2.4): nobody changes their own grants, nor those
/// of a group they are a member of (which are theirs too).
pub fn guard_grant_change(
    model: &Model,
    actor: Option<&Actor>,
    holder: GrantHolder,
    target: &GrantTarget,
    scope: &Scope,
) -> Result<(), DomainError> {
    let Some(a) = actor else { return Ok(()) };
    let own = match holder {
        GrantHolder::User(u) => u == a.user,
        GrantHolder::Group(g) => model.group_member(g, a.user).is_some(),
    };
    if own {
        return Err(DomainError::SelfChange {
            message: match holder {
                GrantHolder::User(_) => "you cannot change your own roles, permissions or scopes",
                GrantHolder::Group(_) => {
                    "you cannot change the grants of a group you are a member of"
                }
            }
            .into(),
        });
    }
    require(
        model,
        actor,
        perms::grants_write(),
        scope,
        holder.describe(),
    )?;
    guard_hand_out(model, a, target, scope)
}

/// The second half of the escalation guard: `actor` holds every
/// permission `target` hands out, over `scope`.
fn guard_hand_out(
    model: &Model,
    actor: &Actor,
    target: &GrantTarget,
    scope: &Scope,
) -> Result<(), DomainError> {
    let handed_out = match target {
        GrantTarget::Permission(p) => vec![*p],
        GrantTarget::Role(k) => model
            .role(k)
            .map(|r| r.permissions.iter().copied().collect())
            .unwrap_or_default(),
    };
    for p in handed_out {
        if !holds_to_hand_out(model, actor, p, scope) {
            return Err(DomainError::forbidden(format!(
                "escalation guard: you do not hold `{}` over {scope}",
                code_of(model, p)
            )));
        }
    }
    Ok(())
}

/// Escalation and self guards over a group membership (SPEC §2.3, §2.4):
/// adding `user` to `group`, changing its membership or removing it gives
/// or takes away every grant of the group, so `actor` must be able to make
/// or remove each of them ([`guard_grant_change`]'s rules, grant by grant),
/// and nobody changes their own memberships.
pub fn guard_membership_change(
    model: &Model,
    actor: Option<&Actor>,
    group: GroupId,
    user: UserId,
) -> Result<(), DomainError> {
    let Some(a) = actor else { return Ok(()) };
    if a.user == user {
        return Err(DomainError::SelfChange {
            message: "you cannot change your own group memberships".into(),
        });
    }
    for g in model.grants_of(group) {
        require(
            model,
            actor,
            perms::grants_write(),
            &g.scope,
            ("group", group.to_string()),
        )?;
        guard_hand_out(model, a, &g.target, &g.scope)?;
    }
    Ok(())
}

/// Whether `actor` holds `p` over `scope` for the escalation guard: it holds
/// `p` there, or `p` is a custom permission of an organization and the actor
/// holds `organizations:write` (the `owner` level, which has "every
/// permission") over a scope of that organization or `global`. Without the
/// second clause no custom permission could ever be handed out through the
/// API: built-in roles list only built-in permissions.
pub fn holds_to_hand_out(model: &Model, actor: &Actor, p: PermissionId, scope: &Scope) -> bool {
    if actor.holds(model, p, scope) {
        return true;
    }
    let Some(owner_org) = model.permission(p).and_then(|q| q.organization_id) else {
        return false;
    };
    let in_org = match scope {
        Scope::Global => true,
        s => s.organization(|a| model.account_org(a)) == Some(owner_org),
    };
    in_org && actor.holds(model, perms::organizations_write(), scope)
}

/// Escalation guard over a whole user (SPEC §2.3): creating a credential
/// that acts as `user`, changing its status or the identity a token maps to
/// (email, external ids), or deleting it, gives or takes away everything
/// `user` holds. So `actor` must hold, over each grant's scope, every
/// permission of every grant `user` holds: a `global` grant can only be
/// matched by a global holder. Otherwise an administrator could act as, or
/// switch off, a more powerful user of its organization (its operator).
/// `doing` completes "you cannot …" in the refusal.
pub fn guard_power_over(
    model: &Model,
    actor: &Actor,
    user: UserId,
    doing: &str,
) -> Result<(), DomainError> {
    let Some(h) = model.holder(user) else {
        return Ok(());
    };
    for g in h.grants(actor.now()) {
        let g = g.grant();
        for p in model.grant_permissions(&g) {
            if !holds_to_hand_out(model, actor, p, &g.scope) {
                return Err(DomainError::forbidden(format!(
                    "escalation guard: the user holds `{}` over {}, which you do not; you cannot {doing}",
                    code_of(model, p),
                    g.scope
                )));
            }
        }
    }
    Ok(())
}

/// Escalation guard over a credential's scopes (SPEC §2.3): nobody mints a
/// scope they do not hold. Each of `scopes` must be a permission the actor
/// holds somewhere (its credential's scopes included); an unscoped
/// credential (`None`) can only be minted by an unscoped actor, since it
/// carries all its user holds.
pub fn guard_scopes(
    model: &Model,
    actor: Option<&Actor>,
    scopes: Option<&[PermissionId]>,
) -> Result<(), DomainError> {
    let Some(a) = actor else { return Ok(()) };
    match scopes {
        None if a.scopes().is_some() => Err(DomainError::forbidden(
            "escalation guard: a scoped credential can only mint credentials scoped within its own scopes",
        )),
        None => Ok(()),
        Some(scopes) => {
            for p in scopes {
                if !a.holds_somewhere(model, *p) {
                    return Err(DomainError::forbidden(format!(
                        "escalation guard: you do not hold `{}`, so you cannot give it as a scope",
                        code_of(model, *p)
                    )));
                }
            }
            Ok(())
        }
    }
}

/// Whether `actor` may see grant `g` (holds `grants:read` over its scope, or
/// it is the actor's own).
pub fn may_see_grant(model: &Model, actor: Option<&Actor>, g: &Grant) -> bool {
    actor.is_none_or(|a| {
        g.holder == GrantHolder::User(a.user) || a.holds(model, perms::grants_read(), &g.scope)
    })
}
