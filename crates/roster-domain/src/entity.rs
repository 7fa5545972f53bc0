//! The entities of SPEC §1. They are plain data; the rules that change them
//! live in [`crate::ops`] and [`crate::rules`].

use crate::ids::*;
use crate::scope::Scope;
use crate::values::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// Id.
    pub id: OrganizationId,
    /// Display name.
    pub name: DisplayName,
    /// Unique slug.
    pub slug: Slug,
    /// Global revision of the last change.
    pub revision: Revision,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change time.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The kind of an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    /// A customer.
    Client,
    /// A supplier.
    Vendor,
    /// The platform operator's own account.
    Operations,
}

impl AccountType {
    /// Parses `client`, `vendor` or `operations`.
    pub fn parse(field: &str, s: &str) -> Result<Self, crate::DomainError> {
        match s {
            "client" => Ok(Self::Client),
            "vendor" => Ok(Self::Vendor),
            "operations" => Ok(Self::Operations),
            _ => Err(crate::DomainError::invalid(
                field,
                format!(
                    "`{}` is not one of `client`, `vendor`, `operations`",
                    truncate(s)
                ),
            )),
        }
    }
    /// Wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Vendor => "vendor",
            Self::Operations => "operations",
        }
    }
}

/// Whether an account is usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Grants on it take effect.
    Active,
    /// Every check on it is denied.
    Disabled,
}

impl AccountStatus {
    /// Parses `active` or `disabled`.
    pub fn parse(field: &str, s: &str) -> Result<Self, crate::DomainError> {
        match s {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            _ => Err(crate::DomainError::invalid(
                field,
                format!("`{}` is not one of `active`, `disabled`", truncate(s)),
            )),
        }
    }
    /// Wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

/// An account of an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// Owning organization.
    pub organization_id: OrganizationId,
    /// Display name.
    pub name: DisplayName,
    /// Kind.
    #[serde(rename = "type")]
    pub kind: AccountType,
    /// Status.
    pub status: AccountStatus,
    /// Global revision of the last change.
    pub revision: Revision,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change time.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A user's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// May act and be allowed.
    Active,
    /// Invited, not yet joined: denied every check.
    Invited,
    /// Denied every check.
    Disabled,
}

impl UserStatus {
    /// Parses `active`, `invited` or `disabled`.
    pub fn parse(field: &str, s: &str) -> Result<Self, crate::DomainError> {
        match s {
            "active" => Ok(Self::Active),
            "invited" => Ok(Self::Invited),
            "disabled" => Ok(Self::Disabled),
            _ => Err(crate::DomainError::invalid(
                field,
                format!(
                    "`{}` is not one of `active`, `invited`, `disabled`",
                    truncate(s)
                ),
            )),
        }
    }
    /// Wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Invited => "invited",
            Self::Disabled => "disabled",
        }
    }
}

/// A person (or service identity) that acts and is checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Home organization.
    pub organization_id: OrganizationId,
    /// Unique (case-insensitive) email.
    pub email: Email,
    /// First name.
    pub first_name: Option<PersonName>,
    /// Last name.
    pub last_name: Option<PersonName>,
    /// Phone.
    pub phone: Option<Phone>,
    /// Settings.
    pub settings: Option<Settings>,
    /// External system ids.
    pub external_ids: ExternalIds,
    /// Status.
    pub status: UserStatus,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Last change time.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Who changed it last.
    pub updated_by: Option<UserId>,
    /// Soft deletion time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    /// Global revision of the last change.
    pub revision: Revision,
}

impl User {
    /// Active and not deleted.
    pub fn is_effective(&self) -> bool {
        self.status == UserStatus::Active && self.deleted_at.is_none()
    }
    /// "First Last", or the email when both are absent.
    pub fn display_name(&self) -> String {
        match (&self.first_name, &self.last_name) {
            (Some(f), Some(l)) => format!("{f} {l}"),
            (Some(f), None) => f.to_string(),
            (None, Some(l)) => l.to_string(),
            (None, None) => self.email.to_string(),
        }
    }
}

/// State of a membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// Invited, not joined.
    Invited,
    /// Joined.
    Active,
    /// Disabled in this account.
    Disabled,
}

impl MembershipStatus {
    /// Wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
    /// Parses `invited`, `active` or `disabled`.
    pub fn parse(field: &str, s: &str) -> Result<Self, crate::DomainError> {
        match s {
            "invited" => Ok(Self::Invited),
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            _ => Err(crate::DomainError::invalid(
                field,
                format!(
                    "`{}` is not one of `invited`, `active`, `disabled`",
                    truncate(s)
                ),
            )),
        }
    }
}

/// A user in an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Id.
    pub id: MembershipId,
    /// The user.
    pub user_id: UserId,
    /// The account.
    pub account_id: AccountId,
    /// Status.
    pub status: MembershipStatus,
    /// Group names.
    pub groups: Vec<String>,
    /// Invitation time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub invited_at: Option<OffsetDateTime>,
    /// Join time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub joined_at: Option<OffsetDateTime>,
    /// Last access time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_access_at: Option<OffsetDateTime>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Global revision of the last change.
    pub revision: Revision,
}

/// A permission in the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// Id (UUIDv5 of the code for built-ins).
    pub id: PermissionId,
    /// Code.
    pub code: PermissionCode,
    /// Description.
    pub description: String,
    /// `None` for built-ins; the owning organization for custom ones.
    pub organization_id: Option<OrganizationId>,
    /// Global revision of the last change (0 for built-ins).
    pub revision: Revision,
}

/// Key of a role: built-ins are global (`organization_id = None`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoleKey {
    /// Owning organization, `None` for built-ins.
    pub organization_id: Option<OrganizationId>,
    /// Role id.
    pub id: RoleId,
}

/// A named set of permissions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Slug id.
    pub id: RoleId,
    /// `None` for built-ins.
    pub organization_id: Option<OrganizationId>,
    /// Display name.
    pub name: DisplayName,
    /// Description.
    pub description: String,
    /// Permissions.
    pub permissions: BTreeSet<PermissionId>,
    /// Global revision of the last change (0 for built-ins).
    pub revision: Revision,
}

impl Role {
    /// The map key.
    pub fn key(&self) -> RoleKey {
        RoleKey {
            organization_id: self.organization_id,
            id: self.id.clone(),
        }
    }
    /// Whether this is a read-only built-in role.
    pub fn is_builtin(&self) -> bool {
        self.organization_id.is_none()
    }
}

/// What a grant hands out.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantTarget {
    /// Every permission of a role.
    Role(RoleKey),
    /// One permission.
    Permission(PermissionId),
}

/// A user holds a role or a permission at a scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Id.
    pub id: GrantId,
    /// Holder.
    pub user_id: UserId,
    /// What is granted.
    pub target: GrantTarget,
    /// Where.
    pub scope: Scope,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who granted it.
    pub created_by: Option<UserId>,
    /// Global revision at which it was created.
    pub revision: Revision,
}

/// An API key: a public `key_id` and a secret whose SHA-256 is all we keep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Record id.
    pub id: ApiKeyId,
    /// Public key id (sent by Yuno's `PUBLIC-API-KEY`, embedded in our secrets).
    pub key_id: String,
    /// The user the key acts as.
    pub user_id: UserId,
    /// Display name.
    pub name: DisplayName,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Revocation time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Global revision of the last change.
    pub revision: Revision,
}

impl ApiKey {
    /// Not revoked and not expired at `now`.
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// An organization's identity provider (SPEC §3.3): tokens its issuer
/// signs with one of its keys act as a user of its organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityProvider {
    /// Id.
    pub id: IdentityProviderId,
    /// The organization whose users its tokens act as.
    pub organization_id: OrganizationId,
    /// Unique within the organization; the `external_ids` key `sub` maps through.
    pub name: ProviderName,
    /// The `iss` its tokens carry.
    pub issuer: crate::Issuer,
    /// The `aud` its tokens must contain.
    pub audience: crate::Audience,
    /// Where its public keys come from (`jwks_uri` or `jwks`).
    #[serde(flatten)]
    pub keys: crate::KeySource,
    /// The algorithms its tokens may use.
    pub algorithms: crate::Algorithms,
    /// Which claim names the user.
    pub user_claim: crate::UserClaim,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Last change time.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Global revision of the last change.
    pub revision: Revision,
}

/// One entry of the audit trail, written in the same transaction as its change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Global sequence number (assigned by the store).
    pub seq: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (absent for the bootstrap).
    pub actor_id: Option<UserId>,
    /// What, e.g. `user.update`.
    pub action: String,
    /// Kind of the target, e.g. `user`.
    pub target_type: String,
    /// Id of the target.
    pub target_id: String,
    /// Organization concerned.
    pub organization_id: Option<OrganizationId>,
    /// Account concerned.
    pub account_id: Option<AccountId>,
    /// State before.
    pub before: Option<serde_json::Value>,
    /// State after.
    pub after: Option<serde_json::Value>,
    /// Request that caused it.
    pub request_id: Option<String>,
    /// Revision it produced.
    pub revision: Revision,
}

/// A user's view of a target, used by explain: the grant that allowed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Allowance {
    /// The grant.
    pub grant_id: GrantId,
    /// The role, when through a role.
    pub role_id: Option<RoleId>,
    /// The grant's scope.
    pub scope: Scope,
}
