//! SoftwareOne's answers: the full `AccountUser` (its `audit` filled from
//! the audit trail) and errors as ASP.NET's ProblemDetails with camelCase
//! field names.

use super::wire::*;
use crate::error::ApiError;
use crate::request::RequestInfo;
use crate::surface::fields::ts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_domain::{
    AccountStatus, AccountType, AuditEvent, DomainError, Membership, MembershipStatus, Model,
    NumberFormat, Phone, Settings, UserId,
};
use std::collections::BTreeMap;
use time::OffsetDateTime;

fn status_name(s: MembershipStatus) -> &'static str {
    match s {
        MembershipStatus::Active => "Active",
        MembershipStatus::Invited => "Invited",
        MembershipStatus::Disabled => "Disabled",
    }
}

/// SoftwareOne's field names are camelCase: `settings.culture_code` →
/// `settings.cultureCode`.
fn camel_field(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        match c {
            '_' => upper = true,
            '.' | '[' => {
                upper = false;
                out.push(c);
            }
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// The RFC 9110 section of a status, as ASP.NET's ProblemDetails `type`.
fn problem_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        401 => "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        403 => "https://tools.ietf.org/html/rfc9110#section-15.5.4",
        404 => "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        405 => "https://tools.ietf.org/html/rfc9110#section-15.5.6",
        408 => "https://tools.ietf.org/html/rfc9110#section-15.5.9",
        409 => "https://tools.ietf.org/html/rfc9110#section-15.5.10",
        412 => "https://tools.ietf.org/html/rfc9110#section-15.5.13",
        413 => "https://tools.ietf.org/html/rfc9110#section-15.5.14",
        415 => "https://tools.ietf.org/html/rfc9110#section-15.5.16",
        503 => "https://tools.ietf.org/html/rfc9110#section-15.6.4",
        _ => "https://tools.ietf.org/html/rfc9110#section-15.6.1",
    }
}

fn identity(model: &Model, id: Option<UserId>) -> Option<IdentityRef> {
    let id = id?;
    Some(match model.user(id) {
        Some(u) => IdentityRef {
            id: Some(u.id.to_string()),
            name: Some(u.display_name()),
            icon: None,
            revision: i64::try_from(u.revision).ok(),
        },
        None => IdentityRef {
            id: Some(id.to_string()),
            name: None,
            icon: None,
            revision: None,
        },
    })
}

fn event(model: &Model, at: OffsetDateTime, by: Option<UserId>) -> PlatformObjectEvent {
    PlatformObjectEvent {
        at: Some(ts(at)),
        by: identity(model, by),
    }
}

/// Whether an audit snapshot (a membership) has a `joined_at`.
fn has_joined(v: Option<&serde_json::Value>) -> bool {
    v.and_then(|v| v.get("joined_at"))
        .is_some_and(|j| !j.is_null())
}

/// `audit` from the audit trail of the membership and the user.
fn audit(
    model: &Model,
    m: &Membership,
    membership_events: &[AuditEvent],
    user_events: &[AuditEvent],
) -> AccountUserAudit {
    let create = membership_events
        .iter()
        .find(|e| e.action == "membership.create");
    let created_by = create.map_or(m.created_by, |e| e.actor_id);
    let created = Some(match create {
        Some(e) => event(model, e.at, e.actor_id),
        None => event(model, m.created_at, m.created_by),
    });
    let invited = m.invited_at.map(|at| event(model, at, created_by));
    let joined = m.joined_at.map(|at| {
        let by = membership_events
            .iter()
            .find(|e| has_joined(e.after.as_ref()) && !has_joined(e.before.as_ref()))
            .and_then(|e| e.actor_id);
        event(model, at, by)
    });
    let updated = membership_events
        .iter()
        .filter(|e| e.action == "membership.update")
        .chain(user_events.iter().filter(|e| e.action == "user.update"))
        .max_by_key(|e| e.seq)
        .map(|e| event(model, e.at, e.actor_id));
    let access = m.last_access_at.map(|at| DateEvent { at: Some(ts(at)) });
    AccountUserAudit {
        created,
        updated,
        invited,
        joined,
        access,
    }
}

/// Renders the full `AccountUser`.
pub fn render(
    model: &Model,
    w: &roster_domain::ops::AccountUser,
    membership_events: &[AuditEvent],
    user_events: &[AuditEvent],
) -> AccountUser {
    let (u, m, a) = (&*w.user, &*w.membership, &*w.account);
    let revision = i64::try_from(w.revision()).unwrap_or(i64::MAX);
    AccountUser {
        id: u.id.to_string(),
        audit: audit(model, m, membership_events, user_events),
        name: u.display_name(),
        revision,
        user: IdentityRef {
            id: Some(u.id.to_string()),
            name: Some(u.display_name()),
            icon: None,
            revision: i64::try_from(u.revision).ok(),
        },
        email: u.email.to_string(),
        status: status_name(m.status),
        phone: u.phone.as_ref().map(|p: &Phone| PhoneOut {
            prefix: p.prefix.clone(),
            number: p.number.clone(),
        }),
        first_name: u.first_name.as_ref().map(ToString::to_string),
        last_name: u.last_name.as_ref().map(ToString::to_string),
        settings: u.settings.as_ref().map(|s: &Settings| SettingsOut {
            culture_code: s.culture_code.clone(),
            date_format: s.date_format.clone(),
            language_code: s.language_code.clone(),
            number_format: s
                .number_format
                .as_ref()
                .map(|n: &NumberFormat| NumberFormatOut {
                    decimal_separator: n.decimal_separator.clone(),
                    group_separator: n.group_separator.clone(),
                }),
            time_format: s.time_format.clone(),
            time_zone: s.time_zone.clone(),
        }),
        groups: w
            .groups
            .iter()
            .map(|(g, _)| UserGroupRef {
                id: Some(g.id.to_string()),
                name: Some(g.name.to_string()),
                revision: i64::try_from(g.revision).ok(),
                description: (!g.description.is_empty()).then(|| g.description.clone()),
                logo: None,
                is_default: None,
            })
            .collect(),
        buyers: Vec::new(),
        modules: Vec::new(),
        account: AccountRef {
            id: Some(a.id.to_string()),
            name: Some(a.name.to_string()),
            icon: None,
            revision: i64::try_from(a.revision).ok(),
            kind: Some(match a.kind {
                AccountType::Client => AccountTypeOut::Client,
                AccountType::Vendor => AccountTypeOut::Vendor,
                AccountType::Operations => AccountTypeOut::Operations,
            }),
            status: Some(match a.status {
                AccountStatus::Active => AccountStatusOut::Active,
                AccountStatus::Disabled => AccountStatusOut::Disabled,
            }),
        },
        invitation: InvitationQueryModel {
            url: None,
            notes: None,
            status: Some(
                if m.joined_at.is_some() {
                    "Accepted"
                } else {
                    "Pending"
                }
                .to_owned(),
            ),
        },
    }
}

/// An error as SoftwareOne's ProblemDetails. The document declares it as
/// `application/json`; an existing client of the vendor expects exactly
/// that.
pub fn error(e: &ApiError, info: &RequestInfo) -> Response {
    let status = e.status();
    let mut errors = BTreeMap::new();
    if let Some(f) = e.field() {
        errors.insert(camel_field(f), vec![e.public_message()]);
    }
    let title = if status == StatusCode::BAD_REQUEST && !errors.is_empty() {
        "One or more validation errors occurred.".to_owned()
    } else {
        status.canonical_reason().unwrap_or("Error").to_owned()
    };
    let detail = match e {
        ApiError::Internal(_) => e.public_message(),
        ApiError::BadRequest { field, message }
        | ApiError::Domain(DomainError::Invalid { field, message }) => {
            format!("invalid `{}`: {message}", camel_field(field))
        }
        ApiError::Domain(DomainError::Conflict { field, message }) => {
            format!("conflict on `{}`: {message}", camel_field(field))
        }
        other => other.to_string(),
    };
    let body = ProblemDetails {
        kind: problem_type(status),
        title,
        status: status.as_u16(),
        detail,
        instance: info.path.clone(),
        errors,
        trace_id: info.request_id.clone(),
    };
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_fields() {
        assert_eq!(camel_field("settings.culture_code"), "settings.cultureCode");
        assert_eq!(
            camel_field("settings.number_format.decimal_separator"),
            "settings.numberFormat.decimalSeparator"
        );
        assert_eq!(camel_field("groups[3]"), "groups[3]");
        assert_eq!(camel_field("email"), "email");
    }
}
