//! The domain's one error type. Every surface renders it in its own shape;
//! the server maps each variant to a status (documented on each variant).

use thiserror::Error;

/// What went wrong with a domain operation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// Input failed to parse or validate (400). `field` names the input.
    #[error("invalid `{field}`: {message}")]
    Invalid {
        /// Dotted path of the offending field.
        field: String,
        /// Lowercase explanation.
        message: String,
    },
    /// The object does not exist or is in an organization the caller cannot
    /// reach (404). Tenant isolation never reveals which.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// Entity kind, e.g. `user`.
        kind: &'static str,
        /// The id as given.
        id: String,
    },
    /// The caller may see the object but lacks the permission (403).
    #[error("forbidden: {message}")]
    Forbidden {
        /// The permission or rule that was missing.
        message: String,
    },
    /// The caller tried to change their own roles, permissions or scopes (403;
    /// Fynn answers 422).
    #[error("self guard: {message}")]
    SelfChange {
        /// What was attempted.
        message: String,
    },
    /// The change conflicts with existing state, e.g. a duplicate email (409).
    #[error("conflict on `{field}`: {message}")]
    Conflict {
        /// The field whose value conflicts.
        field: String,
        /// Explanation.
        message: String,
    },
    /// The change would leave an organization without an administrator (409).
    #[error("lockout guard: {message}")]
    Lockout {
        /// Which organization would be locked out.
        message: String,
    },
    /// `If-Match` did not match the object's revision (412).
    #[error("precondition failed: revision is {actual}, not {expected}")]
    PreconditionFailed {
        /// Revision the client sent.
        expected: u64,
        /// Current revision.
        actual: u64,
    },
    /// A `revision` in the request body is stale (409).
    #[error("stale revision: object is at revision {actual}, request says {expected}")]
    StaleRevision {
        /// Revision the client sent.
        expected: u64,
        /// Current revision.
        actual: u64,
    },
}

impl DomainError {
    /// Shorthand for [`DomainError::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
    /// Shorthand for [`DomainError::NotFound`].
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }
    /// Shorthand for [`DomainError::Forbidden`].
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            message: message.into(),
        }
    }
    /// Shorthand for [`DomainError::Conflict`].
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }
    /// The field this error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } | Self::Conflict { field, .. } => Some(field),
            _ => None,
        }
    }
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_input",
            Self::NotFound { .. } => "not_found",
            Self::Forbidden { .. } => "forbidden",
            Self::SelfChange { .. } => "self_change",
            Self::Conflict { .. } => "conflict",
            Self::Lockout { .. } => "lockout",
            Self::PreconditionFailed { .. } => "precondition_failed",
            Self::StaleRevision { .. } => "stale_revision",
        }
    }
}
