//! A [`Draft`] is one request's private copy of the model. Operations read
//! it, check the rules against it and record their changes (with audit
//! entries) on it; [`Draft::finish`] runs the organization-wide invariants
//! (lockout guard) and hands the result to the writer, which commits it and
//! only then publishes the new model.

use crate::actor::Actor;
use crate::entity::AuditEvent;
use crate::error::DomainError;
use crate::event::{self, Event};
use crate::ids::*;
use crate::impact::Causes;
use crate::model::{Change, Model};
use crate::rules;
use serde::Serialize;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// Who is acting, when, and for which request.
#[derive(Clone, Debug)]
pub struct Context {
    /// The acting user and its credential's scopes; `None` for the system
    /// itself (bootstrap, demo, CLI).
    pub actor: Option<Actor>,
    /// The request id, recorded in audit events.
    pub request_id: Option<String>,
    /// The time of the request.
    pub now: OffsetDateTime,
    /// Why the system acts, when it acts on its own (recorded in audit
    /// events: `expired` for the expiry sweeper).
    pub reason: Option<&'static str>,
}

/// `t` cut to whole microseconds, the precision both stores keep, so that
/// the model a writer publishes equals the model a restart loads.
pub fn to_micros(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.microsecond() * 1000).unwrap_or(t)
}

impl Context {
    /// A system context (no actor: rules are not applied).
    pub fn system(now: OffsetDateTime) -> Self {
        Self {
            actor: None,
            request_id: None,
            now: to_micros(now),
            reason: None,
        }
    }
    /// A context acting as `actor`.
    pub fn user(actor: impl Into<Actor>, request_id: Option<String>, now: OffsetDateTime) -> Self {
        let now = to_micros(now);
        Self {
            actor: Some(actor.into().at(now)),
            request_id,
            now,
            reason: None,
        }
    }
}

/// An audit entry before the store numbers it.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditDraft {
    /// What, e.g. `user.update`.
    pub action: &'static str,
    /// Kind of target.
    pub target_type: &'static str,
    /// Target id.
    pub target_id: String,
    /// Organization concerned.
    pub organization_id: Option<OrganizationId>,
    /// Account concerned.
    pub account_id: Option<AccountId>,
    /// State before.
    pub before: Option<serde_json::Value>,
    /// State after.
    pub after: Option<serde_json::Value>,
}

/// The result of a finished draft: what to commit.
#[derive(Debug)]
pub struct Outcome {
    /// The model after the changes (to publish once committed).
    pub model: Model,
    /// The changes, in order.
    pub changes: Vec<Change>,
    /// Audit events to append in the same transaction.
    pub audit: Vec<AuditEvent>,
    /// Events of the feed to append in the same transaction.
    pub events: Vec<Event>,
    /// The revision this outcome produces (equal to the base revision when
    /// nothing changed).
    pub revision: Revision,
}

/// One request's working copy of the model.
#[derive(Debug)]
pub struct Draft<'c> {
    base: Model,
    model: Model,
    ctx: &'c Context,
    revision: Revision,
    changes: Vec<Change>,
    audit: Vec<AuditDraft>,
    touched_orgs: BTreeSet<OrganizationId>,
    /// Per audit entry, the user or group whose access its change alters.
    subjects: Vec<Option<String>>,
}

/// Serializes an entity for the audit trail.
pub fn snapshot<T: Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

impl<'c> Draft<'c> {
    /// Starts a draft on top of `base` (cheap: the model is shared).
    pub fn new(base: &Model, ctx: &'c Context) -> Self {
        Self {
            base: base.clone(),
            model: base.clone(),
            ctx,
            revision: base.revision() + 1,
            changes: Vec::new(),
            audit: Vec::new(),
            touched_orgs: BTreeSet::new(),
            subjects: Vec::new(),
        }
    }

    /// The current state, including this draft's own changes.
    pub fn model(&self) -> &Model {
        &self.model
    }
    /// The request context.
    pub fn ctx(&self) -> &Context {
        self.ctx
    }
    /// The revision this draft will produce.
    pub fn revision(&self) -> Revision {
        self.revision
    }
    /// The request time.
    pub fn now(&self) -> OffsetDateTime {
        self.ctx.now
    }
    /// The acting user, if any.
    pub fn actor_id(&self) -> Option<UserId> {
        self.ctx.actor.as_ref().map(|a| a.user)
    }
    /// The actor (user and scopes), if any.
    pub fn actor(&self) -> Option<&Actor> {
        self.ctx.actor.as_ref()
    }

    /// Records and applies a change with its audit entry. `org` is the
    /// organization whose invariants the change may affect.
    pub fn record(&mut self, change: Change, org: Option<OrganizationId>, audit: AuditDraft) {
        self.subjects.push(self.subject(&change));
        self.model.apply(&change);
        self.changes.push(change);
        self.audit.push(audit);
        if let Some(o) = org {
            self.touched_orgs.insert(o);
        }
    }

    /// The user or group whose access `change` alters, as the audit trail
    /// and the events name it (`subject_id`): a grant's holder, a
    /// membership's or group membership's user, a user put.
    fn subject(&self, change: &Change) -> Option<String> {
        let id = match change {
            Change::PutGrant(g) => g.holder.describe().1,
            Change::DeleteGrant(k) => k.holder.describe().1,
            Change::PutMembership(m) => m.user_id.to_string(),
            Change::DeleteMembership(id) => self.model.membership(*id)?.user_id.to_string(),
            Change::PutGroupMember(m) => m.user_id.to_string(),
            Change::DeleteGroupMember(k) => k.user_id.to_string(),
            Change::PutUser(u) => u.id.to_string(),
            _ => return None,
        };
        Some(id)
    }

    /// Whether anything was recorded.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Runs the lockout guard (SPEC §2.5) and returns what to commit.
    pub fn finish(mut self) -> Result<Outcome, DomainError> {
        for org in &self.touched_orgs {
            if self.model.organization(*org).is_some()
                && self.base.has_org_admin(*org)
                && !self.model.has_org_admin(*org)
            {
                return Err(DomainError::Lockout {
                    message: format!(
                        "organization `{org}` would have no active user holding `grants:write` on the organization itself"
                    ),
                });
            }
        }
        let revision = if self.changes.is_empty() {
            self.base.revision()
        } else {
            self.revision
        };
        self.model.set_revision(revision);
        let actor = self.ctx.actor.as_ref().map(|a| a.user);
        let request_id = self.ctx.request_id.clone();
        let at = self.ctx.now;
        let audit: Vec<AuditEvent> = self
            .audit
            .into_iter()
            .zip(self.subjects)
            .map(|(a, subject_id)| AuditEvent {
                seq: 0,
                at,
                actor_id: actor,
                action: a.action.to_owned(),
                target_type: a.target_type.to_owned(),
                target_id: a.target_id,
                organization_id: a.organization_id,
                account_id: a.account_id,
                before: a.before,
                after: a.after,
                request_id: request_id.clone(),
                revision,
                reason: self.ctx.reason.map(str::to_owned),
                subject_id,
            })
            .collect();
        let causes = Causes::of(&self.base, &self.model, &self.changes);
        let events = event::derive(&self.base, &self.model, &causes, &audit, self.ctx, revision);
        Ok(Outcome {
            model: self.model,
            changes: self.changes,
            audit,
            events,
            revision,
        })
    }

    // ----- authorization shorthands (the rules live in `rules`) -----------

    /// See [`rules::require`].
    pub fn require(
        &self,
        permission: PermissionId,
        scope: &crate::Scope,
        not_found: (&'static str, String),
    ) -> Result<(), DomainError> {
        rules::require(&self.model, self.actor(), permission, scope, not_found)
    }

    /// See [`rules::reach`].
    pub fn reach(
        &self,
        org: OrganizationId,
        not_found: (&'static str, String),
    ) -> Result<(), DomainError> {
        rules::reach(&self.model, self.actor(), org, not_found)
    }
}
