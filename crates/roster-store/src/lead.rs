//! Background work that runs in one process at a time: several replicas
//! share one database, and each such task (the expiry sweeper, webhook delivery) must run on
//! one of them and move to another when that one dies (SPEC §4).
//!
//! [`Store::try_lead`](crate::Store::try_lead) hands out a [`Leadership`].
//! On PostgreSQL it is a session advisory lock held on a connection of its
//! own: the database releases it when the connection ends, whether the
//! leader dropped it, exited or was killed. On SQLite the process always
//! leads (one server per database file).

use async_trait::async_trait;

/// Work that must run in one process at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Singleton {
    /// The expiry sweeper: removes expired grants and group memberships.
    ExpirySweep,
    /// Webhook delivery: sends the feed's events to subscriptions.
    Webhooks,
}

impl Singleton {
    /// The PostgreSQL advisory lock's keys `(class, object)`: the class is
    /// Roster's (`"Rost"`), the object the task. The two-key form never
    /// meets a one-key (`bigint`) lock, such as the migrator's.
    pub(crate) fn lock_keys(self) -> (i32, i32) {
        const CLASS: i32 = 0x526f_7374;
        match self {
            Self::ExpirySweep => (CLASS, 1),
            Self::Webhooks => (CLASS, 2),
        }
    }
}

/// Leadership of a [`Singleton`]: this process runs it while it holds the
/// value. Dropping it gives the leadership up.
#[async_trait]
pub trait Leadership: Send + Sync + std::fmt::Debug {
    /// Whether this process still leads: `false` once the database
    /// connection that holds it is lost (another process may lead by
    /// then). Drop it and ask [`crate::Store::try_lead`] again.
    async fn held(&mut self) -> bool;
}

/// The leadership of a process that is alone on its database (SQLite).
#[derive(Debug)]
pub(crate) struct Sole;

#[async_trait]
impl Leadership for Sole {
    async fn held(&mut self) -> bool {
        true
    }
}
