//! The one commit transaction, the same on every backend: take the write
//! lock, refuse a stale base, write the entity rows, the audit events and
//! the change log, advance the revision, announce it, commit.
//!
//! Its statements are planned before the lock is taken. Consecutive changes
//! of one kind become one upsert (or `DELETE .. WHERE id IN (..)`) of at
//! most [`Backend::MAX_ROWS`] rows; a run is cut where an entity repeats,
//! so the statements apply the changes in exactly their order (PostgreSQL
//! refuses to upsert one row twice in one statement).

use crate::backend::Backend;
use crate::error::StoreError;
use crate::table::accounts::Accounts;
use crate::table::api_keys::ApiKeys;
use crate::table::events::{self, Events};
use crate::table::grants::Grants;
use crate::table::groups::{self, GroupMembers, Groups};
use crate::table::identity_providers::IdentityProviders;
use crate::table::memberships::Memberships;
use crate::table::organizations::Organizations;
use crate::table::permissions::Permissions;
use crate::table::signing_keys::SigningKeys;
use crate::table::users::Users;
use crate::table::webhooks::Webhooks;
use crate::table::{self, audit_events, changes::Changes, meta, roles, roles::Roles};
use crate::value;
use crate::Commit;
use roster_domain::{AuditEvent, Change, Event, OrganizationId, Revision};
use sqlx::{Executor, IntoArguments, Pool, QueryBuilder};
use std::collections::HashSet;
use std::mem::Discriminant;
use uuid::Uuid;

/// Change-log rows per statement (each holds a whole commit's changes).
const CHANGES_PER_STATEMENT: usize = 64;

/// Makes `commits` durable in one transaction on `pool` (see
/// [`crate::Store::commit`]), refused unless the committed revision is
/// still `base`. Returns the audit events with their `seq`.
pub(crate) async fn commit<B>(
    pool: &Pool<B>,
    base: Revision,
    commits: &[Commit],
) -> Result<Vec<AuditEvent>, StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
    (i64,): for<'r> sqlx::FromRow<'r, B::Row>,
{
    let Some(last) = commits.last() else {
        return Ok(Vec::new());
    };
    check_revisions(base, commits)?;
    let last_rev = value::rev_to_i64(last.revision)?;
    // Build every statement before taking the write lock.
    let mut entity_statements = runs(commits.iter().flat_map(|c| &c.changes), B::MAX_ROWS)
        .iter()
        .map(|run| statement::<B>(run))
        .collect::<Result<Vec<_>, _>>()?;
    let events: Vec<&AuditEvent> = commits.iter().flat_map(|c| &c.audit).collect();
    let mut audit_statements = events
        .chunks(B::MAX_ROWS)
        .map(|chunk| Ok((chunk.len(), audit_events::insert::<B>(chunk)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let commit_refs: Vec<&Commit> = commits.iter().collect();
    let mut change_statements = commit_refs
        .chunks(CHANGES_PER_STATEMENT)
        .map(table::insert::<B, Changes>)
        .collect::<Result<Vec<_>, _>>()?;
    let feed: Vec<&Event> = commits.iter().flat_map(|c| &c.events).collect();
    let mut reserve = events::reserve::<B>(feed.len())?;
    let mut set_revision = meta::set_revision::<B>(last_rev);
    let mut announce = B::announce(last_rev);

    let mut tx = pool.begin_with(B::BEGIN_WRITE).await?;
    let applied = async {
        let current: i64 = sqlx::query_scalar(B::LOCK_REVISION)
            .fetch_one(&mut *tx)
            .await?;
        let current = value::revision(current, meta::REVISION)?;
        if current != base {
            return Err(StoreError::Stale { current });
        }
        for qb in &mut entity_statements {
            B::build(qb).execute(&mut *tx).await?;
        }
        let mut seqs = Vec::with_capacity(events.len());
        for (n, qb) in &mut audit_statements {
            let rows = B::build(qb).fetch_all(&mut *tx).await?;
            let got = rows
                .iter()
                .map(audit_events::seq)
                .collect::<Result<_, _>>()?;
            seqs.extend(sorted_seqs(*n, got)?);
        }
        for qb in &mut change_statements {
            B::build(qb).execute(&mut *tx).await?;
        }
        if !feed.is_empty() {
            // The feed's numbers are given under the write lock, so they
            // follow commit order without gaps.
            let row = B::build(&mut reserve).fetch_one(&mut *tx).await?;
            let last = events::reserved(&row)?;
            let numbered = number_events(&feed, last)?;
            let refs: Vec<&Event> = numbered.iter().collect();
            for chunk in refs.chunks(B::MAX_ROWS) {
                let mut qb = table::insert::<B, Events>(chunk)?;
                B::build(&mut qb).execute(&mut *tx).await?;
            }
        }
        B::build(&mut set_revision).execute(&mut *tx).await?;
        if let Some(qb) = &mut announce {
            B::build(qb).execute(&mut *tx).await?;
        }
        Ok(seqs)
    }
    .await;
    match applied {
        Ok(seqs) => {
            tx.commit().await?;
            Ok(numbered(&events, seqs))
        }
        Err(e) => {
            // Nothing of the batch stays; a failed rollback still drops the
            // transaction when the connection is next used.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// Checks that commit `n` (from 0) of a batch on `base` has revision `base + n + 1`.
fn check_revisions(base: Revision, commits: &[Commit]) -> Result<(), StoreError> {
    for (n, c) in commits.iter().enumerate() {
        let want = base.checked_add(n as u64 + 1);
        if want != Some(c.revision) {
            return Err(StoreError::Invalid(format!(
                "commit {n} of a batch on revision {base} has revision {}, expected {}",
                c.revision,
                base.saturating_add(n as u64 + 1)
            )));
        }
    }
    Ok(())
}

/// The sequence numbers an audit insert of `n` rows returned, in insertion
/// order (writers are serialized, so one statement's numbers ascend with its
/// rows).
fn sorted_seqs(n: usize, mut got: Vec<i64>) -> Result<Vec<i64>, StoreError> {
    if got.len() != n {
        return Err(StoreError::Corrupt(format!(
            "inserted {n} audit events but got {} sequence numbers",
            got.len()
        )));
    }
    got.sort_unstable();
    Ok(got)
}

/// The feed's events numbered up to `last`, the last number reserved.
fn number_events(feed: &[&Event], last: i64) -> Result<Vec<Event>, StoreError> {
    let first = last - feed.len() as i64 + 1;
    if first < 1 {
        return Err(StoreError::Corrupt(format!(
            "{}: {last} is less than the {} events just numbered",
            events::EVENT_SEQ,
            feed.len()
        )));
    }
    Ok(feed
        .iter()
        .zip(first..)
        .map(|(e, seq)| Event {
            seq,
            ..(*e).clone()
        })
        .collect())
}

/// The events with their assigned sequence numbers.
fn numbered(events: &[&AuditEvent], seqs: Vec<i64>) -> Vec<AuditEvent> {
    events
        .iter()
        .zip(seqs)
        .map(|(e, seq)| AuditEvent {
            seq,
            ..(*e).clone()
        })
        .collect()
}

// ----- planning -------------------------------------------------------------

/// Identity of the entity a change touches, to cut runs where it repeats.
#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    Id(Uuid),
    Pair(Uuid, Uuid),
    Role(Option<OrganizationId>, &'a str),
}

fn key(c: &Change) -> Key<'_> {
    match c {
        Change::PutOrganization(o) => Key::Id(o.id.0),
        Change::DeleteOrganization(id) => Key::Id(id.0),
        Change::PutAccount(a) => Key::Id(a.id.0),
        Change::DeleteAccount(id) => Key::Id(id.0),
        Change::PutUser(u) => Key::Id(u.id.0),
        Change::PutMembership(m) => Key::Id(m.id.0),
        Change::DeleteMembership(id) => Key::Id(id.0),
        Change::PutPermission(p) => Key::Id(p.id.0),
        Change::DeletePermission(id) => Key::Id(id.0),
        Change::PutRole(r) => Key::Role(r.organization_id, r.id.as_str()),
        Change::DeleteRole(k) => Key::Role(k.organization_id, k.id.as_str()),
        Change::PutGrant(g) => Key::Id(g.id.0),
        Change::DeleteGrant(k) => Key::Id(k.id.0),
        Change::PutApiKey(k) => Key::Id(k.id.0),
        Change::PutSigningKey(k) => Key::Id(k.id.0),
        Change::DeleteSigningKey(id) => Key::Id(id.0),
        Change::PutIdentityProvider(p) => Key::Id(p.id.0),
        Change::DeleteIdentityProvider(id) => Key::Id(id.0),
        Change::PutGroup(g) => Key::Id(g.id.0),
        Change::DeleteGroup(id) => Key::Id(id.0),
        Change::PutGroupMember(m) => Key::Pair(m.group_id.0, m.user_id.0),
        Change::DeleteGroupMember(k) => Key::Pair(k.group_id.0, k.user_id.0),
        Change::PutWebhook(w) => Key::Id(w.id.0),
        Change::DeleteWebhook(id) => Key::Id(id.0),
    }
}

/// Splits changes into runs of one kind, no entity twice, at most `max` changes.
fn runs<'a>(changes: impl IntoIterator<Item = &'a Change>, max: usize) -> Vec<Vec<&'a Change>> {
    let mut out: Vec<Vec<&'a Change>> = Vec::new();
    let mut kind: Option<Discriminant<Change>> = None;
    let mut seen: HashSet<Key<'a>> = HashSet::new();
    for c in changes {
        let d = std::mem::discriminant(c);
        let k = key(c);
        let fits =
            kind == Some(d) && !seen.contains(&k) && out.last().is_some_and(|r| r.len() < max);
        match out.last_mut() {
            Some(run) if fits => run.push(c),
            _ => {
                out.push(vec![c]);
                kind = Some(d);
                seen.clear();
            }
        }
        seen.insert(k);
    }
    out
}

/// The payloads of a run's changes of one variant.
macro_rules! collect {
    ($run:expr, $variant:path) => {
        $run.iter()
            .filter_map(|c| match c {
                $variant(v) => Some(v),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
}

/// The ids of a run's deletions of one variant.
macro_rules! ids {
    ($run:expr, $variant:path) => {
        collect!($run, $variant)
            .iter()
            .map(|i| i.0)
            .collect::<Vec<Uuid>>()
    };
}

/// The statement of one run (from [`runs`]).
fn statement<'a, B: Backend>(run: &[&'a Change]) -> Result<QueryBuilder<'a, B>, StoreError> {
    use table::{delete_by_id, upsert};
    let Some(first) = run.first() else {
        return Err(StoreError::Invalid("empty run".into()));
    };
    match first {
        Change::PutOrganization(_) => {
            upsert::<B, Organizations>(&collect!(run, Change::PutOrganization))
        }
        Change::DeleteOrganization(_) => {
            delete_by_id::<B, Organizations>(&ids!(run, Change::DeleteOrganization))
        }
        Change::PutAccount(_) => upsert::<B, Accounts>(&collect!(run, Change::PutAccount)),
        Change::DeleteAccount(_) => delete_by_id::<B, Accounts>(&ids!(run, Change::DeleteAccount)),
        Change::PutUser(_) => upsert::<B, Users>(&collect!(run, Change::PutUser)),
        Change::PutMembership(_) => upsert::<B, Memberships>(&collect!(run, Change::PutMembership)),
        Change::DeleteMembership(_) => {
            delete_by_id::<B, Memberships>(&ids!(run, Change::DeleteMembership))
        }
        Change::PutPermission(_) => upsert::<B, Permissions>(&collect!(run, Change::PutPermission)),
        Change::DeletePermission(_) => {
            delete_by_id::<B, Permissions>(&ids!(run, Change::DeletePermission))
        }
        Change::PutRole(_) => upsert::<B, Roles>(&collect!(run, Change::PutRole)),
        Change::DeleteRole(_) => roles::delete::<B>(&collect!(run, Change::DeleteRole)),
        Change::PutGrant(_) => upsert::<B, Grants>(&collect!(run, Change::PutGrant)),
        Change::DeleteGrant(_) => {
            let keys = collect!(run, Change::DeleteGrant);
            delete_by_id::<B, Grants>(&keys.iter().map(|k| k.id.0).collect::<Vec<_>>())
        }
        Change::PutApiKey(_) => upsert::<B, ApiKeys>(&collect!(run, Change::PutApiKey)),
        Change::PutSigningKey(_) => upsert::<B, SigningKeys>(&collect!(run, Change::PutSigningKey)),
        Change::DeleteSigningKey(_) => {
            delete_by_id::<B, SigningKeys>(&ids!(run, Change::DeleteSigningKey))
        }
        Change::PutIdentityProvider(_) => {
            upsert::<B, IdentityProviders>(&collect!(run, Change::PutIdentityProvider))
        }
        Change::DeleteIdentityProvider(_) => {
            delete_by_id::<B, IdentityProviders>(&ids!(run, Change::DeleteIdentityProvider))
        }
        Change::PutGroup(_) => upsert::<B, Groups>(&collect!(run, Change::PutGroup)),
        Change::DeleteGroup(_) => delete_by_id::<B, Groups>(&ids!(run, Change::DeleteGroup)),
        Change::PutGroupMember(_) => {
            upsert::<B, GroupMembers>(&collect!(run, Change::PutGroupMember))
        }
        Change::DeleteGroupMember(_) => {
            groups::delete_members::<B>(&collect!(run, Change::DeleteGroupMember))
        }
        Change::PutWebhook(_) => upsert::<B, Webhooks>(&collect!(run, Change::PutWebhook)),
        Change::DeleteWebhook(_) => delete_by_id::<B, Webhooks>(&ids!(run, Change::DeleteWebhook)),
    }
}
