//! Read-side use cases of the authorization questions: who may ask a check,
//! a lookup or a user's effective permissions, and about whom (SPEC §2.2,
//! §2.10). The engine answers; these decide what may be asked and what
//! the answer may reveal.
//!
//! A user whose home organization the caller cannot reach is, to that
//! caller, indistinguishable from one that does not exist: a check about it
//! is answered as about an unknown user (never `no_grant` or
//! `user_inactive`), a lookup about it is `404`, and lookups of users leave
//! it out. Only a `global` grant reaches every organization.

use crate::actor::Actor;
use crate::catalogue::perms;
use crate::error::DomainError;
use crate::ids::{AccountId, OrganizationId, PermissionId, UserId};
use crate::model::Model;
use crate::scope::{On, Scope};

/// A caller's standing for authorization questions, worked out once per
/// request (a batch asks a thousand questions with one `Asker`).
#[derive(Debug)]
pub struct Asker<'m> {
    model: &'m Model,
    actor: &'m Actor,
    /// Reaches every organization (holds a `global` grant).
    everywhere: bool,
    /// The organizations it reaches otherwise: its home and those its
    /// grants lie in. Small: one per organization the caller works in.
    reach: Vec<OrganizationId>,
}

/// A check the caller may ask, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    /// The user asked about.
    pub user: UserId,
    /// The user is out of the caller's reach: answer as for an unknown user.
    pub hidden: bool,
    /// The permission.
    pub permission: PermissionId,
    /// The target.
    pub on: On,
}

impl<'m> Asker<'m> {
    /// The standing of `actor` (an authenticated, active user) in `model`.
    pub fn new(model: &'m Model, actor: &'m Actor) -> Self {
        let mut everywhere = false;
        let mut reach = Vec::new();
        if let Some(h) = model.holder(actor.user).filter(|h| h.is_effective()) {
            reach.extend(h.home());
            for g in h.grants(actor.now()) {
                match g.scope() {
                    Scope::Global => everywhere = true,
                    s => reach.extend(s.organization(|a| model.account_org(a))),
                }
            }
        }
        reach.sort_unstable();
        reach.dedup();
        Self {
            model,
            actor,
            everywhere,
            reach,
        }
    }

    /// The model the questions are asked of.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// Whether the caller reaches organization `org` (SPEC §2.2).
    #[inline]
    pub fn reaches(&self, org: OrganizationId) -> bool {
        self.everywhere || self.reach.contains(&org)
    }

    /// Whether the caller may know of `user`: itself, or a user whose home
    /// organization it reaches. An unknown user is not seen either.
    #[inline]
    pub fn sees_user(&self, user: UserId) -> bool {
        user == self.actor.user
            || self
                .model
                .holder(user)
                .and_then(|h| h.home())
                .is_some_and(|o| self.reaches(o))
    }

    /// Resolves a target: an unknown account or organization and one out
    /// of reach are the same `404`, naming what was asked for.
    pub fn target(&self, on: On) -> Result<(OrganizationId, Scope), DomainError> {
        let (org, scope) = match on {
            On::Account(a) => (
                self.model
                    .account_org(a)
                    .ok_or_else(|| DomainError::not_found("account", a))?,
                Scope::Account(a),
            ),
            On::Organization(o) => {
                if self.model.organization(o).is_none() {
                    return Err(DomainError::not_found("organization", o));
                }
                (o, Scope::Organization(o))
            }
        };
        if !self.reaches(org) {
            return Err(match on {
                On::Account(a) => DomainError::not_found("account", a),
                On::Organization(o) => DomainError::not_found("organization", o),
            });
        }
        Ok((org, scope))
    }

    /// Whether the caller may ask about `user` on `scope`: about itself,
    /// or holding `authz:check` over the scope.
    #[inline]
    pub fn may_ask(&self, user: UserId, scope: &Scope) -> bool {
        user == self.actor.user || self.actor.holds(self.model, perms::authz_check(), scope)
    }

    /// Resolves a permission as seen from organization `org`: a built-in or
    /// one of `org`'s own, by id or code. Another organization's custom
    /// permission is unknown here (tenant isolation).
    pub fn permission(&self, raw: &str, org: OrganizationId) -> Result<PermissionId, DomainError> {
        let m = self.model;
        match raw.parse::<PermissionId>() {
            Ok(id)
                if m.permission(id)
                    .is_some_and(|q| q.organization_id.is_none_or(|o| o == org)) =>
            {
                Ok(id)
            }
            _ => m.permission_by_code(Some(org), raw).ok_or_else(|| {
                DomainError::invalid(
                    "permission",
                    format!("unknown permission `{}`", crate::truncate(raw)),
                )
            }),
        }
    }

    /// `POST /v1/check`: may the caller ask whether `user` may do
    /// `permission` on `on`? `404` for a target out of reach, `403` without
    /// `authz:check` over it (unless asking about itself), `400` for an
    /// unknown permission. A user out of reach comes back `hidden`.
    pub fn check(&self, user: UserId, permission: &str, on: On) -> Result<Question, DomainError> {
        let (org, scope) = self.target(on)?;
        if !self.may_ask(user, &scope) {
            return Err(DomainError::forbidden(
                "requires `authz:check` over the target, or asking about yourself",
            ));
        }
        let permission = self.permission(permission, org)?;
        Ok(Question {
            user,
            hidden: !self.sees_user(user),
            permission,
            on,
        })
    }

    /// `POST /v1/lookup/accounts`: the user (`404` when out of reach or
    /// unknown) and the permission, resolved in the user's home
    /// organization. Keep only the accounts [`Asker::may_ask`] admits.
    pub fn lookup_accounts(
        &self,
        user: UserId,
        permission: &str,
    ) -> Result<(UserId, PermissionId), DomainError> {
        let home = self.visible_home(user)?;
        Ok((user, self.permission(permission, home)?))
    }

    /// `POST /v1/lookup/users`: requires `authz:check` over the target.
    /// Keep only the users [`Asker::sees_user`] admits.
    pub fn lookup_users(&self, permission: &str, on: On) -> Result<PermissionId, DomainError> {
        let (org, scope) = self.target(on)?;
        if !self.actor.holds(self.model, perms::authz_check(), &scope) {
            return Err(DomainError::forbidden(
                "requires `authz:check` over the target",
            ));
        }
        self.permission(permission, org)
    }

    /// `GET /v1/users/{id}/effective-permissions`: the user must be one the
    /// caller sees (`404` otherwise, as for a deleted one), the target in
    /// reach (`404`), and the caller the user or holding `authz:check` over
    /// the target (`403`).
    pub fn effective_permissions(&self, user: UserId, on: On) -> Result<On, DomainError> {
        self.visible_home(user)?;
        if self.model.user(user).is_none_or(|u| u.deleted_at.is_some()) {
            return Err(DomainError::not_found("user", user));
        }
        let (_, scope) = self.target(on)?;
        if !self.may_ask(user, &scope) {
            return Err(DomainError::forbidden(
                "requires `authz:check` over the target, or asking about yourself",
            ));
        }
        Ok(on)
    }

    /// `POST /v1/what-if` and `?dry_run=true`: previewing writes answers
    /// checks and reports other users' access, so the caller must hold
    /// `authz:check` over its home organization (`403` otherwise), on top
    /// of what each previewed request needs.
    pub fn what_if(&self) -> Result<(), DomainError> {
        let home = self.model.user(self.actor.user).map(|u| u.organization_id);
        match home {
            Some(org)
                if self.actor.holds(
                    self.model,
                    perms::authz_check(),
                    &Scope::Organization(org),
                ) =>
            {
                Ok(())
            }
            _ => Err(DomainError::forbidden(
                "a what-if requires `authz:check` over your organization",
            )),
        }
    }

    /// Whether the caller may see `account` in a lookup of `user`'s
    /// accounts (see [`Asker::lookup_accounts`]).
    #[inline]
    pub fn may_ask_on_account(&self, user: UserId, account: AccountId) -> bool {
        self.may_ask(user, &Scope::Account(account))
    }

    /// The home organization of a user the caller sees; `404` otherwise.
    fn visible_home(&self, user: UserId) -> Result<OrganizationId, DomainError> {
        self.model
            .holder(user)
            .and_then(|h| h.home())
            .filter(|_| self.sees_user(user))
            .ok_or_else(|| DomainError::not_found("user", user))
    }
}
