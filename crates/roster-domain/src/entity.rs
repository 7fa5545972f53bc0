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

/// Who holds a grant: a user, or a group (whose members all hold it).
/// Serialized flat beside the grant's other fields, as `user_id` or
/// `group_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GrantHolder {
    /// A user.
    #[serde(rename = "user_id")]
    User(UserId),
    /// A group.
    #[serde(rename = "group_id")]
    Group(GroupId),
}

impl GrantHolder {
    /// The user, when a user holds it.
    pub fn user(&self) -> Option<UserId> {
        match self {
            Self::User(u) => Some(*u),
            Self::Group(_) => None,
        }
    }
    /// The group, when a group holds it.
    pub fn group(&self) -> Option<GroupId> {
        match self {
            Self::Group(g) => Some(*g),
            Self::User(_) => None,
        }
    }
    /// The holder's kind and id, for messages and audit targets.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            Self::User(u) => ("user", u.to_string()),
            Self::Group(g) => ("group", g.to_string()),
        }
    }
}

impl From<UserId> for GrantHolder {
    fn from(u: UserId) -> Self {
        Self::User(u)
    }
}

impl From<GroupId> for GrantHolder {
    fn from(g: GroupId) -> Self {
        Self::Group(g)
    }
}

/// A user or a group holds a role or a permission at a scope, until
/// `expires_at` if set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Id.
    pub id: GrantId,
    /// Holder (`user_id` or `group_id` on the wire).
    #[serde(flatten)]
    pub holder: GrantHolder,
    /// What is granted.
    pub target: GrantTarget,
    /// Where.
    pub scope: Scope,
    /// When it stops counting (SPEC §2.1: at that instant, with no write).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who granted it.
    pub created_by: Option<UserId>,
    /// Global revision of its last change.
    pub revision: Revision,
}

impl Grant {
    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// A group of users of one organization (SPEC §1). Flat: groups do not
/// contain groups. Its members hold its grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Id.
    pub id: GroupId,
    /// The organization whose users may be members.
    pub organization_id: OrganizationId,
    /// Unique within the organization (case-insensitively).
    pub name: DisplayName,
    /// Free text.
    pub description: String,
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

impl Group {
    /// The key names are unique by within an organization.
    pub fn name_key(&self) -> String {
        self.name.as_str().to_lowercase()
    }
}

/// A user's membership in a group, until `expires_at` if set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    /// The group.
    pub group_id: GroupId,
    /// The member.
    pub user_id: UserId,
    /// When it stops counting.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the user was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who added it.
    pub created_by: Option<UserId>,
    /// Global revision of its last change.
    pub revision: Revision,
}

impl GroupMember {
    /// Whether it has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
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
    /// The permissions the key may act for (sorted); `None`: all its user
    /// holds. See [`crate::Actor`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<PermissionId>>,
    /// Global revision of the last change.
    pub revision: Revision,
}

impl ApiKey {
    /// The actor a request authenticated by this key acts as.
    pub fn actor(&self) -> crate::Actor {
        crate::Actor::scoped(self.user_id, self.scopes.as_deref())
    }

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

/// An organization's webhook subscription: the events of its organization
/// (all, or of the types named) are POSTed to `url`, signed with its
/// secrets, in feed order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Id.
    pub id: WebhookId,
    /// The organization whose events it receives.
    pub organization_id: OrganizationId,
    /// Where events are POSTed.
    pub url: crate::WebhookUrl,
    /// Which events.
    pub event_types: crate::EventTypes,
    /// Free text.
    pub description: String,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Its signing secrets, the current one first; older ones sign beside
    /// it until they expire. Never in an audit entry or an event
    /// ([`Webhook::snapshot`]).
    pub secrets: Vec<crate::WebhookSecret>,
    /// Why Roster disabled it (`failing`), while it is disabled for that.
    pub disabled_reason: Option<String>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// The revision that created it: it receives the events after it.
    pub created_revision: Revision,
    /// Last change time.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Global revision of the last change.
    pub revision: Revision,
}

impl Webhook {
    /// The subscription as the audit trail and the events show it: without
    /// its secrets.
    pub fn snapshot(&self) -> Option<serde_json::Value> {
        let mut v = serde_json::to_value(self).ok()?;
        if let Some(o) = v.as_object_mut() {
            o.remove("secrets");
        }
        Some(v)
    }

    /// The secrets that sign at `now`, the current one first.
    pub fn live_secrets(&self, now: OffsetDateTime) -> impl Iterator<Item = &crate::WebhookSecret> {
        self.secrets.iter().filter(move |s| s.is_live(now))
    }
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
    /// Why the system made the change when no request did (`expired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The user or group whose access the change alters (grants,
    /// memberships, group memberships, users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<String>,
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

/// What a signing key signs with; pinned per key (a token naming another
/// `alg` than its key's is refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// Ed25519 (JOSE `EdDSA`), the default.
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl SigningAlgorithm {
    /// Parses `EdDSA` or `ES256`.
    pub fn parse(field: &str, s: &str) -> Result<Self, crate::DomainError> {
        match s {
            "EdDSA" => Ok(Self::EdDSA),
            "ES256" => Ok(Self::ES256),
            _ => Err(crate::DomainError::invalid(
                field,
                format!("`{}` is not one of `EdDSA`, `ES256`", truncate(s)),
            )),
        }
    }
    /// The JOSE `alg` name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
        }
    }
}

/// A private key in PKCS#8 DER. It serializes (as base64) only so that the
/// change log carries it to the other replicas; it is never part of an
/// audit event or an API answer ([`SigningKey::public`]), and its `Debug`
/// shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(Vec<u8>);

impl PrivateKey {
    /// Wraps PKCS#8 DER bytes.
    pub fn from_pkcs8_der(der: Vec<u8>) -> Self {
        Self(der)
    }
    /// The PKCS#8 DER bytes.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.0
    }
    /// Standard base64 of the DER bytes (how the store keeps it).
    pub fn to_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&self.0)
    }
    /// The key whose [`PrivateKey::to_base64`] is `s`.
    pub fn from_base64(s: &str) -> Result<Self, crate::DomainError> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Self)
            .map_err(|_| crate::DomainError::invalid("private_key", "not base64"))
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl Serialize for PrivateKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for PrivateKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_base64(&s).map_err(serde::de::Error::custom)
    }
}

/// One of Roster's own token signing keys (SPEC §3.3). Kept in the model,
/// and so in the database and the change log, so that every replica signs
/// and verifies with the same keys. The newest key that is neither retired
/// nor revoked signs new tokens; a retired key still verifies until
/// `verify_until` (when every token it signed has expired); a revoked one
/// verifies nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    /// Id, the `kid` of its tokens.
    pub id: SigningKeyId,
    /// The algorithm it signs with.
    pub algorithm: SigningAlgorithm,
    /// The private key (never shown).
    pub private_key: PrivateKey,
    /// The public key as a JWK (RFC 7517), with its `kid`, `alg` and `use`.
    pub public_jwk: serde_json::Map<String, serde_json::Value>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a newer key replaced it for signing.
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
    /// When a retired key stops verifying.
    #[serde(with = "time::serde::rfc3339::option")]
    pub verify_until: Option<OffsetDateTime>,
    /// Revocation time: from then on its tokens are refused.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Global revision of the last change.
    pub revision: Revision,
}

impl SigningKey {
    /// Neither retired nor revoked: it may sign new tokens.
    pub fn signs(&self) -> bool {
        self.retired_at.is_none() && self.revoked_at.is_none()
    }
    /// Not revoked, and not past `verify_until` at `now`.
    pub fn verifies(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.verify_until.is_none_or(|t| t > now)
    }
    /// Everything but the private key: what the audit trail, the CLI and
    /// the APIs show.
    pub fn public(&self) -> PublicSigningKey {
        PublicSigningKey {
            kid: self.id,
            algorithm: self.algorithm,
            public_jwk: self.public_jwk.clone(),
            created_at: self.created_at,
            retired_at: self.retired_at,
            verify_until: self.verify_until,
            revoked_at: self.revoked_at,
            revision: self.revision,
        }
    }
}

/// A signing key without its private key ([`SigningKey::public`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublicSigningKey {
    /// The key's id (`kid`).
    pub kid: SigningKeyId,
    /// Algorithm.
    pub algorithm: SigningAlgorithm,
    /// Public JWK.
    pub public_jwk: serde_json::Map<String, serde_json::Value>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Retirement time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
    /// End of verification.
    #[serde(with = "time::serde::rfc3339::option")]
    pub verify_until: Option<OffsetDateTime>,
    /// Revocation time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Revision.
    pub revision: Revision,
}
