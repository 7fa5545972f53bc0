//! Yuno's answers: the user's account permissions, and errors in Yuno's
//! envelope.

use super::wire::{ErrorBody, PermissionView};
use crate::error::ApiError;
use axum::response::{IntoResponse, Response};
use roster_domain::ops;
use roster_domain::{DomainError, Draft, GrantTarget, Scope, User};

/// The user's account-scope role grants in its organization that the actor
/// may see, by account id then role id.
pub fn permissions(d: &Draft<'_>, holder: &User) -> Vec<PermissionView> {
    let m = d.model();
    // `list_grants` answers 403 only when the actor can see none of them:
    // the same as an empty list here.
    let grants = ops::list_grants(d, holder.id).unwrap_or_default();
    let mut rows: Vec<_> = grants
        .iter()
        .filter_map(|g| {
            let Scope::Account(a) = g.scope else {
                return None;
            };
            let GrantTarget::Role(k) = &g.target else {
                return None;
            };
            let account = m
                .account(a)
                .filter(|acc| acc.organization_id == holder.organization_id)?;
            let role = m.role(k)?;
            Some((
                a,
                k.id.clone(),
                account.name.to_string(),
                role.name.to_string(),
            ))
        })
        .collect();
    rows.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
    rows.into_iter()
        .map(|(a, r, account_name, role_name)| PermissionView {
            account_id: a.to_string(),
            account_name,
            role_id: r.to_string(),
            role_name,
        })
        .collect()
}

/// Yuno's error code for the error.
fn code(e: &ApiError) -> &'static str {
    match e {
        ApiError::BadRequest { field, .. } if field == "body" => "INVALID_REQUEST",
        ApiError::BadRequest { message, .. } if message.starts_with("missing field") => {
            "MISSING_PARAMETERS"
        }
        ApiError::BadRequest { .. } | ApiError::Domain(DomainError::Invalid { .. }) => {
            "INVALID_PARAMETERS"
        }
        ApiError::Unauthorized(_) => "INVALID_CREDENTIALS",
        ApiError::Domain(DomainError::Forbidden { .. } | DomainError::SelfChange { .. }) => {
            "FORBIDDEN"
        }
        ApiError::Domain(DomainError::NotFound { .. }) | ApiError::NoRoute(_) => "NOT_FOUND",
        ApiError::Domain(
            DomainError::Conflict { .. }
            | DomainError::Lockout { .. }
            | DomainError::StaleRevision { .. },
        ) => "CONFLICT",
        ApiError::Domain(DomainError::PreconditionFailed { .. }) => "PRECONDITION_FAILED",
        ApiError::PayloadTooLarge(_) => "REQUEST_ENTITY_TOO_LARGE",
        ApiError::BodyTimeout(_) => "REQUEST_TIMEOUT",
        ApiError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
        ApiError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
        ApiError::TooManyRequests { .. } => "TOO_MANY_REQUESTS",
        ApiError::RevisionNotReached { .. } | ApiError::Unavailable(_) => "SERVICE_UNAVAILABLE",
        ApiError::Internal(_) => "INTERNAL_ERROR",
    }
}

/// The one message: `"<field> <message>"` for field errors, as Yuno does.
fn message(e: &ApiError) -> String {
    let msg = e.public_message();
    match e.field() {
        Some("body") | None => msg,
        Some(f) if msg.starts_with("missing field") => format!("{f} is required"),
        Some(f) if msg.starts_with("unknown field") => format!("{f} is not a known field"),
        Some(f) if msg.starts_with("duplicate key") => format!("{f} is given more than once"),
        Some(f) => format!("{f} {msg}"),
    }
}

/// An error in Yuno's envelope.
pub fn error(e: &ApiError) -> Response {
    let body = ErrorBody {
        code: code(e),
        messages: vec![message(e)],
    };
    (e.status(), axum::Json(body)).into_response()
}
