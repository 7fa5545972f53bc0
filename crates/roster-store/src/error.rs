//! The store's error type.

use roster_domain::Revision;

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed (connection, constraint, I/O...).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// An embedded migration could not be applied.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The commit was refused: it was planned on a revision that is no longer
    /// the committed one. Reload (or follow the change log) and plan again.
    #[error("stale revision: the committed revision is {current}")]
    Stale {
        /// The committed revision.
        current: Revision,
    },
    /// A row does not parse into a domain value.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The database URL is not one this store can open.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The caller handed the store something it cannot store (a commit whose
    /// revision is not `base + n`, a built-in role, a value out of range).
    /// Nothing was applied.
    #[error("invalid commit: {0}")]
    Invalid(String),
}

impl StoreError {
    /// Whether the database refused a write because it would break a unique
    /// constraint (a duplicate slug, live email, key id, membership pair...).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }

    /// Whether the database refused a write because it would break a
    /// foreign key (e.g. a user of an organization that does not exist).
    pub fn is_foreign_key_violation(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(e)) => e.is_foreign_key_violation(),
            _ => false,
        }
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        Self::Corrupt(format!("{what}: {e}"))
    }
}
