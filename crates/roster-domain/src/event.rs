//! The event feed: what a committed change tells the applications.
//!
//! Every write yields, in the same transaction as its changes and audit
//! events ([`crate::Draft::finish`]):
//!
//! - one **entity event** per audit event, typed by the audited action in
//!   the past tense (`user.update` → `user.updated`, `grant.expire` →
//!   `grant.expired`), its `data` the object after the change (before it,
//!   for a removal), the object before it for an update (`previous`), the
//!   user or group whose access it changes (`subject_id`) and, when the
//!   system acted on its own, why (`reason`);
//! - one **`access.changed`** event per user whose access changed, with the
//!   `(permission, scope)` pairs gained and lost ([`crate::impact`]);
//! - for a role or a group whose change alters the access of more than
//!   [`BULK_USERS`] users, one **`access.changed.bulk`** event naming it,
//!   with the difference in what it hands out, instead of one event per
//!   user.
//!
//! Access here is what the *stored* grants and memberships give: an expiry
//! counts when the expiry sweeper removes the grant or membership (within a
//! second of the instant), so the events of one user add up to its
//! effective permissions without a gap or a repeat.

use crate::draft::Context;
use crate::entity::{AuditEvent, GrantHolder, RoleKey};
use crate::ids::{AccountId, GroupId, OrganizationId, PermissionId, UserId};
use crate::impact::{access_of, Causes};
use crate::model::{Model, Moment};
use crate::scope::Scope;
use crate::Revision;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use time::OffsetDateTime;
use uuid::Uuid;

/// More users than this whose access one role or group change alters make
/// one `access.changed.bulk` event instead of one event each.
pub const BULK_USERS: usize = 1_000;

/// The type of a user's access change.
pub const ACCESS_CHANGED: &str = "access.changed";
/// The type of a role's or group's access change reaching many users.
pub const ACCESS_CHANGED_BULK: &str = "access.changed.bulk";

/// Every event type the feed carries, in a stable order (what a filter or
/// a webhook subscription may name).
pub const TYPES: &[&str] = &[
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "account.created",
    "account.updated",
    "account.deleted",
    "user.created",
    "user.updated",
    "user.deleted",
    "membership.created",
    "membership.updated",
    "membership.deleted",
    "permission.created",
    "permission.deleted",
    "role.created",
    "role.updated",
    "role.deleted",
    "grant.created",
    "grant.updated",
    "grant.deleted",
    "grant.expired",
    "group.created",
    "group.updated",
    "group.deleted",
    "group_member.added",
    "group_member.updated",
    "group_member.removed",
    "group_member.expired",
    "api_key.created",
    "api_key.revoked",
    "signing_key.created",
    "signing_key.rotated",
    "signing_key.revoked",
    "signing_key.deleted",
    "identity_provider.created",
    "identity_provider.updated",
    "identity_provider.deleted",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
    "webhook.secret_rotated",
    "webhook.disabled",
    ACCESS_CHANGED,
    ACCESS_CHANGED_BULK,
];

/// One event of the feed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id (UUIDv7), the same on every delivery of the event.
    pub id: Uuid,
    /// Position in the feed: strictly increasing in commit order, without
    /// gaps (assigned by the store when the change commits).
    pub seq: i64,
    /// What happened, e.g. `user.created` or `access.changed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The revision the change produced.
    pub revision: Revision,
    /// The organization concerned (none for Roster-wide objects).
    pub organization_id: Option<OrganizationId>,
    /// The account concerned.
    pub account_id: Option<AccountId>,
    /// Who acted (none for the system).
    pub actor_id: Option<UserId>,
    /// The request that made the change.
    pub request_id: Option<String>,
    /// The event's own data (see the module documentation).
    pub data: Value,
}

/// The event type of an audited action: its verb in the past tense
/// (`user.create` → `user.created`).
pub fn event_type(action: &str) -> String {
    let (object, verb) = action.rsplit_once('.').unwrap_or(("", action));
    let past = match verb {
        "create" => "created",
        "update" => "updated",
        "delete" => "deleted",
        "add" => "added",
        "remove" => "removed",
        "expire" => "expired",
        "revoke" => "revoked",
        "rotate" => "rotated",
        "rotate_secret" => "secret_rotated",
        "disable" => "disabled",
        other => other,
    };
    if object.is_empty() {
        past.to_owned()
    } else {
        format!("{object}.{past}")
    }
}

/// The events of one finished write: its entity events (one per audit
/// event, in order), then its access events. `seq` is left 0 for the store.
pub(crate) fn derive(
    before: &Model,
    after: &Model,
    causes: &Causes,
    audit: &[AuditEvent],
    ctx: &Context,
    revision: Revision,
) -> Vec<Event> {
    let event = |kind: String,
                 organization_id: Option<OrganizationId>,
                 account_id: Option<AccountId>,
                 data: Value| Event {
        id: Uuid::now_v7(),
        seq: 0,
        kind,
        occurred_at: ctx.now,
        revision,
        organization_id,
        account_id,
        actor_id: ctx.actor.as_ref().map(|a| a.user),
        request_id: ctx.request_id.clone(),
        data,
    };
    let mut out: Vec<Event> = audit
        .iter()
        .map(|a| {
            let removed = a.after.is_none();
            let mut data = serde_json::Map::new();
            data.insert(
                "object".into(),
                if removed {
                    a.before.clone()
                } else {
                    a.after.clone()
                }
                .unwrap_or(Value::Null),
            );
            if !removed {
                if let Some(b) = &a.before {
                    data.insert("previous".into(), b.clone());
                }
            }
            if let Some(s) = &a.subject_id {
                data.insert("subject_id".into(), Value::String(s.clone()));
            }
            if let Some(r) = &a.reason {
                data.insert("reason".into(), Value::String(r.clone()));
            }
            event(
                event_type(&a.action),
                a.organization_id,
                a.account_id,
                Value::Object(data),
            )
        })
        .collect();

    // Roles and groups reaching many users are told as one event each;
    // everyone else they reach is told one by one.
    let mut users: BTreeSet<UserId> = causes.users.clone();
    for key in &causes.roles {
        let reached = role_reach(before, after, key);
        if reached.len() > BULK_USERS {
            let (gained, lost) = role_difference(before, after, key);
            let data = json!({
                "role": {"id": key.id, "organization_id": key.organization_id},
                "users": reached.len(),
                "gained": gained,
                "lost": lost,
            });
            out.push(event(
                ACCESS_CHANGED_BULK.into(),
                key.organization_id,
                None,
                data,
            ));
        } else {
            users.extend(reached);
        }
    }
    for group in &causes.groups {
        let reached: BTreeSet<UserId> = before
            .group_member_ids(*group)
            .chain(after.group_member_ids(*group))
            .collect();
        if reached.len() > BULK_USERS {
            let was = group_access(before, *group);
            let is = group_access(after, *group);
            let org = after
                .group(*group)
                .or_else(|| before.group(*group))
                .map(|g| g.organization_id);
            let data = json!({
                "group_id": group,
                "users": reached.len(),
                "gained": pairs(is.difference(&was)),
                "lost": pairs(was.difference(&is)),
            });
            out.push(event(ACCESS_CHANGED_BULK.into(), org, None, data));
        } else {
            users.extend(reached);
        }
    }
    for user in users {
        let was = access_of(before, user, Moment::MIN);
        let is = access_of(after, user, Moment::MIN);
        if was == is {
            continue;
        }
        let org = after
            .user(user)
            .or_else(|| before.user(user))
            .map(|u| u.organization_id);
        let data = json!({
            "user_id": user,
            "organization_id": org,
            "gained": pairs(is.difference(&was)),
            "lost": pairs(was.difference(&is)),
        });
        out.push(event(ACCESS_CHANGED.into(), org, None, data));
    }
    out
}

/// Every user holding role `key` in either model, directly or through a group.
fn role_reach(before: &Model, after: &Model, key: &RoleKey) -> BTreeSet<UserId> {
    let mut users = BTreeSet::new();
    for model in [before, after] {
        let (holders, groups) = model.role_grantees(key);
        users.extend(holders);
        for g in groups {
            users.extend(model.group_member_ids(g));
        }
    }
    users
}

/// The permissions role `key` hands out after and not before (`gained`),
/// and before and not after (`lost`), as `{permission}` objects.
fn role_difference(before: &Model, after: &Model, key: &RoleKey) -> (Vec<Value>, Vec<Value>) {
    let perms = |m: &Model| -> BTreeSet<PermissionId> {
        m.role(key)
            .map(|r| r.permissions.iter().copied().collect())
            .unwrap_or_default()
    };
    let (was, is) = (perms(before), perms(after));
    let list = |d: std::collections::btree_set::Difference<'_, PermissionId>| {
        d.map(|p| json!({ "permission": p })).collect()
    };
    (list(is.difference(&was)), list(was.difference(&is)))
}

/// What group `group`'s stored grants hand out, as `(permission, scope)`.
fn group_access(model: &Model, group: GroupId) -> BTreeSet<(PermissionId, Scope)> {
    let mut out = BTreeSet::new();
    for g in model.grants_of(GrantHolder::Group(group)) {
        for p in model.grant_permissions(&g) {
            out.insert((p, g.scope));
        }
    }
    out
}

/// `(permission, scope)` pairs as `{permission, scope}` objects.
fn pairs<'a>(it: impl Iterator<Item = &'a (PermissionId, Scope)>) -> Vec<Value> {
    it.map(|(p, s)| json!({ "permission": p, "scope": s }))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::{event_type, TYPES};

    /// Every action the domain audits (found in its sources, as a string
    /// literal `"object.verb"` with a verb of [`event_type`]) has a type.
    #[test]
    fn every_audited_action_is_a_listed_type() {
        let verbs = [
            "create",
            "update",
            "delete",
            "add",
            "remove",
            "expire",
            "revoke",
            "rotate",
            "rotate_secret",
            "disable",
        ];
        let mut found = 0;
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for lit in text.split('"').skip(1).step_by(2) {
                    let Some((object, verb)) = lit.rsplit_once('.') else {
                        continue;
                    };
                    if !verbs.contains(&verb)
                        || object.is_empty()
                        || !object.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    {
                        continue;
                    }
                    found += 1;
                    assert!(
                        TYPES.contains(&event_type(lit).as_str()),
                        "{}: `{lit}` has no event type in TYPES",
                        path.display()
                    );
                }
            }
        }
        assert!(found > 20, "only {found} audited actions found");
    }

    #[test]
    fn every_audited_verb_has_a_past_tense() {
        for (action, kind) in [
            ("user.create", "user.created"),
            ("user.update", "user.updated"),
            ("user.delete", "user.deleted"),
            ("group_member.add", "group_member.added"),
            ("group_member.remove", "group_member.removed"),
            ("grant.expire", "grant.expired"),
            ("group_member.expire", "group_member.expired"),
            ("api_key.revoke", "api_key.revoked"),
            ("signing_key.rotate", "signing_key.rotated"),
            ("webhook.rotate_secret", "webhook.secret_rotated"),
            ("webhook.disable", "webhook.disabled"),
        ] {
            assert_eq!(event_type(action), kind, "{action}");
        }
    }
}
