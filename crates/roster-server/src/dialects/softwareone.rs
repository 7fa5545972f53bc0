//! The SoftwareOne dialect: `PUT /public/v1/accounts/accounts/{accountId}/users/{userId}`
//! below `/compat/softwareone`, a delta update of an *account user* (the
//! user's profile plus its membership in the account), answered with the
//! full `AccountUser` of the seed's schema and errors as RFC 9457
//! ProblemDetails with an `errors` map. A translator only: the write is one
//! domain call, `ops::update_account_user`, which decides who may do what.
//!
//! Mapping (see `docs/dialects/softwareone.md`):
//! - `email`, `firstName`, `lastName`, `phone`, `settings` → the user's profile;
//!   `phone` and `settings` merge key by key (`null` clears a nullable key,
//!   `null` for the whole object clears it).
//! - `status` (`Active`, `Invited`, `Disabled`) and `groups` → the membership.
//! - `revision` → optimistic concurrency on the account user, whose revision
//!   is the larger of the user's and the membership's (stale → 409).
//! - `id`, `audit`, `$meta`, `name`, `icon`, `user`, `account`, `invitation`,
//!   `modules`, `buyers` are read-only: type-checked, then ignored.

use crate::auth::{authenticate, scheme_token, Caller};
use crate::error::ApiError;
use crate::extract::json_object;
use crate::request::RequestInfo;
use crate::routes::{ctx, views::ts, REVISION_HEADER};
use crate::state::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use roster_domain::ops::{self, MembershipPatch, UserPatch};
use roster_domain::{
    AccountId, AccountStatus, AccountType, AuditEvent, DomainError, Email, Membership,
    MembershipStatus, Model, NumberFormat, PersonName, Phone, Settings, User, UserId,
};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The endpoint, below the dialect's base URL.
pub const PATH: &str = "/public/v1/accounts/accounts/{accountId}/users/{userId}";

/// Routes below `/compat/softwareone`. Unknown paths and methods are answered
/// as ProblemDetails too.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(PATH, put(update_account_user).fallback(method_not_allowed))
        .fallback(no_route)
}

// ----- wire types -------------------------------------------------------------

/// Deserializes a present, non-null value (absent stays `None` through
/// `#[serde(default)]`; `null` is a type error naming the field).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Deserializes a nullable value so that absent (`None`) and `null`
/// (`Some(None)`) differ.
fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `AccountUser` as a request: a delta. Writable fields are typed strictly
/// (non-nullable ones reject `null`); read-only ones are type-checked against
/// the seed's schema and ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AccountUserIn {
    #[serde(default, deserialize_with = "present")]
    revision: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    email: Option<String>,
    #[serde(default, deserialize_with = "present")]
    first_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    last_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    phone: Option<Option<PhoneIn>>,
    #[serde(default, deserialize_with = "nullable")]
    settings: Option<Option<SettingsIn>>,
    #[serde(default, deserialize_with = "present")]
    status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    groups: Option<Vec<UserGroupRef>>,
    // Read-only.
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    audit: Option<AccountUserAudit>,
    #[serde(default, rename = "$meta")]
    #[allow(dead_code)]
    meta: Option<PlatformMetadata>,
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    icon: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    user: Option<IdentityRef>,
    #[serde(default)]
    #[allow(dead_code)]
    buyers: Option<Vec<IdentityRef>>,
    #[serde(default)]
    #[allow(dead_code)]
    modules: Option<Vec<ModuleRef>>,
    #[serde(default)]
    #[allow(dead_code)]
    account: Option<AccountRef>,
    #[serde(default)]
    #[allow(dead_code)]
    invitation: Option<InvitationQueryModel>,
}

/// `PhoneNumber` in a request: each key may be absent, a string, or `null`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneIn {
    #[serde(default, deserialize_with = "nullable")]
    prefix: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    number: Option<Option<String>>,
}

/// `UserSettings` in a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SettingsIn {
    #[serde(default, deserialize_with = "present")]
    culture_code: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    date_format: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    language_code: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    number_format: Option<Option<NumberFormatIn>>,
    #[serde(default, deserialize_with = "nullable")]
    time_format: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    time_zone: Option<Option<String>>,
}

/// `NumberFormat` in a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NumberFormatIn {
    #[serde(default, deserialize_with = "present")]
    decimal_separator: Option<String>,
    #[serde(default, deserialize_with = "present")]
    group_separator: Option<String>,
}

/// The full `AccountUser` of a response. Every nested type forbids extra
/// properties, as the seed's schema does.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountUser {
    id: String,
    audit: AccountUserAudit,
    name: String,
    revision: i64,
    user: IdentityRef,
    email: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<PhoneOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<SettingsOut>,
    groups: Vec<UserGroupRef>,
    buyers: Vec<IdentityRef>,
    modules: Vec<ModuleRef>,
    account: AccountRef,
    invitation: InvitationQueryModel,
}

/// `AccountUserAudit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountUserAudit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<PlatformObjectEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated: Option<PlatformObjectEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    invited: Option<PlatformObjectEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    joined: Option<PlatformObjectEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access: Option<DateEvent>,
}

/// `PlatformObjectEvent`: when, and by whom when known.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformObjectEvent {
    #[serde(default)]
    at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by: Option<IdentityRef>,
}

/// `DateEvent`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DateEvent {
    #[serde(default)]
    at: Option<String>,
}

/// `PlatformMetadata` (accepted in requests, never sent).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformMetadata {
    #[serde(default)]
    #[allow(dead_code)]
    omitted: Option<Vec<String>>,
}

/// `UserRef`, `PlatformIdentityRef` and `BuyerRef` (all `{id, name, icon, revision}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    icon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision: Option<i64>,
}

/// `UserGroupRef`. Roster's membership groups are names: a group is
/// identified by its `id` (else its `name`) and rendered with both set to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UserGroupRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    logo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    is_default: Option<bool>,
}

/// `ModuleRef` (accepted in requests; Roster has no modules, so responses
/// carry an empty list).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleRef {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    revision: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    filters: Option<Filters>,
    #[serde(default)]
    settings: Option<ModuleSettings>,
}

/// `Filters`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filters {
    #[serde(default, rename = "group.buyers")]
    group_buyers: Option<Vec<String>>,
}

/// `ModuleSettings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ModuleSettings {
    #[serde(default)]
    shared_account: Option<bool>,
    #[serde(default)]
    configurable: Option<bool>,
    #[serde(default)]
    default: Option<bool>,
    #[serde(default)]
    paid: Option<bool>,
    #[serde(default, rename = "type")]
    kind: Option<Vec<String>>,
    #[serde(default)]
    obsolete: Option<bool>,
    #[serde(default)]
    eligibility: Option<ModuleSettingsEligibility>,
}

/// `ModuleSettingsEligibility`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleSettingsEligibility {
    #[serde(default)]
    multi: Option<bool>,
    #[serde(default)]
    single: Option<bool>,
}

/// `AccountType`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum AccountTypeOut {
    Client,
    Vendor,
    Operations,
}

/// `AccountStatus` (`Enabled` is accepted in requests, never sent).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum AccountStatusOut {
    Active,
    Enabled,
    Disabled,
}

/// `AccountRef`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    icon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision: Option<i64>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<AccountTypeOut>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<AccountStatusOut>,
}

/// `InvitationQueryModel`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvitationQueryModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
}

/// `PhoneNumber` in a response.
#[derive(Debug, Clone, Serialize)]
struct PhoneOut {
    prefix: Option<String>,
    number: Option<String>,
}

/// `UserSettings` in a response (non-nullable keys are left out when unset).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SettingsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    culture_code: Option<String>,
    date_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language_code: Option<String>,
    number_format: Option<NumberFormatOut>,
    time_format: Option<String>,
    time_zone: Option<String>,
}

/// `NumberFormat` in a response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct NumberFormatOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    decimal_separator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_separator: Option<String>,
}

// ----- errors -----------------------------------------------------------------

/// An [`ApiError`] rendered as SoftwareOne's ProblemDetails.
#[derive(Debug)]
pub struct SoftwareOneError(pub ApiError);

impl<E: Into<ApiError>> From<E> for SoftwareOneError {
    fn from(e: E) -> Self {
        Self(e.into())
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

/// RFC 9457 problem document as SoftwareOne (ASP.NET) sends it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProblemDetails {
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    status: u16,
    detail: String,
    instance: String,
    /// Field → messages (empty when the problem is not about a field).
    errors: BTreeMap<String, Vec<String>>,
    /// The request id (also in `x-request-id`).
    trace_id: String,
}

impl IntoResponse for SoftwareOneError {
    fn into_response(self) -> Response {
        let e = self.0;
        let info = RequestInfo::current();
        e.log(&info);
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
        let detail = match &e {
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
            instance: info.path,
            errors,
            trace_id: info.request_id,
        };
        // The document declares its ProblemDetails as `application/json`;
        // an existing client of the vendor expects exactly that.
        let mut resp = (status, axum::Json(body)).into_response();
        e.add_headers(&mut resp, Some("Bearer"));
        resp
    }
}

async fn no_route(uri: axum::http::Uri) -> SoftwareOneError {
    SoftwareOneError(ApiError::NoRoute(roster_domain::truncate(uri.path())))
}

async fn method_not_allowed() -> Response {
    let mut resp = SoftwareOneError(ApiError::MethodNotAllowed).into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("PUT"));
    resp
}

// ----- request translation ----------------------------------------------------

/// The membership status names of the dialect.
fn parse_status(s: &str) -> Result<MembershipStatus, DomainError> {
    match s.to_ascii_lowercase().as_str() {
        "active" => Ok(MembershipStatus::Active),
        "invited" => Ok(MembershipStatus::Invited),
        "disabled" => Ok(MembershipStatus::Disabled),
        _ => Err(DomainError::invalid(
            "status",
            format!(
                "`{}` is not one of `Active`, `Invited`, `Disabled`",
                roster_domain::truncate(s)
            ),
        )),
    }
}

fn status_name(s: MembershipStatus) -> &'static str {
    match s {
        MembershipStatus::Active => "Active",
        MembershipStatus::Invited => "Invited",
        MembershipStatus::Disabled => "Disabled",
    }
}

/// A parsed, validated delta. Nested `phone`/`settings` deltas are merged
/// into the user's current values inside the write.
#[derive(Debug, Clone)]
struct Delta {
    revision: Option<u64>,
    email: Option<Email>,
    first_name: Option<PersonName>,
    last_name: Option<PersonName>,
    phone: Option<Option<PhoneIn>>,
    settings: Option<Option<SettingsIn>>,
    membership: MembershipPatch,
}

impl Delta {
    fn parse(b: AccountUserIn) -> Result<Self, DomainError> {
        let revision = b
            .revision
            .map(|r| {
                u64::try_from(r).map_err(|_| {
                    DomainError::invalid("revision", "must be a revision this API returned")
                })
            })
            .transpose()?;
        let groups = b
            .groups
            .map(|gs| {
                gs.into_iter()
                    .enumerate()
                    .map(|(i, g)| {
                        g.id.or(g.name).ok_or_else(|| {
                            DomainError::invalid(
                                format!("groups[{i}].id"),
                                "a group needs an `id` or a `name`",
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Self {
            revision,
            email: b
                .email
                .as_deref()
                .map(|e| Email::parse_field("email", e))
                .transpose()?,
            first_name: b
                .first_name
                .as_deref()
                .map(|n| PersonName::parse_field("firstName", n))
                .transpose()?,
            last_name: b
                .last_name
                .as_deref()
                .map(|n| PersonName::parse_field("lastName", n))
                .transpose()?,
            phone: b.phone,
            settings: b.settings,
            membership: MembershipPatch {
                status: b.status.as_deref().map(parse_status).transpose()?,
                groups,
            },
        })
    }

    /// The user patch, with `phone` and `settings` merged into `current`.
    fn user_patch(&self, current: &User) -> UserPatch {
        let phone = self.phone.as_ref().map(|p| {
            p.as_ref().map(|p| {
                let mut out = current.phone.clone().unwrap_or_default();
                if let Some(v) = &p.prefix {
                    out.prefix = v.clone();
                }
                if let Some(v) = &p.number {
                    out.number = v.clone();
                }
                out
            })
        });
        let settings = self.settings.as_ref().map(|s| {
            s.as_ref().map(|s| {
                let mut out = current.settings.clone().unwrap_or_default();
                if let Some(v) = &s.culture_code {
                    out.culture_code = Some(v.clone());
                }
                if let Some(v) = &s.language_code {
                    out.language_code = Some(v.clone());
                }
                if let Some(v) = &s.date_format {
                    out.date_format = v.clone();
                }
                if let Some(v) = &s.time_format {
                    out.time_format = v.clone();
                }
                if let Some(v) = &s.time_zone {
                    out.time_zone = v.clone();
                }
                if let Some(nf) = &s.number_format {
                    out.number_format = nf.as_ref().map(|nf| {
                        let mut n = out.number_format.clone().unwrap_or_default();
                        if let Some(v) = &nf.decimal_separator {
                            n.decimal_separator = Some(v.clone());
                        }
                        if let Some(v) = &nf.group_separator {
                            n.group_separator = Some(v.clone());
                        }
                        n
                    });
                }
                out
            })
        });
        UserPatch {
            email: self.email.clone(),
            first_name: self.first_name.clone().map(Some),
            last_name: self.last_name.clone().map(Some),
            phone,
            settings,
            external_ids: None,
            status: None,
        }
    }
}

/// The write: one domain call, the account user's delta update.
fn write(
    d: &mut roster_domain::Draft<'_>,
    account: AccountId,
    user: UserId,
    delta: &Delta,
) -> Result<ops::AccountUser, DomainError> {
    ops::update_account_user(
        d,
        account,
        user,
        delta.revision,
        |current| delta.user_patch(current),
        delta.membership.clone(),
    )
}

// ----- response ---------------------------------------------------------------

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
fn render(
    model: &Model,
    w: &ops::AccountUser,
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
        groups: m
            .groups
            .iter()
            .map(|g| UserGroupRef {
                id: Some(g.clone()),
                name: Some(g.clone()),
                revision: None,
                description: None,
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

// ----- handler ----------------------------------------------------------------

/// The caller of a SoftwareOne request (`Authorization: Bearer <secret>`).
fn caller(s: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = scheme_token(headers, "Bearer")
        .ok_or_else(|| ApiError::Unauthorized("missing `Authorization: Bearer <token>`".into()))?;
    authenticate(s, None, token)
}

/// SoftwareOne's ids are opaque strings: one that is not a Roster id names
/// nothing, so it is not found (rather than malformed).
fn path_ids(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(AccountId, UserId), ApiError> {
    let Ok(Path((account, user))) = path else {
        return Err(DomainError::not_found("account user", "?").into());
    };
    let account_id = account
        .parse::<AccountId>()
        .map_err(|_| DomainError::not_found("account", roster_domain::truncate(&account)))?;
    let user_id = user
        .parse::<UserId>()
        .map_err(|_| DomainError::not_found("user", roster_domain::truncate(&user)))?;
    Ok((account_id, user_id))
}

/// `PUT /public/v1/accounts/accounts/{accountId}/users/{userId}`.
async fn update_account_user(
    State(s): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Result<Response, SoftwareOneError> {
    let caller = caller(&s, req.headers())?;
    let (account, user) = path_ids(path)?;
    let delta = Delta::parse(json_object::<AccountUserIn>(&s, req).await?)?;
    let (w, rev) = s
        .writer
        .write(ctx(&caller), move |d| write(d, account, user, &delta))
        .await?;
    let membership_events = s
        .store
        .audit_for_target(&w.membership.id.to_string())
        .await?;
    let user_events = s.store.audit_for_target(&w.user.id.to_string()).await?;
    let model = s.engine.snapshot();
    let body = render(&model, &w, &membership_events, &user_events);
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert(REVISION_HEADER, HeaderValue::from(rev));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_json;

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

    #[test]
    fn read_only_fields_are_type_checked_and_ignored() {
        let ok = parse_json::<AccountUserIn>(br#"{"id":"x","audit":{"created":null},"$meta":{"omitted":["a"]},"account":{"type":"Client"},"firstName":"Ann"}"#);
        assert!(ok.is_ok());
        let unknown = parse_json::<AccountUserIn>(br#"{"nickname":"x"}"#);
        assert!(matches!(unknown, Err(ApiError::BadRequest { field, .. }) if field == "nickname"));
        let bad_enum = parse_json::<AccountUserIn>(br#"{"account":{"type":"Reseller"}}"#);
        assert!(
            matches!(bad_enum, Err(ApiError::BadRequest { field, .. }) if field == "account.type")
        );
        let null_email = parse_json::<AccountUserIn>(br#"{"email":null}"#);
        assert!(matches!(null_email, Err(ApiError::BadRequest { field, .. }) if field == "email"));
    }
}
