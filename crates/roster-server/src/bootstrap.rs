//! First start: an empty database gets one organization, its operations
//! account, an owner holding `owner` at `global` scope, and an API key whose
//! secret is returned exactly once.

use crate::auth::new_secret;
use crate::error::ApiError;
use crate::state::AppState;
use roster_domain::ops;
use roster_domain::{Context, DisplayName, Email};
use serde::Serialize;
use time::OffsetDateTime;

/// What `roster init --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Bootstrap {
    pub organization_id: String,
    pub account_id: String,
    pub user_id: String,
    pub api_key_id: String,
    pub api_key: String,
}

/// Whether the database has no organization yet.
pub fn is_empty(state: &AppState) -> bool {
    state.engine.snapshot().organization_count() == 0
}

/// Bootstraps (as the system) and returns the owner's credentials.
pub async fn bootstrap(state: &AppState, org: &str, email: &str) -> Result<Bootstrap, ApiError> {
    let org = DisplayName::parse_field("org", org)?;
    let email = Email::parse_field("admin_email", email)?;
    let secret = new_secret();
    let token = secret.token.clone();
    let ctx = Context::system(OffsetDateTime::now_utc());
    let (b, _rev) = state
        .writer
        .write(ctx, move |d| {
            ops::bootstrap(
                d,
                org.clone(),
                email.clone(),
                secret.key_id.clone(),
                secret.token.clone(),
            )
        })
        .await?;
    Ok(Bootstrap {
        organization_id: b.organization_id.to_string(),
        account_id: b.account_id.to_string(),
        user_id: b.user_id.to_string(),
        api_key_id: b.api_key.key_id.clone(),
        api_key: token,
    })
}
