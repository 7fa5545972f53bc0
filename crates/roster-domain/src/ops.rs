//! Domain operations: the only way anything changes. Each takes a [`Draft`],
//! checks the rules against it and records its changes and audit entries.
//! Native routes and every dialect call these same functions.

mod account;
mod account_user;
mod api_key;
mod asking;
mod audit;
mod expiry;
mod grant;
mod group;
mod identity_provider;
mod membership;
mod org_user;
mod organization;
mod role;
mod signing_key;
mod token;
mod user;
mod webhook;

pub use account::*;
pub use account_user::*;
pub use api_key::*;
pub use asking::*;
pub use audit::*;
pub use expiry::*;
pub use grant::*;
pub use group::*;
pub use identity_provider::*;
pub use membership::*;
pub use org_user::*;
pub use organization::*;
pub use role::*;
pub use signing_key::*;
pub use token::*;
pub use user::*;
pub use webhook::*;

use crate::error::DomainError;
use crate::ids::Revision;

/// Optimistic concurrency preconditions of a write.
#[derive(Clone, Copy, Debug, Default)]
pub struct Precondition {
    /// `If-Match`: a mismatch is `412`.
    pub if_match: Option<Revision>,
    /// A `revision` in the body (SoftwareOne): a mismatch is `409`.
    pub body_revision: Option<Revision>,
}

impl Precondition {
    /// No precondition.
    pub const NONE: Self = Self {
        if_match: None,
        body_revision: None,
    };

    /// Only `If-Match`.
    pub fn if_match(rev: Option<Revision>) -> Self {
        Self {
            if_match: rev,
            body_revision: None,
        }
    }

    /// Checks against an object's current revision.
    pub fn check(&self, actual: Revision) -> Result<(), DomainError> {
        if let Some(expected) = self.if_match {
            if expected != actual {
                return Err(DomainError::PreconditionFailed { expected, actual });
            }
        }
        if let Some(expected) = self.body_revision {
            if expected != actual {
                return Err(DomainError::StaleRevision { expected, actual });
            }
        }
        Ok(())
    }
}
