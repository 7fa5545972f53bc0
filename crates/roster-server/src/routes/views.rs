//! Response bodies of the native API: the wire view of each entity.

use crate::surface::fields::ts;
use roster_domain as d;
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;
use uuid::Uuid;

/// A string schema of exactly `values` (what the matching domain parser
/// accepts; it is case-sensitive), and `null` when `nullable` (an optional
/// field of a request body, where `null` is taken as absent). For
/// `#[schema(schema_with = ..)]`.
fn closed(values: &[&str], nullable: bool, description: &str) -> Object {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    let mut enum_values: Vec<serde_json::Value> = values.iter().map(|v| (*v).into()).collect();
    if nullable {
        enum_values.push(serde_json::Value::Null);
    }
    ObjectBuilder::new()
        .schema_type(ty)
        .enum_values(Some(enum_values))
        .description(Some(description))
        .build()
}

const SCOPE_TYPES: [&str; 4] = ["global", "organization", "accounts", "account"];
const ACCOUNT_TYPES: [&str; 3] = ["client", "vendor", "operations"];
const ACCOUNT_STATUSES: [&str; 2] = ["active", "disabled"];
const USER_STATUSES: [&str; 3] = ["active", "invited", "disabled"];

/// Schema of a scope's `type`.
pub fn scope_type() -> Object {
    closed(
        &SCOPE_TYPES,
        false,
        "`global`, `organization`, `accounts` or `account`.",
    )
}
/// Schema of an account's `type`.
pub fn account_type() -> Object {
    closed(&ACCOUNT_TYPES, false, "`client`, `vendor` or `operations`.")
}
/// Schema of an account's `status`.
pub fn account_status() -> Object {
    closed(&ACCOUNT_STATUSES, false, "`active` or `disabled`.")
}
/// Schema of an account's `status` on creation.
pub fn new_account_status() -> Object {
    closed(&ACCOUNT_STATUSES, true, "`active` (default) or `disabled`.")
}
/// Schema of a user's or a membership's `status`.
pub fn user_status() -> Object {
    closed(&USER_STATUSES, false, "`active`, `invited` or `disabled`.")
}
/// Schema of a user's or a membership's `status` on creation.
pub fn new_user_status() -> Object {
    closed(
        &USER_STATUSES,
        true,
        "`active` (default), `invited` or `disabled`.",
    )
}

fn ots(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(ts)
}

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub revision: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&d::Organization> for OrganizationView {
    fn from(o: &d::Organization) -> Self {
        Self {
            id: o.id.0,
            name: o.name.to_string(),
            slug: o.slug.to_string(),
            revision: o.revision,
            created_at: ts(o.created_at),
            updated_at: ts(o.updated_at),
        }
    }
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(schema_with = account_type)]
    pub kind: String,
    #[schema(schema_with = account_status)]
    pub status: String,
    pub revision: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&d::Account> for AccountView {
    fn from(a: &d::Account) -> Self {
        Self {
            id: a.id.0,
            organization_id: a.organization_id.0,
            name: a.name.to_string(),
            kind: a.kind.as_str().to_owned(),
            status: a.status.as_str().to_owned(),
            revision: a.revision,
            created_at: ts(a.created_at),
            updated_at: ts(a.updated_at),
        }
    }
}

/// A phone number.
#[derive(Debug, Serialize, ToSchema, serde::Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct PhoneView {
    pub prefix: Option<String>,
    pub number: Option<String>,
}

/// Number formatting.
#[derive(Debug, Serialize, ToSchema, serde::Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct NumberFormatView {
    pub decimal_separator: Option<String>,
    pub group_separator: Option<String>,
}

/// User settings.
#[derive(Debug, Serialize, ToSchema, serde::Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct SettingsView {
    pub culture_code: Option<String>,
    pub language_code: Option<String>,
    pub time_zone: Option<String>,
    pub date_format: Option<String>,
    pub time_format: Option<String>,
    pub number_format: Option<NumberFormatView>,
}

impl From<&d::Phone> for PhoneView {
    fn from(p: &d::Phone) -> Self {
        Self {
            prefix: p.prefix.clone(),
            number: p.number.clone(),
        }
    }
}
impl From<PhoneView> for d::Phone {
    fn from(p: PhoneView) -> Self {
        Self {
            prefix: p.prefix,
            number: p.number,
        }
    }
}
impl From<&d::Settings> for SettingsView {
    fn from(s: &d::Settings) -> Self {
        Self {
            culture_code: s.culture_code.clone(),
            language_code: s.language_code.clone(),
            time_zone: s.time_zone.clone(),
            date_format: s.date_format.clone(),
            time_format: s.time_format.clone(),
            number_format: s.number_format.as_ref().map(|n| NumberFormatView {
                decimal_separator: n.decimal_separator.clone(),
                group_separator: n.group_separator.clone(),
            }),
        }
    }
}
impl From<SettingsView> for d::Settings {
    fn from(s: SettingsView) -> Self {
        Self {
            culture_code: s.culture_code,
            language_code: s.language_code,
            time_zone: s.time_zone,
            date_format: s.date_format,
            time_format: s.time_format,
            number_format: s.number_format.map(|n| d::NumberFormat {
                decimal_separator: n.decimal_separator,
                group_separator: n.group_separator,
            }),
        }
    }
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<PhoneView>,
    pub settings: Option<SettingsView>,
    pub external_ids: BTreeMap<String, String>,
    #[schema(schema_with = user_status)]
    pub status: String,
    pub created_at: String,
    pub created_by: Option<Uuid>,
    pub updated_at: String,
    pub updated_by: Option<Uuid>,
    pub deleted_at: Option<String>,
    pub revision: u64,
}

impl From<&d::User> for UserView {
    fn from(u: &d::User) -> Self {
        Self {
            id: u.id.0,
            organization_id: u.organization_id.0,
            email: u.email.to_string(),
            first_name: u.first_name.as_ref().map(|n| n.to_string()),
            last_name: u.last_name.as_ref().map(|n| n.to_string()),
            phone: u.phone.as_ref().map(PhoneView::from),
            settings: u.settings.as_ref().map(SettingsView::from),
            external_ids: u.external_ids.clone(),
            status: u.status.as_str().to_owned(),
            created_at: ts(u.created_at),
            created_by: u.created_by.map(|x| x.0),
            updated_at: ts(u.updated_at),
            updated_by: u.updated_by.map(|x| x.0),
            deleted_at: ots(u.deleted_at),
            revision: u.revision,
        }
    }
}

/// A membership.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub account_id: Uuid,
    #[schema(schema_with = user_status)]
    pub status: String,
    pub groups: Vec<String>,
    pub invited_at: Option<String>,
    pub joined_at: Option<String>,
    pub last_access_at: Option<String>,
    pub revision: u64,
}

impl From<&d::Membership> for MembershipView {
    fn from(m: &d::Membership) -> Self {
        Self {
            id: m.id.0,
            user_id: m.user_id.0,
            account_id: m.account_id.0,
            status: m.status.as_str().to_owned(),
            groups: m.groups.clone(),
            invited_at: ots(m.invited_at),
            joined_at: ots(m.joined_at),
            last_access_at: ots(m.last_access_at),
            revision: m.revision,
        }
    }
}

/// A permission of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionView {
    pub id: Uuid,
    pub code: String,
    pub description: String,
    /// `null` for built-ins.
    pub organization_id: Option<Uuid>,
    pub builtin: bool,
    pub revision: u64,
}

impl From<&d::Permission> for PermissionView {
    fn from(p: &d::Permission) -> Self {
        Self {
            id: p.id.0,
            code: p.code.to_string(),
            description: p.description.clone(),
            organization_id: p.organization_id.map(|o| o.0),
            builtin: p.organization_id.is_none(),
            revision: p.revision,
        }
    }
}

/// A role with its permission codes.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `null` for built-ins.
    pub organization_id: Option<Uuid>,
    pub builtin: bool,
    /// Permission codes, sorted.
    pub permissions: Vec<String>,
    pub revision: u64,
}

impl RoleView {
    /// The view of `r`, resolving permission codes through `m`.
    pub fn new(r: &d::Role, m: &d::Model) -> Self {
        let mut permissions: Vec<String> = r
            .permissions
            .iter()
            .filter_map(|p| m.permission(*p).map(|p| p.code.to_string()))
            .collect();
        permissions.sort();
        Self {
            id: r.id.to_string(),
            name: r.name.to_string(),
            description: r.description.clone(),
            organization_id: r.organization_id.map(|o| o.0),
            builtin: r.is_builtin(),
            permissions,
            revision: r.revision,
        }
    }
}

/// A scope on the wire.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct ScopeView {
    #[serde(rename = "type")]
    #[schema(schema_with = scope_type)]
    pub kind: String,
    /// The organization (for `organization`, `accounts`) or account id; absent for `global`.
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub id: Option<String>,
}

impl From<&d::Scope> for ScopeView {
    fn from(s: &d::Scope) -> Self {
        let id = match s {
            d::Scope::Global => None,
            d::Scope::Organization(o) | d::Scope::Accounts(o) => Some(o.to_string()),
            d::Scope::Account(a) => Some(a.to_string()),
        };
        Self {
            kind: s.kind().to_owned(),
            id,
        }
    }
}

impl ScopeView {
    /// Parses into a domain scope, naming `scope.type` / `scope.id`.
    pub fn parse(&self) -> Result<d::Scope, d::DomainError> {
        let id = |what: &str| -> Result<Uuid, d::DomainError> {
            let raw = self.id.as_deref().ok_or_else(|| {
                d::DomainError::invalid("scope.id", format!("required for `{what}` scopes"))
            })?;
            Uuid::parse_str(raw).map_err(|_| {
                d::DomainError::invalid("scope.id", format!("`{}` is not a UUID", d::truncate(raw)))
            })
        };
        match self.kind.as_str() {
            "global" => {
                if self.id.is_some() {
                    return Err(d::DomainError::invalid(
                        "scope.id",
                        "must be absent for `global` scopes",
                    ));
                }
                Ok(d::Scope::Global)
            }
            "organization" => Ok(d::Scope::Organization(id("organization")?.into())),
            "accounts" => Ok(d::Scope::Accounts(id("accounts")?.into())),
            "account" => Ok(d::Scope::Account(id("account")?.into())),
            other => Err(d::DomainError::invalid(
                "scope.type",
                format!(
                    "`{}` is not one of `global`, `organization`, `accounts`, `account`",
                    d::truncate(other)
                ),
            )),
        }
    }
}

/// A grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub id: Uuid,
    /// The holder when a user holds it.
    pub user_id: Option<Uuid>,
    /// The holder when a group holds it.
    pub group_id: Option<Uuid>,
    /// Set when the grant hands out a role.
    pub role_id: Option<String>,
    /// Set when the grant hands out one permission.
    pub permission_id: Option<Uuid>,
    /// The permission's code, when `permission_id` is set.
    pub permission: Option<String>,
    pub scope: ScopeView,
    /// When the grant stops counting; `null`: never.
    pub expires_at: Option<String>,
    pub created_at: String,
    pub created_by: Option<Uuid>,
    pub revision: u64,
}

impl GrantView {
    /// The view of `g`.
    pub fn new(g: &d::Grant, m: &d::Model) -> Self {
        let (role_id, permission_id) = match &g.target {
            d::GrantTarget::Role(k) => (Some(k.id.to_string()), None),
            d::GrantTarget::Permission(p) => (None, Some(*p)),
        };
        Self {
            id: g.id.0,
            user_id: g.holder.user().map(|u| u.0),
            group_id: g.holder.group().map(|x| x.0),
            role_id,
            permission: permission_id.and_then(|p| m.permission(p).map(|p| p.code.to_string())),
            permission_id: permission_id.map(|p| p.0),
            scope: ScopeView::from(&g.scope),
            expires_at: g.expires_at.map(ts),
            created_at: ts(g.created_at),
            created_by: g.created_by.map(|u| u.0),
            revision: g.revision,
        }
    }
}

/// A group: users of one organization who hold the group's grants
/// together.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// Unique in the organization (case-insensitively).
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub created_by: Option<Uuid>,
    pub updated_at: String,
    pub revision: u64,
}

impl From<&d::Group> for GroupView {
    fn from(g: &d::Group) -> Self {
        Self {
            id: g.id.0,
            organization_id: g.organization_id.0,
            name: g.name.to_string(),
            description: g.description.clone(),
            created_at: ts(g.created_at),
            created_by: g.created_by.map(|u| u.0),
            updated_at: ts(g.updated_at),
            revision: g.revision,
        }
    }
}

/// A user's membership of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupMemberView {
    pub group_id: Uuid,
    pub user_id: Uuid,
    /// When the membership stops counting; `null`: never.
    pub expires_at: Option<String>,
    /// When the user was added.
    pub created_at: String,
    pub created_by: Option<Uuid>,
    pub revision: u64,
}

impl From<&d::GroupMember> for GroupMemberView {
    fn from(m: &d::GroupMember) -> Self {
        Self {
            group_id: m.group_id.0,
            user_id: m.user_id.0,
            expires_at: ots(m.expires_at),
            created_at: ts(m.created_at),
            created_by: m.created_by.map(|u| u.0),
            revision: m.revision,
        }
    }
}

/// A group a user is a member of, with that membership's expiry.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserGroupView {
    /// The group's id.
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub description: String,
    /// The group's revision.
    pub revision: u64,
    /// When the user's membership stops counting; `null`: never.
    pub expires_at: Option<String>,
    /// When the user was added.
    pub member_since: String,
    /// The membership's revision (for `If-Match` on
    /// `PATCH /v1/groups/{id}/members/{user_id}`).
    pub membership_revision: u64,
}

impl UserGroupView {
    /// The view of group `g` with `m`, a membership of it.
    pub fn new(g: &d::Group, m: &d::GroupMember) -> Self {
        Self {
            id: g.id.0,
            organization_id: g.organization_id.0,
            name: g.name.to_string(),
            description: g.description.clone(),
            revision: g.revision,
            expires_at: ots(m.expires_at),
            member_since: ts(m.created_at),
            membership_revision: m.revision,
        }
    }
}

/// An API key (the secret appears only in the creation response).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    /// Public key id.
    pub key_id: String,
    /// The secret, only when just created. Send it as `Authorization: Bearer <key>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub user_id: Uuid,
    pub name: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The permission codes the key acts for; `null`: everything its user holds.
    pub scopes: Option<Vec<String>>,
    /// When the key last authenticated a request (recorded at most once a
    /// minute); `null` if never.
    pub last_used_at: Option<String>,
    pub revision: u64,
}

impl ApiKeyView {
    /// The view of `k` in `model`, last used at `last_used_at`.
    pub fn new(k: &d::ApiKey, model: &d::Model, last_used_at: Option<OffsetDateTime>) -> Self {
        Self {
            id: k.id.0,
            key_id: k.key_id.clone(),
            key: None,
            user_id: k.user_id.0,
            name: k.name.to_string(),
            created_at: ts(k.created_at),
            expires_at: ots(k.expires_at),
            revoked_at: ots(k.revoked_at),
            scopes: k.scopes.as_ref().map(|s| {
                s.iter()
                    .map(|p| roster_domain::rules::code_of(model, *p))
                    .collect()
            }),
            last_used_at: ots(last_used_at),
            revision: k.revision,
        }
    }
}

/// Schema of an identity provider's `user_claim`.
pub fn user_claim() -> Object {
    closed(&["sub", "email"], false, "`sub` (default) or `email`.")
}
/// Schema of an identity provider's `user_claim` in a request.
pub fn new_user_claim() -> Object {
    closed(&["sub", "email"], true, "`sub` (default) or `email`.")
}
/// Schema of an identity provider's `algorithms`.
pub fn algorithms() -> utoipa::openapi::schema::Array {
    let names: Vec<&str> = d::JwsAlgorithm::ALL.iter().map(|a| a.as_str()).collect();
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(closed(&names, false, "An asymmetric JWS algorithm."))
        .min_items(Some(1))
        .build()
}

/// An organization's identity provider: tokens its `issuer` signs with one
/// of its keys act as a user of its organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityProviderView {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// Unique in the organization; the key of the users' `external_ids`
    /// entry that `sub` is matched against.
    pub name: String,
    /// The `iss` of its tokens.
    pub issuer: String,
    /// The `aud` its tokens must contain.
    pub audience: String,
    /// Where its keys are fetched from; `null` when they are inline.
    pub jwks_uri: Option<String>,
    /// Its keys, inline (a JWK Set); `null` when fetched from `jwks_uri`.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// The algorithms its tokens may use.
    #[schema(schema_with = algorithms)]
    pub algorithms: Vec<String>,
    /// Which claim names the user: `sub` (through `external_ids[name]`) or
    /// `email` (only when `email_verified`).
    #[schema(schema_with = user_claim)]
    pub user_claim: String,
    pub revision: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&d::IdentityProvider> for IdentityProviderView {
    fn from(p: &d::IdentityProvider) -> Self {
        let (jwks_uri, jwks) = match &p.keys {
            d::KeySource::JwksUri(u) => (Some(u.to_string()), None),
            d::KeySource::Jwks(j) => (None, Some(j.as_json().clone())),
        };
        Self {
            id: p.id.0,
            organization_id: p.organization_id.0,
            name: p.name.to_string(),
            issuer: p.issuer.to_string(),
            audience: p.audience.to_string(),
            jwks_uri,
            jwks,
            algorithms: p.algorithms.iter().map(|a| a.as_str().to_owned()).collect(),
            user_claim: p.user_claim.as_str().to_owned(),
            revision: p.revision,
            created_at: ts(p.created_at),
            updated_at: ts(p.updated_at),
        }
    }
}

/// An audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub seq: i64,
    pub at: String,
    /// Who acted; `null` when the system did (bootstrap, the expiry
    /// sweeper, a failed authentication).
    pub actor_id: Option<Uuid>,
    pub action: String,
    /// Why the system acted on its own: `expired` for the expiry sweeper's
    /// `grant.expire` and `group_member.expire`; else `null`.
    pub reason: Option<String>,
    pub target_type: String,
    pub target_id: String,
    /// The user or group whose access the change alters (a grant's holder,
    /// a membership's or group membership's user, a user); else `null`.
    pub subject_id: Option<String>,
    pub organization_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    /// The object before the change; `null` for a creation.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The object after the change; `null` for a deletion.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub revision: u64,
}

impl From<&d::AuditEvent> for AuditEventView {
    fn from(e: &d::AuditEvent) -> Self {
        Self {
            seq: e.seq,
            at: ts(e.at),
            actor_id: e.actor_id.map(|u| u.0),
            action: e.action.clone(),
            reason: e.reason.clone(),
            target_type: e.target_type.clone(),
            target_id: e.target_id.clone(),
            subject_id: e.subject_id.clone(),
            organization_id: e.organization_id.map(|o| o.0),
            account_id: e.account_id.map(|a| a.0),
            before: e.before.clone(),
            after: e.after.clone(),
            request_id: e.request_id.clone(),
            revision: e.revision,
        }
    }
}

/// An event of the feed (see `docs/events.md`).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Unique id (UUIDv7), the same wherever the event is delivered.
    pub id: Uuid,
    /// Position in the feed: strictly increasing in commit order, no gaps.
    pub seq: i64,
    /// What happened: one of the event types, e.g. `grant.created` or
    /// `access.changed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change was committed (RFC 3339).
    pub occurred_at: String,
    /// The revision the change produced.
    pub revision: u64,
    /// The organization concerned; `null` for Roster-wide objects.
    pub organization_id: Option<Uuid>,
    /// The account concerned, if any.
    pub account_id: Option<Uuid>,
    /// Who acted; `null` when the system did (bootstrap, the expiry sweeper).
    pub actor_id: Option<Uuid>,
    /// The request that made the change.
    pub request_id: Option<String>,
    /// The event's own data: `object` (and `previous`, `subject_id`,
    /// `reason`) for an entity event; `user_id`, `organization_id`,
    /// `gained` and `lost` for `access.changed`; the role or group, `users`,
    /// `gained` and `lost` for `access.changed.bulk`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<&d::Event> for EventView {
    fn from(e: &d::Event) -> Self {
        Self {
            id: e.id,
            seq: e.seq,
            kind: e.kind.clone(),
            occurred_at: ts(e.occurred_at),
            revision: e.revision,
            organization_id: e.organization_id.map(|o| o.0),
            account_id: e.account_id.map(|a| a.0),
            actor_id: e.actor_id.map(|u| u.0),
            request_id: e.request_id.clone(),
            data: e.data.clone(),
        }
    }
}

/// An answer of `GET /v1/events`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The events after `after`, by `seq` (empty when none came within `wait`).
    pub items: Vec<EventView>,
    /// Pass as `after` to read on: the `seq` of the last item, else the
    /// `after` asked with.
    pub next_after: i64,
}

/// An organization's webhook subscription. Its secrets are never shown
/// again after creation or rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// Where events are POSTed.
    pub url: String,
    /// `["*"]` for every event of the organization, else the types sent.
    pub event_types: Vec<String>,
    pub description: String,
    /// Whether events are delivered.
    pub enabled: bool,
    /// `failing` when Roster disabled it after its endpoint failed for too
    /// long; `null` otherwise.
    pub disabled_reason: Option<String>,
    /// When each secret that still signs stops signing, the current one
    /// first (`null`: the current secret).
    pub secrets_expire_at: Vec<Option<String>>,
    pub revision: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&d::Webhook> for WebhookView {
    fn from(w: &d::Webhook) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            id: w.id.0,
            organization_id: w.organization_id.0,
            url: w.url.to_string(),
            event_types: w.event_types.to_vec(),
            description: w.description.clone(),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone(),
            secrets_expire_at: w.live_secrets(now).map(|s| s.expires_at.map(ts)).collect(),
            revision: w.revision,
            created_at: ts(w.created_at),
            updated_at: ts(w.updated_at),
        }
    }
}

/// A webhook subscription with its new secret: shown once, on creation
/// and on rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecretView {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The signing secret (`whsec_…`), shown this once.
    pub secret: String,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryView {
    pub id: i64,
    pub attempted_at: String,
    /// The event's `seq`.
    pub event_seq: i64,
    /// The event's id (its `webhook-id`).
    pub event_id: Uuid,
    pub event_type: String,
    /// 1 for the event's first attempt, then 2, …
    pub attempt: u32,
    /// The answer's status; `null` when none came.
    pub status: Option<u16>,
    /// Why it failed; `null` when it was delivered.
    pub error: Option<String>,
    pub duration_ms: u64,
    /// When the event is tried again; `null` once delivered or given up.
    pub next_retry_at: Option<String>,
}

impl From<&roster_store::WebhookDelivery> for WebhookDeliveryView {
    fn from(d: &roster_store::WebhookDelivery) -> Self {
        Self {
            id: d.id,
            attempted_at: ts(d.attempted_at),
            event_seq: d.event_seq,
            event_id: d.event_id,
            event_type: d.event_type.clone(),
            attempt: d.attempt,
            status: d.status,
            error: d.error.clone(),
            duration_ms: d.duration_ms,
            next_retry_at: d.next_retry_at.map(ts),
        }
    }
}
