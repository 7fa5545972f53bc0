//! Fynn's request and response bodies, and its problem document.

use serde::{Deserialize, Serialize};

/// `Account.SetAccountRole`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAccountRole {
    pub role: String,
}

/// `User-AccountDetailsRole`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDetails {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

/// `Account-AccountDetailsRole`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountDetailsRole {
    pub id: String,
    pub user: UserDetails,
    pub role: String,
    pub created_at: String,
    pub deactivated: bool,
}

/// One constraint violation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    pub property_path: String,
    pub message: String,
}

/// A problem document with API Platform's `violations`.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violations: Option<Vec<Violation>>,
}
