//! What the tests share: the app builder and actors (`common`), the native
//! API's request and problem-document helpers (`native_support`), an
//! identity provider of the tests' own (`idp`: keys, tokens, a JWKS server), and the
//! OpenAPI 3.0 / 3.1 and JSON Schema checkers, a webhook receiver (`receiver`), the dialects' and the native
//! API's documents are tested with.

pub mod common;
pub mod idp;
pub mod native_support;
pub mod openapi30;
pub mod openapi31;
pub mod receiver;
pub mod schema;
