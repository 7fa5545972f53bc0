//! Typed identifiers. Every entity has its own id type so that a user id can
//! never be passed where an account id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

uuid_id!(
    /// Identifies an organization (a tenant).
    OrganizationId
);
uuid_id!(
    /// Identifies an account inside an organization.
    AccountId
);
uuid_id!(
    /// Identifies a user.
    UserId
);
uuid_id!(
    /// Identifies a membership (a user in an account).
    MembershipId
);
uuid_id!(
    /// Identifies a permission. Built-ins have fixed UUIDv5 ids.
    PermissionId
);
uuid_id!(
    /// Identifies a grant.
    GrantId
);
uuid_id!(
    /// Identifies a group of users (SPEC §1): a holder of grants.
    GroupId
);
uuid_id!(
    /// Identifies an API key record (not the public `key_id`).
    ApiKeyId
);
uuid_id!(
    /// Identifies an organization's identity provider.
    IdentityProviderId
);

uuid_id!(
    /// Identifies one of Roster's token signing keys: the `kid` of the
    /// tokens it signs.
    SigningKeyId
);

/// The global revision: every committed change advances it by one.
pub type Revision = u64;

uuid_id!(
    /// Identifies an organization's webhook subscription.
    WebhookId
);
