//! The five vendor dialects, each mounted under its own base URL (SPEC §3.1).
//! A dialect is a translator only: it parses its vendor's request, calls the
//! same domain operations as the native API, and renders its vendor's
//! response and error shapes. No rule lives here.

pub mod crux;
pub mod fynn;
pub mod lexful;
pub mod softwareone;
pub mod yuno;

use crate::state::AppState;
use axum::Router;

/// All dialect routes, with their base URLs.
pub fn router() -> Router<AppState> {
    Router::new()
        .nest("/compat/yuno/v1", yuno::router())
        .nest("/compat/crux", crux::router())
        .nest("/compat/softwareone", softwareone::router())
        .nest("/compat/lexful", lexful::router())
        .nest("/compat/fynn", fynn::router())
}
