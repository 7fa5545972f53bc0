//! The five vendor dialects, each mounted under its own base URL (SPEC §3.1).
//! A dialect is a translator only: it parses its vendor's request, calls the
//! same domain operations as the native API, and renders its vendor's
//! response and error shapes. No rule lives here.
//!
//! Each is a folder: `<vendor>.rs` is its [`Surface`](crate::surface::Surface)
//! (where its credential is, which content types it reads, how it answers a
//! malformed id and renders an error), its routes and its handler, a few
//! lines over the kit's extractors; `<vendor>/wire.rs` its request and
//! response types, `<vendor>/translate.rs` the translation into the domain
//! call, `<vendor>/render.rs` its answers and error shape. Dialects use the
//! kit ([`crate::surface`]) and never the native routes.

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
