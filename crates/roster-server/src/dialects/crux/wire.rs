//! Crux's request and response bodies.

use serde::{Deserialize, Serialize};

/// Request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    pub permission_uuids: Vec<String>,
}

/// Response body (the document gives none; see `docs/dialects/crux.md`).
#[derive(Debug, Serialize)]
pub struct UserPermissions {
    /// The user.
    pub user_uuid: String,
    /// Every permission the user now holds directly at the organization,
    /// sorted.
    pub permission_uuids: Vec<String>,
}
