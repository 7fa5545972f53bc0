//! Crux's answers: the user's direct permissions, and errors as Django REST
//! framework renders them.

use crate::error::ApiError;
use axum::response::{IntoResponse, Response};
use roster_domain::ops;
use roster_domain::{Draft, GrantTarget, PermissionId, Scope, User};
use std::collections::BTreeMap;

/// The message of a body that is JSON but not an object, rendered as DRF's
/// `non_field_errors`.
pub const NOT_AN_OBJECT: &str = "must be a JSON object";

/// The permissions `holder` holds directly at its organization, as far as
/// the actor may see them.
pub fn direct_permissions(d: &Draft<'_>, holder: &User) -> Vec<String> {
    // `list_grants` answers 403 only when the actor can see none of them:
    // the same as an empty list here.
    let grants = ops::list_grants(d, holder.id).unwrap_or_default();
    let mut ids: Vec<PermissionId> = grants
        .iter()
        .filter(|g| g.scope == Scope::Organization(holder.organization_id))
        .filter_map(|g| match g.target {
            GrantTarget::Permission(p) => Some(p),
            GrantTarget::Role(_) => None,
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids.into_iter().map(|p| p.to_string()).collect()
}

/// The top-level field a (possibly nested) field path belongs to.
fn top_field(path: &str) -> &str {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    &path[..end]
}

/// The body: `{"detail": ...}`, or `{"<field>": [...]}` for field errors.
fn body(e: &ApiError) -> serde_json::Value {
    let detail = |s: String| serde_json::json!({ "detail": s });
    match e {
        ApiError::Unauthorized(m) if m.starts_with("missing") => {
            detail("Authentication credentials were not provided.".into())
        }
        ApiError::Unauthorized(_) => detail("Invalid token.".into()),
        ApiError::BadRequest { field, message } if field == "body" => {
            if message.starts_with(NOT_AN_OBJECT) {
                serde_json::json!({ "non_field_errors": ["Invalid data. Expected a dictionary."] })
            } else {
                detail(format!("JSON parse error - {message}"))
            }
        }
        ApiError::NoRoute(_) => detail("Not found.".into()),
        ApiError::UnsupportedMediaType => detail(
            "Unsupported media type in request; send `Content-Type: application/json`.".into(),
        ),
        _ => match e.field() {
            Some(path) => {
                let msg = e.public_message();
                let msg = if msg.starts_with("missing field") {
                    "This field is required.".to_owned()
                } else if msg.starts_with("unknown field") {
                    "This field is not allowed.".to_owned()
                } else if path == top_field(path) {
                    msg
                } else {
                    format!("`{path}`: {msg}")
                };
                let mut map = BTreeMap::new();
                map.insert(top_field(path).to_owned(), vec![msg]);
                serde_json::json!(map)
            }
            None => detail(e.public_message()),
        },
    }
}

/// An error as Django REST framework renders it.
pub fn error(e: &ApiError) -> Response {
    (e.status(), axum::Json(body(e))).into_response()
}
