//! Scopes and targets. `global ⊇ organization(O) ⊇ accounts(O) ⊇ account(a)`;
//! `accounts(O)` covers every account of O but not O itself.

use crate::ids::{AccountId, OrganizationId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a grant applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Scope {
    /// Everywhere, across organizations. Belongs to the operator.
    Global,
    /// An organization and all of its accounts.
    Organization(OrganizationId),
    /// Every account of an organization, not the organization itself.
    Accounts(OrganizationId),
    /// One account.
    Account(AccountId),
}

/// What a check is about: an organization, or an account (with its organization).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The organization itself.
    Organization(OrganizationId),
    /// An account of an organization.
    Account(OrganizationId, AccountId),
}

/// What a question is about, before resolution: an organization, or an
/// account (whose organization the model knows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum On {
    /// An organization.
    Organization(OrganizationId),
    /// An account.
    Account(AccountId),
}

impl Target {
    /// The organization the target lives in.
    pub fn organization(&self) -> OrganizationId {
        match *self {
            Self::Organization(o) | Self::Account(o, _) => o,
        }
    }
}

impl Scope {
    /// The scope's kind as used on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Organization(_) => "organization",
            Self::Accounts(_) => "accounts",
            Self::Account(_) => "account",
        }
    }

    /// Whether this scope covers the target. `account_org` is only needed for
    /// `Account` scopes and is carried by the target.
    #[inline]
    pub fn covers(&self, target: &Target) -> bool {
        match (*self, *target) {
            (Self::Global, _) => true,
            (Self::Organization(o), t) => t.organization() == o,
            (Self::Accounts(o), Target::Account(to, _)) => to == o,
            (Self::Accounts(_), Target::Organization(_)) => false,
            (Self::Account(a), Target::Account(_, ta)) => a == ta,
            (Self::Account(_), Target::Organization(_)) => false,
        }
    }

    /// Whether this scope contains `other` entirely (`self ⊇ other`).
    /// `org_of` resolves an account's organization.
    pub fn contains(
        &self,
        other: &Scope,
        org_of: impl Fn(AccountId) -> Option<OrganizationId>,
    ) -> bool {
        match (*self, *other) {
            (Self::Global, _) => true,
            (_, Self::Global) => false,
            (Self::Organization(o), Self::Organization(p) | Self::Accounts(p)) => o == p,
            (Self::Organization(o), Self::Account(a)) => org_of(a) == Some(o),
            (Self::Accounts(o), Self::Accounts(p)) => o == p,
            (Self::Accounts(o), Self::Account(a)) => org_of(a) == Some(o),
            (Self::Accounts(_), Self::Organization(_)) => false,
            (Self::Account(a), Self::Account(b)) => a == b,
            (Self::Account(_), _) => false,
        }
    }

    /// The organization a non-global scope belongs to.
    pub fn organization(
        &self,
        org_of: impl Fn(AccountId) -> Option<OrganizationId>,
    ) -> Option<OrganizationId> {
        match *self {
            Self::Global => None,
            Self::Organization(o) | Self::Accounts(o) => Some(o),
            Self::Account(a) => org_of(a),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Global => f.write_str("global"),
            Self::Organization(o) => write!(f, "organization({o})"),
            Self::Accounts(o) => write!(f, "accounts({o})"),
            Self::Account(a) => write!(f, "account({a})"),
        }
    }
}
