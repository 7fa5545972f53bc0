//! Fynn's answers: the membership as `Account-AccountDetailsRole`, and
//! errors as API Platform's problem documents.

use super::wire::{AccountDetailsRole, Problem, UserDetails, Violation};
use crate::error::ApiError;
use crate::surface::fields::ts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_domain::{DomainError, Membership, MembershipStatus, PersonName, User, UserStatus};

/// Fynn's own text for the self guard.
const SELF_MESSAGE: &str = "You cannot change the role of your own account";

/// What Fynn renders for an absent name (its schema requires 2..255 characters).
pub const ABSENT_NAME: &str = "n/a";

/// A name as Fynn's schema wants it (2..255 characters): an absent name is
/// [`ABSENT_NAME`], a one-character name (an initial) gets a period.
pub fn fynn_name(name: Option<&PersonName>) -> String {
    match name.map(PersonName::as_str) {
        None => ABSENT_NAME.to_owned(),
        Some(s) if s.chars().count() < 2 => format!("{s}."),
        Some(s) => s.to_owned(),
    }
}

impl AccountDetailsRole {
    pub fn new(m: &Membership, u: &User, role: &str) -> Self {
        Self {
            id: m.id.to_string(),
            user: UserDetails {
                id: u.id.to_string(),
                first_name: fynn_name(u.first_name.as_ref()),
                last_name: fynn_name(u.last_name.as_ref()),
                email: u.email.to_string(),
            },
            role: role.to_owned(),
            created_at: ts(m.created_at),
            deactivated: m.status == MembershipStatus::Disabled || u.status == UserStatus::Disabled,
        }
    }
}

/// The status: the self guard is Fynn's `422`, the rest as everywhere.
fn status(e: &ApiError) -> StatusCode {
    match e {
        ApiError::Domain(DomainError::SelfChange { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
        e => e.status(),
    }
}

fn problem(e: &ApiError) -> Problem {
    let status = status(e);
    let violation = match e {
        ApiError::Domain(DomainError::SelfChange { .. }) => Some(Violation {
            property_path: "role".into(),
            message: SELF_MESSAGE.into(),
        }),
        e => e.field().filter(|f| *f != "body").map(|f| {
            let msg = e.public_message();
            let message = if msg.starts_with("missing field") {
                "This value should not be blank.".to_owned()
            } else if msg.starts_with("unknown field") {
                "This field was not expected.".to_owned()
            } else {
                msg
            };
            Violation {
                property_path: f.to_owned(),
                message,
            }
        }),
    };
    let detail = match &violation {
        Some(v) => format!("{}: {}", v.property_path, v.message),
        None => e.public_message(),
    };
    Problem {
        kind: format!("/errors/{}", status.as_u16()),
        title: "An error occurred",
        status: status.as_u16(),
        detail,
        violations: violation.map(|v| vec![v]),
    }
}

/// An error as API Platform renders it.
pub fn error(e: &ApiError) -> Response {
    let mut resp = (status(e), axum::Json(problem(e))).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}
