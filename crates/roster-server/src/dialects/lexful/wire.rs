//! Lexful's request and response bodies and its error body.

use crate::surface::fields::{double_option, present};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `patch_v1_users__id__request_application_json`. Unknown fields are
/// rejected (SPEC §2.6; the document declares no leniency).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserIn {
    #[serde(default, deserialize_with = "present")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub account_scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub organization_scopes: Option<Vec<String>>,
}

/// `CreateUserResponse_application_json`.
#[derive(Debug, Clone, Serialize)]
pub struct UserOut {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: &'static str,
    pub external_ids: BTreeMap<String, String>,
    pub account_scopes: Vec<String>,
    pub organization_scopes: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    pub deleted_at: Option<String>,
}

/// Lexful's `ErrorResponse`.
#[derive(Debug, Serialize)]
pub struct ErrorResponse {
    pub status: u16,
    pub message: String,
    pub error_id: String,
    pub error_code: &'static str,
    pub developer_message: String,
}
