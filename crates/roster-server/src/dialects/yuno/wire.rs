//! Yuno's request and response bodies.

use serde::{Deserialize, Serialize};

/// Request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    pub account_permissions: Vec<Entry>,
}

/// One entry of the request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub account_id: String,
    pub role_id: String,
}

/// One entry of the response.
#[derive(Debug, Serialize)]
pub struct PermissionView {
    pub account_id: String,
    pub account_name: String,
    pub role_id: String,
    pub role_name: String,
}

/// Response body.
#[derive(Debug, Serialize)]
pub struct PermissionsBody {
    pub permissions: Vec<PermissionView>,
}

/// Yuno's error body: exactly these two members.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    pub messages: Vec<String>,
}
