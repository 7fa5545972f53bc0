//! Lexful's answers: how a user's grants in one organization read in
//! Lexful's terms (one role, the scopes it is held at), the user as
//! `CreateUserResponse`, and errors as Lexful's `ErrorResponse`.

use super::wire::{ErrorResponse, UserOut};
use super::ROLES;
use crate::error::ApiError;
use crate::request::RequestInfo;
use crate::surface::fields::ts;
use axum::response::{IntoResponse, Response};
use roster_domain::{
    AccountId, GrantTarget, Model, OrganizationId, RoleId, RoleKey, Scope, User, UserId,
};
use std::collections::BTreeSet;

/// The role reported for a user who holds no role in the organization (with
/// empty scope lists it grants nothing).
const NO_ROLE: &str = "organization_viewer";

/// The Lexful role a Roster role reads as: itself when it is one of the six,
/// else the most privileged of the six whose permissions it contains.
fn lexful_role(model: &Model, key: &RoleKey) -> Option<&'static str> {
    if key.organization_id.is_none() {
        if let Some(r) = ROLES.iter().find(|r| **r == key.id.as_str()) {
            return Some(r);
        }
    }
    let perms = &model.role(key)?.permissions;
    ROLES.iter().copied().find(|r| {
        RoleId::parse(r)
            .ok()
            .and_then(|id| model.resolve_role(None, &id))
            .is_some_and(|lr| lr.permissions.is_subset(perms))
    })
}

/// How a user's grants in one organization read in Lexful's terms: one role
/// (the most privileged one it holds there) and the scopes it holds it at.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The Lexful name and the Roster role behind it.
    pub role: Option<(&'static str, RoleId)>,
    pub scopes: BTreeSet<Scope>,
}

pub fn view(model: &Model, user: UserId, org: OrganizationId) -> View {
    let rank = |name: &str| ROLES.iter().position(|r| *r == name).unwrap_or(ROLES.len());
    let held: Vec<(&'static str, RoleKey, Scope)> = model
        .grants_of(user)
        .filter(|g| {
            g.scope == Scope::Global || g.scope.organization(|a| model.account_org(a)) == Some(org)
        })
        .filter_map(|g| match g.target {
            GrantTarget::Role(k) => lexful_role(model, &k).map(|n| (n, k, g.scope)),
            GrantTarget::Permission(_) => None,
        })
        .collect();
    let Some(best) = held.iter().map(|(n, _, _)| *n).min_by_key(|n| rank(n)) else {
        return View::default();
    };
    let role = held
        .iter()
        .filter(|(n, _, _)| *n == best)
        .map(|(_, k, _)| k.id.clone())
        .min();
    View {
        role: role.map(|r| (best, r)),
        scopes: held
            .iter()
            .filter(|(n, _, _)| *n == best)
            .map(|(_, _, s)| *s)
            .collect(),
    }
}

/// Renders the response from the model after the write.
pub fn render(
    model: &Model,
    u: &User,
    account: AccountId,
    org: OrganizationId,
    requested: Option<&RoleId>,
) -> UserOut {
    let v = view(model, u.id, org);
    let role = match (&v.role, requested) {
        (Some((name, _)), _) => *name,
        (None, Some(r)) => ROLES
            .iter()
            .copied()
            .find(|x| *x == r.as_str())
            .unwrap_or(NO_ROLE),
        (None, None) => NO_ROLE,
    };
    let mut account_scopes = Vec::new();
    let mut organization_scopes = Vec::new();
    for s in &v.scopes {
        match s {
            Scope::Global => organization_scopes.insert(0, "*".to_owned()),
            Scope::Organization(o) => organization_scopes.push(o.to_string()),
            Scope::Accounts(_) => account_scopes.insert(0, "*".to_owned()),
            Scope::Account(a) => account_scopes.push(a.to_string()),
        }
    }
    UserOut {
        id: u.id.to_string(),
        account_id: account.to_string(),
        email: u.email.to_string(),
        first_name: u.first_name.as_ref().map(ToString::to_string),
        last_name: u.last_name.as_ref().map(ToString::to_string),
        role,
        external_ids: u.external_ids.clone(),
        account_scopes,
        organization_scopes,
        created_at: ts(u.created_at),
        updated_at: ts(u.updated_at),
        created_by: u.created_by.map(|x| x.to_string()),
        updated_by: u.updated_by.map(|x| x.to_string()),
        deleted_at: u.deleted_at.map(ts),
    }
}

/// An error as Lexful's `ErrorResponse`.
pub fn error(e: &ApiError, info: &RequestInfo) -> Response {
    let status = e.status();
    let message = match e {
        ApiError::Internal(_) => e.public_message(),
        other => other.to_string(),
    };
    let developer_message = match (e, e.field()) {
        (ApiError::Internal(_), _) => {
            format!("see error_id `{}` in the server log", info.request_id)
        }
        (_, Some(f)) => format!("{} (field `{f}`, {})", e.public_message(), info.path),
        (_, None) => format!("{} ({})", e.public_message(), info.path),
    };
    let body = ErrorResponse {
        status: status.as_u16(),
        message,
        error_id: info.request_id.clone(),
        error_code: e.code(),
        developer_message,
    };
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_builtin_and_ordered() {
        let m = Model::new();
        for r in ROLES {
            let id = RoleId::parse(r).unwrap();
            assert!(m.resolve_role(None, &id).is_some(), "{r}");
        }
        let key = |id: &str| RoleKey {
            organization_id: None,
            id: RoleId::parse(id).unwrap(),
        };
        assert_eq!(lexful_role(&m, &key("owner")), Some("system_admin"));
        assert_eq!(lexful_role(&m, &key("administrator")), Some("admin"));
        assert_eq!(lexful_role(&m, &key("member")), Some("viewer"));
        assert_eq!(lexful_role(&m, &key("read-only")), Some("viewer"));
        assert_eq!(lexful_role(&m, &key("support")), Some("support"));
    }
}
