//! Identity providers (SPEC §3.3): an organization registers the issuers
//! whose tokens act as its users. Managing them needs `organizations:write`
//! over the organization, reading them `organizations:read`; another
//! tenant's provider is a `404` like a missing one. [`token_user`] is the
//! rule the server applies to a verified token: which user of the
//! provider's organization it acts as.

use crate::catalogue::perms;
use crate::draft::{snapshot, AuditDraft, Draft};
use crate::entity::{IdentityProvider, User};
use crate::error::DomainError;
use crate::idp::{Algorithms, Audience, Issuer, KeySource, UserClaim};
use crate::ids::{IdentityProviderId, OrganizationId};
use crate::model::{Change, Model};
use crate::ops::Precondition;
use crate::scope::Scope;
use crate::values::ProviderName;
use std::sync::Arc;

/// Most identity providers an organization may register.
pub const MAX_PROVIDERS_PER_ORGANIZATION: usize = 20;

/// Input of [`create_identity_provider`].
#[derive(Clone, Debug)]
pub struct NewIdentityProvider {
    /// The organization.
    pub organization_id: OrganizationId,
    /// Name (unique in the organization).
    pub name: ProviderName,
    /// Issuer.
    pub issuer: Issuer,
    /// Audience.
    pub audience: Audience,
    /// Keys.
    pub keys: KeySource,
    /// Algorithms (default `RS256`, `ES256`, `EdDSA`).
    pub algorithms: Option<Algorithms>,
    /// User claim (default `sub`).
    pub user_claim: Option<UserClaim>,
}

fn not_found(id: IdentityProviderId) -> DomainError {
    DomainError::not_found("identity_provider", id)
}

/// The provider `id`, `404` when missing or out of the actor's reach.
fn find(d: &Draft<'_>, id: IdentityProviderId) -> Result<Arc<IdentityProvider>, DomainError> {
    let p = d
        .model()
        .identity_provider(id)
        .cloned()
        .ok_or_else(|| not_found(id))?;
    d.reach(p.organization_id, ("identity_provider", id.to_string()))?;
    Ok(p)
}

fn require_manage(d: &Draft<'_>, p: &IdentityProvider) -> Result<(), DomainError> {
    d.require(
        perms::organizations_write(),
        &Scope::Organization(p.organization_id),
        ("identity_provider", p.id.to_string()),
    )
}

fn name_taken(
    d: &Draft<'_>,
    org: OrganizationId,
    name: &ProviderName,
    except: Option<IdentityProviderId>,
) -> bool {
    d.model()
        .identity_providers_of(org)
        .any(|p| p.name == *name && Some(p.id) != except)
}

fn audit(
    action: &'static str,
    p: &IdentityProvider,
    before: Option<&IdentityProvider>,
    after: Option<&IdentityProvider>,
) -> AuditDraft {
    AuditDraft {
        action,
        target_type: "identity_provider",
        target_id: p.id.to_string(),
        organization_id: Some(p.organization_id),
        account_id: None,
        before: before.and_then(snapshot),
        after: after.and_then(snapshot),
    }
}

/// Whether the actor may register identity providers for `org`: the
/// create's own `404`/`403`. The server asks it before doing outbound work
/// (resolving a `jwks_uri`) on a request's behalf.
pub fn may_manage_identity_providers(
    d: &Draft<'_>,
    org: OrganizationId,
) -> Result<(), DomainError> {
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    d.require(
        perms::organizations_write(),
        &Scope::Organization(org),
        ("organization", org.to_string()),
    )
}

/// The provider `id` if the actor may change it: the update's own
/// `404`/`403`, asked before outbound work like
/// [`may_manage_identity_providers`].
pub fn managed_identity_provider(
    d: &Draft<'_>,
    id: IdentityProviderId,
) -> Result<Arc<IdentityProvider>, DomainError> {
    let p = find(d, id)?;
    require_manage(d, &p)?;
    Ok(p)
}

/// Registers an identity provider (`organizations:write` over its organization).
pub fn create_identity_provider(
    d: &mut Draft<'_>,
    new: NewIdentityProvider,
) -> Result<Arc<IdentityProvider>, DomainError> {
    let org = new.organization_id;
    may_manage_identity_providers(d, org)?;
    if name_taken(d, org, &new.name, None) {
        return Err(DomainError::conflict(
            "name",
            format!(
                "the organization has an identity provider named `{}`",
                new.name
            ),
        ));
    }
    if d.model().identity_providers_of(org).count() >= MAX_PROVIDERS_PER_ORGANIZATION {
        return Err(DomainError::conflict(
            "organization_id",
            format!("an organization may register at most {MAX_PROVIDERS_PER_ORGANIZATION} identity providers"),
        ));
    }
    let p = IdentityProvider {
        id: IdentityProviderId::new(),
        organization_id: org,
        name: new.name,
        issuer: new.issuer,
        audience: new.audience,
        keys: new.keys,
        algorithms: new.algorithms.unwrap_or_default(),
        user_claim: new.user_claim.unwrap_or_default(),
        created_at: d.now(),
        created_by: d.actor_id(),
        updated_at: d.now(),
        revision: d.revision(),
    };
    d.record(
        Change::PutIdentityProvider(p.clone()),
        None,
        audit("identity_provider.create", &p, None, Some(&p)),
    );
    Ok(Arc::new(p))
}

/// Reads a provider (`organizations:read` over its organization).
pub fn get_identity_provider(
    d: &Draft<'_>,
    id: IdentityProviderId,
) -> Result<Arc<IdentityProvider>, DomainError> {
    let p = find(d, id)?;
    d.require(
        perms::organizations_read(),
        &Scope::Organization(p.organization_id),
        ("identity_provider", id.to_string()),
    )?;
    Ok(p)
}

/// The providers of `org` (`organizations:read` over it), in id order,
/// after `after`, at most `limit`.
pub fn list_identity_providers(
    d: &Draft<'_>,
    org: OrganizationId,
    after: Option<IdentityProviderId>,
    limit: usize,
) -> Result<Vec<Arc<IdentityProvider>>, DomainError> {
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    d.require(
        perms::organizations_read(),
        &Scope::Organization(org),
        ("organization", org.to_string()),
    )?;
    Ok(d.model()
        .identity_providers_of(org)
        .filter(|p| after.is_none_or(|a| p.id > a))
        .take(limit)
        .cloned()
        .collect())
}

/// Changes to a provider; absent fields are left alone. `keys` replaces
/// the key source whole (a `jwks_uri` or a `jwks`, never both).
#[derive(Clone, Debug, Default)]
pub struct IdentityProviderPatch {
    /// New name.
    pub name: Option<ProviderName>,
    /// New issuer.
    pub issuer: Option<Issuer>,
    /// New audience.
    pub audience: Option<Audience>,
    /// New key source.
    pub keys: Option<KeySource>,
    /// New algorithms.
    pub algorithms: Option<Algorithms>,
    /// New user claim.
    pub user_claim: Option<UserClaim>,
}

/// Updates a provider (`organizations:write` over its organization).
pub fn update_identity_provider(
    d: &mut Draft<'_>,
    id: IdentityProviderId,
    patch: IdentityProviderPatch,
    pre: Precondition,
) -> Result<Arc<IdentityProvider>, DomainError> {
    let before = managed_identity_provider(d, id)?;
    pre.check(before.revision)?;
    let mut after = (*before).clone();
    if let Some(n) = patch.name {
        if n != before.name && name_taken(d, before.organization_id, &n, Some(id)) {
            return Err(DomainError::conflict(
                "name",
                format!("the organization has an identity provider named `{n}`"),
            ));
        }
        after.name = n;
    }
    if let Some(v) = patch.issuer {
        after.issuer = v;
    }
    if let Some(v) = patch.audience {
        after.audience = v;
    }
    if let Some(v) = patch.keys {
        after.keys = v;
    }
    if let Some(v) = patch.algorithms {
        after.algorithms = v;
    }
    if let Some(v) = patch.user_claim {
        after.user_claim = v;
    }
    if after == *before {
        return Ok(before);
    }
    after.revision = d.revision();
    after.updated_at = d.now();
    d.record(
        Change::PutIdentityProvider(after.clone()),
        None,
        audit(
            "identity_provider.update",
            &after,
            Some(&before),
            Some(&after),
        ),
    );
    Ok(Arc::new(after))
}

/// Removes a provider (`organizations:write` over its organization); its
/// tokens are refused from the next request on.
pub fn delete_identity_provider(
    d: &mut Draft<'_>,
    id: IdentityProviderId,
    pre: Precondition,
) -> Result<(), DomainError> {
    let before = find(d, id)?;
    require_manage(d, &before)?;
    pre.check(before.revision)?;
    remove(d, &before);
    Ok(())
}

/// Records the removal of `p` (also used when its organization goes).
pub(crate) fn remove(d: &mut Draft<'_>, p: &IdentityProvider) {
    d.record(
        Change::DeleteIdentityProvider(p.id),
        None,
        audit("identity_provider.delete", p, Some(p), None),
    );
}

/// The claims of a verified token that can name its user.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenSubject<'a> {
    /// `sub`.
    pub sub: Option<&'a str>,
    /// `email`.
    pub email: Option<&'a str>,
    /// `email_verified` is true.
    pub email_verified: bool,
}

/// Why a verified token names no user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// The claim the provider maps through is absent.
    #[error("the token has no `{0}` claim")]
    MissingClaim(&'static str),
    /// `user_claim` is `email` and `email_verified` is not true.
    #[error("the token's email is not verified")]
    EmailNotVerified,
    /// No user of the provider's organization matches (a user of another
    /// organization never does).
    #[error("no user of the provider's organization matches the token's subject")]
    UnknownSubject,
    /// Several users of the organization carry the subject in their
    /// `external_ids`: which one is meant cannot be told.
    #[error("several users of the provider's organization match the token's subject")]
    AmbiguousSubject,
    /// The user is invited, disabled or deleted.
    #[error("the token's user is not active")]
    UserInactive,
}

/// The user a token verified against provider `p` acts as: with `sub`,
/// the live user of `p`'s organization whose `external_ids[p.name]` equals
/// it; with `email`, the live user of that organization with that email,
/// and only when the token says the email is verified. Only users of the
/// provider's organization; the user must be active.
pub fn token_user(
    m: &Model,
    p: &IdentityProvider,
    subject: TokenSubject<'_>,
) -> Result<Arc<User>, SubjectError> {
    let org = p.organization_id;
    let id = match p.user_claim {
        UserClaim::Sub => {
            let sub = subject.sub.ok_or(SubjectError::MissingClaim("sub"))?;
            let mut found = m.users_by_external_id(org, p.name.as_str(), sub);
            let first = found.next().ok_or(SubjectError::UnknownSubject)?;
            if found.next().is_some() {
                return Err(SubjectError::AmbiguousSubject);
            }
            first
        }
        UserClaim::Email => {
            let email = subject.email.ok_or(SubjectError::MissingClaim("email"))?;
            if !subject.email_verified {
                return Err(SubjectError::EmailNotVerified);
            }
            let key = crate::values::Email::parse(email)
                .map_err(|_| SubjectError::UnknownSubject)?
                .key();
            m.user_by_email(org, &key)
                .ok_or(SubjectError::UnknownSubject)?
        }
    };
    let user = m.user(id).cloned().ok_or(SubjectError::UnknownSubject)?;
    // INVARIANT: both indexes are per organization; checked again so that a
    // token of A's provider can never act as a user of B.
    if user.organization_id != org {
        return Err(SubjectError::UnknownSubject);
    }
    if !user.is_effective() {
        return Err(SubjectError::UserInactive);
    }
    Ok(user)
}
