//! The server's integration tests, one binary: a real store per backend
//! (SQLite always, PostgreSQL when `ROSTER_TEST_DATABASE_URL` is set), the
//! real router, actors in two tenants. `support` is compiled once for all.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod dialects;
mod native;
mod openapi;
mod support;
mod tokens;
