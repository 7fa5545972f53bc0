//! Webhook subscriptions: an organization's events POSTed to a URL it
//! registers, signed with the subscription's secrets. Everything here
//! needs `webhooks:write` over the organization (reading a subscription
//! too: it names where the organization's events go); another tenant's
//! subscription is a `404` like a missing one. The secrets are made by the
//! server (random bytes) and handed in; no audit entry or event ever holds
//! one ([`Webhook::snapshot`]).

use crate::catalogue::perms;
use crate::draft::{AuditDraft, Draft};
use crate::entity::Webhook;
use crate::error::DomainError;
use crate::ids::{OrganizationId, WebhookId};
use crate::model::Change;
use crate::ops::Precondition;
use crate::scope::Scope;
use crate::webhook::{EventTypes, WebhookSecret, WebhookSecretKey, WebhookUrl};
use std::sync::Arc;
use time::Duration;

/// Most webhook subscriptions an organization may have.
pub const MAX_WEBHOOKS_PER_ORGANIZATION: usize = 50;

/// How long a secret replaced by a rotation keeps signing beside the new one.
pub const SECRET_OVERLAP: Duration = Duration::hours(24);

/// Most secrets a subscription keeps (a rotation drops the oldest beyond).
pub const MAX_SECRETS: usize = 5;

/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 1000;

/// The `disabled_reason` (and audit `reason`) of a subscription Roster
/// disabled after its endpoint failed for too long.
pub const FAILING: &str = "failing";

/// Input of [`create_webhook`].
#[derive(Clone, Debug)]
pub struct NewWebhook {
    /// The organization whose events it receives.
    pub organization_id: OrganizationId,
    /// Where to.
    pub url: WebhookUrl,
    /// Which events.
    pub event_types: EventTypes,
    /// Free text.
    pub description: String,
    /// Whether to deliver.
    pub enabled: bool,
    /// Its first secret (made by the caller from random bytes).
    pub secret: WebhookSecretKey,
}

/// Changes to a subscription; absent fields are left alone.
#[derive(Clone, Debug, Default)]
pub struct WebhookPatch {
    /// New URL.
    pub url: Option<WebhookUrl>,
    /// New event types.
    pub event_types: Option<EventTypes>,
    /// New description.
    pub description: Option<String>,
    /// Enable or disable (enabling clears `disabled_reason`).
    pub enabled: Option<bool>,
}

/// A description, checked.
pub fn webhook_description(field: &str, s: &str) -> Result<String, DomainError> {
    if s.chars().count() > MAX_DESCRIPTION {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(s.to_owned())
}

fn not_found(id: WebhookId) -> DomainError {
    DomainError::not_found("webhook", id)
}

/// The subscription `id`, `404` when missing or out of the actor's reach,
/// `403` without `webhooks:write` over its organization.
fn find(d: &Draft<'_>, id: WebhookId) -> Result<Arc<Webhook>, DomainError> {
    let w = d
        .model()
        .webhook(id)
        .cloned()
        .ok_or_else(|| not_found(id))?;
    d.reach(w.organization_id, ("webhook", id.to_string()))?;
    d.require(
        perms::webhooks_write(),
        &Scope::Organization(w.organization_id),
        ("webhook", id.to_string()),
    )?;
    Ok(w)
}

fn audit(
    action: &'static str,
    w: &Webhook,
    before: Option<&Webhook>,
    after: Option<&Webhook>,
) -> AuditDraft {
    AuditDraft {
        action,
        target_type: "webhook",
        target_id: w.id.to_string(),
        organization_id: Some(w.organization_id),
        account_id: None,
        // INVARIANT: never the secrets (`Webhook::snapshot` drops them).
        before: before.and_then(Webhook::snapshot),
        after: after.and_then(Webhook::snapshot),
    }
}

/// Whether the actor may manage the webhooks of `org`: the create's own
/// `404`/`403`, asked by the server before it resolves a URL on the
/// caller's behalf.
pub fn may_manage_webhooks(d: &Draft<'_>, org: OrganizationId) -> Result<(), DomainError> {
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    d.reach(org, ("organization", org.to_string()))?;
    d.require(
        perms::webhooks_write(),
        &Scope::Organization(org),
        ("organization", org.to_string()),
    )
}

/// The subscription `id` if the actor may manage it (`webhooks:write`
/// over its organization): reads, the update's outbound check, deliveries
/// and replays.
pub fn managed_webhook(d: &Draft<'_>, id: WebhookId) -> Result<Arc<Webhook>, DomainError> {
    find(d, id)
}

/// Creates a subscription (`webhooks:write` over the organization); at
/// most [`MAX_WEBHOOKS_PER_ORGANIZATION`] per organization (`409`).
pub fn create_webhook(d: &mut Draft<'_>, new: NewWebhook) -> Result<Arc<Webhook>, DomainError> {
    let org = new.organization_id;
    may_manage_webhooks(d, org)?;
    if d.model().webhooks_of(org).count() >= MAX_WEBHOOKS_PER_ORGANIZATION {
        return Err(DomainError::conflict(
            "organization_id",
            format!("an organization may have at most {MAX_WEBHOOKS_PER_ORGANIZATION} webhooks"),
        ));
    }
    let w = Webhook {
        id: WebhookId::new(),
        organization_id: org,
        url: new.url,
        event_types: new.event_types,
        description: new.description,
        enabled: new.enabled,
        secrets: vec![WebhookSecret {
            secret: new.secret,
            created_at: d.now(),
            expires_at: None,
        }],
        disabled_reason: None,
        created_at: d.now(),
        created_by: d.actor_id(),
        created_revision: d.revision(),
        updated_at: d.now(),
        revision: d.revision(),
    };
    d.record(
        Change::PutWebhook(w.clone()),
        None,
        audit("webhook.create", &w, None, Some(&w)),
    );
    Ok(Arc::new(w))
}

/// Reads a subscription (`webhooks:write` over its organization).
pub fn get_webhook(d: &Draft<'_>, id: WebhookId) -> Result<Arc<Webhook>, DomainError> {
    find(d, id)
}

/// The subscriptions of `org` (`webhooks:write` over it), in id order,
/// after `after`, at most `limit`.
pub fn list_webhooks(
    d: &Draft<'_>,
    org: OrganizationId,
    after: Option<WebhookId>,
    limit: usize,
) -> Result<Vec<Arc<Webhook>>, DomainError> {
    may_manage_webhooks(d, org)?;
    Ok(d.model()
        .webhooks_of(org)
        .filter(|w| after.is_none_or(|a| w.id > a))
        .take(limit)
        .cloned()
        .collect())
}

/// Updates a subscription (`webhooks:write`; `If-Match` honoured).
pub fn update_webhook(
    d: &mut Draft<'_>,
    id: WebhookId,
    patch: WebhookPatch,
    pre: Precondition,
) -> Result<Arc<Webhook>, DomainError> {
    let before = find(d, id)?;
    pre.check(before.revision)?;
    let mut after = (*before).clone();
    if let Some(u) = patch.url {
        after.url = u;
    }
    if let Some(t) = patch.event_types {
        after.event_types = t;
    }
    if let Some(s) = patch.description {
        after.description = s;
    }
    if let Some(e) = patch.enabled {
        after.enabled = e;
        if e {
            after.disabled_reason = None;
        }
    }
    if after == *before {
        return Ok(before);
    }
    after.revision = d.revision();
    after.updated_at = d.now();
    d.record(
        Change::PutWebhook(after.clone()),
        None,
        audit("webhook.update", &after, Some(&before), Some(&after)),
    );
    Ok(Arc::new(after))
}

/// Removes a subscription (`webhooks:write`; `If-Match` honoured); its
/// delivery state goes with it.
pub fn delete_webhook(
    d: &mut Draft<'_>,
    id: WebhookId,
    pre: Precondition,
) -> Result<(), DomainError> {
    let before = find(d, id)?;
    pre.check(before.revision)?;
    remove(d, &before);
    Ok(())
}

/// Records the removal of `w` (also used when its organization goes).
pub(crate) fn remove(d: &mut Draft<'_>, w: &Webhook) {
    d.record(
        Change::DeleteWebhook(w.id),
        None,
        audit("webhook.delete", w, Some(w), None),
    );
}

/// Makes `secret` the subscription's current secret (`webhooks:write`;
/// `If-Match` honoured); the one it replaces keeps signing beside it for
/// [`SECRET_OVERLAP`]. Secrets already expired are dropped, and the oldest
/// beyond [`MAX_SECRETS`].
pub fn rotate_webhook_secret(
    d: &mut Draft<'_>,
    id: WebhookId,
    secret: WebhookSecretKey,
    pre: Precondition,
) -> Result<Arc<Webhook>, DomainError> {
    let before = find(d, id)?;
    pre.check(before.revision)?;
    let now = d.now();
    let overlap_until = now + SECRET_OVERLAP;
    let mut secrets = vec![WebhookSecret {
        secret,
        created_at: now,
        expires_at: None,
    }];
    secrets.extend(
        before
            .secrets
            .iter()
            .filter(|s| s.is_live(now))
            .map(|s| WebhookSecret {
                expires_at: Some(s.expires_at.map_or(overlap_until, |e| e.min(overlap_until))),
                ..s.clone()
            }),
    );
    secrets.truncate(MAX_SECRETS);
    let mut after = (*before).clone();
    after.secrets = secrets;
    after.revision = d.revision();
    after.updated_at = now;
    d.record(
        Change::PutWebhook(after.clone()),
        None,
        audit("webhook.rotate_secret", &after, Some(&before), Some(&after)),
    );
    Ok(Arc::new(after))
}

/// Disables a subscription whose endpoint kept failing past the give-up
/// horizon (`disabled_reason` [`FAILING`], audit `webhook.disable`). Only
/// the system does this (the delivery worker); `false` when there was
/// nothing to do (gone, or already disabled).
pub fn disable_failing_webhook(d: &mut Draft<'_>, id: WebhookId) -> Result<bool, DomainError> {
    if d.actor().is_some() {
        return Err(DomainError::forbidden(
            "only the system disables failing webhooks",
        ));
    }
    let Some(before) = d.model().webhook(id).cloned() else {
        return Ok(false);
    };
    if !before.enabled {
        return Ok(false);
    }
    let mut after = (*before).clone();
    after.enabled = false;
    after.disabled_reason = Some(FAILING.to_owned());
    after.revision = d.revision();
    after.updated_at = d.now();
    d.record(
        Change::PutWebhook(after.clone()),
        None,
        audit("webhook.disable", &after, Some(&before), Some(&after)),
    );
    Ok(true)
}
