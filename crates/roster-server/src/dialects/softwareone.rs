//! The softwareone dialect (being written).

use crate::state::AppState;
use axum::Router;

/// Routes below the dialect's base URL.
pub fn router() -> Router<AppState> {
    Router::new()
}
