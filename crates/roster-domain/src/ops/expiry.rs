//! The expiry sweep: what the system does when grants and group
//! memberships expire. Checks ignore them from their expiry on with no
//! write (SPEC §2.1); the sweep then removes them as ordinary changes, so
//! that stored state, lookups and the audit trail agree.

use crate::draft::Draft;
use crate::error::DomainError;
use crate::model::{Expiring, Moment};
use crate::ops::{expire_grant, expire_group_member};

/// Removes the grants and group memberships that have expired at the
/// draft's instant, soonest first, at most `limit` of them (`grant.expire`,
/// `group_member.expire`); returns how many it removed. Only the system
/// sweeps (no actor). Runs on whatever the draft holds, so running it again
/// (on a later draft, or after another process swept) removes only what is
/// still there.
pub fn expire_due(d: &mut Draft<'_>, limit: usize) -> Result<usize, DomainError> {
    if d.actor().is_some() {
        return Err(DomainError::forbidden(
            "only the system removes expired grants and memberships",
        ));
    }
    let due = d.model().expired(Moment::of(d.now()), limit);
    let mut removed = 0;
    for e in due {
        match e {
            Expiring::Grant(k) => {
                if let Some(g) = d.model().grant(k.holder, k.id) {
                    expire_grant(d, &g);
                    removed += 1;
                }
            }
            Expiring::Member(k) => {
                if let Some(m) = d.model().group_member(k.group_id, k.user_id) {
                    expire_group_member(d, &m);
                    removed += 1;
                }
            }
        }
    }
    Ok(removed)
}
