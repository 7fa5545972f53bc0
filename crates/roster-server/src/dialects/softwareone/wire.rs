//! SoftwareOne's wire types, exactly the seed's schema: `AccountUser` as a
//! request (a delta whose read-only members are type-checked, then
//! ignored) and as a response (every nested type forbids extra
//! properties), and ASP.NET's `ProblemDetails`.

use crate::surface::fields::{double_option, present};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `AccountUser` as a request: a delta. Writable fields are typed strictly
/// (non-nullable ones reject `null`); read-only ones are type-checked against
/// the seed's schema and ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccountUserIn {
    #[serde(default, deserialize_with = "present")]
    pub revision: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub phone: Option<Option<PhoneIn>>,
    #[serde(default, deserialize_with = "double_option")]
    pub settings: Option<Option<SettingsIn>>,
    #[serde(default, deserialize_with = "present")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub groups: Option<Vec<UserGroupRef>>,
    // Read-only.
    #[serde(default)]
    #[allow(dead_code)]
    pub id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub audit: Option<AccountUserAudit>,
    #[serde(default, rename = "$meta")]
    #[allow(dead_code)]
    pub meta: Option<PlatformMetadata>,
    #[serde(default)]
    #[allow(dead_code)]
    pub name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub icon: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub user: Option<IdentityRef>,
    #[serde(default)]
    #[allow(dead_code)]
    pub buyers: Option<Vec<IdentityRef>>,
    #[serde(default)]
    #[allow(dead_code)]
    pub modules: Option<Vec<ModuleRef>>,
    #[serde(default)]
    #[allow(dead_code)]
    pub account: Option<AccountRef>,
    #[serde(default)]
    #[allow(dead_code)]
    pub invitation: Option<InvitationQueryModel>,
}

/// `PhoneNumber` in a request: each key may be absent, a string, or `null`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneIn {
    #[serde(default, deserialize_with = "double_option")]
    pub prefix: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub number: Option<Option<String>>,
}

/// `UserSettings` in a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SettingsIn {
    #[serde(default, deserialize_with = "present")]
    pub culture_code: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub date_format: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub language_code: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub number_format: Option<Option<NumberFormatIn>>,
    #[serde(default, deserialize_with = "double_option")]
    pub time_format: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub time_zone: Option<Option<String>>,
}

/// `NumberFormat` in a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NumberFormatIn {
    #[serde(default, deserialize_with = "present")]
    pub decimal_separator: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub group_separator: Option<String>,
}

/// The full `AccountUser` of a response. Every nested type forbids extra
/// properties, as the seed's schema does.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountUser {
    pub id: String,
    pub audit: AccountUserAudit,
    pub name: String,
    pub revision: i64,
    pub user: IdentityRef,
    pub email: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsOut>,
    pub groups: Vec<UserGroupRef>,
    pub buyers: Vec<IdentityRef>,
    pub modules: Vec<ModuleRef>,
    pub account: AccountRef,
    pub invitation: InvitationQueryModel,
}

/// `AccountUserAudit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountUserAudit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<PlatformObjectEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<PlatformObjectEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited: Option<PlatformObjectEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined: Option<PlatformObjectEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<DateEvent>,
}

/// `PlatformObjectEvent`: when, and by whom when known.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformObjectEvent {
    #[serde(default)]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<IdentityRef>,
}

/// `DateEvent`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateEvent {
    #[serde(default)]
    pub at: Option<String>,
}

/// `PlatformMetadata` (accepted in requests, never sent).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformMetadata {
    #[serde(default)]
    #[allow(dead_code)]
    pub omitted: Option<Vec<String>>,
}

/// `UserRef`, `PlatformIdentityRef` and `BuyerRef` (all `{id, name, icon, revision}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
}

/// `UserGroupRef`: a Roster group of the account's organization. A request
/// names it by `id` (the other members are read-only); a response carries
/// its `id`, `name`, `revision` and `description` (when not empty).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserGroupRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
}

/// `ModuleRef` (accepted in requests; Roster has no modules, so responses
/// carry an empty list).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleRef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub revision: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub filters: Option<Filters>,
    #[serde(default)]
    pub settings: Option<ModuleSettings>,
}

/// `Filters`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    #[serde(default, rename = "group.buyers")]
    pub group_buyers: Option<Vec<String>>,
}

/// `ModuleSettings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModuleSettings {
    #[serde(default)]
    pub shared_account: Option<bool>,
    #[serde(default)]
    pub configurable: Option<bool>,
    #[serde(default)]
    pub default: Option<bool>,
    #[serde(default)]
    pub paid: Option<bool>,
    #[serde(default, rename = "type")]
    pub kind: Option<Vec<String>>,
    #[serde(default)]
    pub obsolete: Option<bool>,
    #[serde(default)]
    pub eligibility: Option<ModuleSettingsEligibility>,
}

/// `ModuleSettingsEligibility`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSettingsEligibility {
    #[serde(default)]
    pub multi: Option<bool>,
    #[serde(default)]
    pub single: Option<bool>,
}

/// `AccountType`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum AccountTypeOut {
    Client,
    Vendor,
    Operations,
}

/// `AccountStatus` (`Enabled` is accepted in requests, never sent).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum AccountStatusOut {
    Active,
    Enabled,
    Disabled,
}

/// `AccountRef`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<AccountTypeOut>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AccountStatusOut>,
}

/// `InvitationQueryModel`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationQueryModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `PhoneNumber` in a response.
#[derive(Debug, Clone, Serialize)]
pub struct PhoneOut {
    pub prefix: Option<String>,
    pub number: Option<String>,
}

/// `UserSettings` in a response (non-nullable keys are left out when unset).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub culture_code: Option<String>,
    pub date_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    pub number_format: Option<NumberFormatOut>,
    pub time_format: Option<String>,
    pub time_zone: Option<String>,
}

/// `NumberFormat` in a response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberFormatOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_separator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_separator: Option<String>,
}

/// RFC 9457 problem document as SoftwareOne (ASP.NET) sends it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemDetails {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub instance: String,
    /// Field → messages (empty when the problem is not about a field).
    pub errors: BTreeMap<String, Vec<String>>,
    /// The request id (also in `x-request-id`).
    pub trace_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use crate::surface::body::parse_json;

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
