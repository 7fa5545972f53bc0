//! Leadership on PostgreSQL: `pg_try_advisory_lock` on a connection of its
//! own, outside the pool (a pooled connection would be handed to other
//! work and keep the lock after the leader gave it up).

use crate::lead::{Leadership, Singleton};
use crate::StoreError;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use std::time::Duration;

/// Longest a liveness probe of the lock's connection may take before the
/// leadership counts as lost (a connection cut without a reset may hang).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A held advisory lock: the connection holding it.
#[derive(Debug)]
pub(crate) struct PgLeadership {
    conn: Option<PgConnection>,
}

/// Takes `task`'s lock on a new connection if no session holds it.
pub(crate) async fn try_lead(
    opts: &PgConnectOptions,
    task: Singleton,
) -> Result<Option<Box<dyn Leadership>>, StoreError> {
    let mut conn = PgConnection::connect_with(opts).await?;
    let (class, object) = task.lock_keys();
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(class)
        .bind(object)
        .fetch_one(&mut conn)
        .await?;
    if got {
        Ok(Some(Box::new(PgLeadership { conn: Some(conn) })))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}

#[async_trait]
impl Leadership for PgLeadership {
    async fn held(&mut self) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        // A session's advisory lock lasts as long as the session: a live
        // connection still holds it.
        let alive =
            tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(&mut *conn))
                .await
                .is_ok_and(|r| r.is_ok());
        if !alive {
            // Closing the socket ends the session, if the server still has it.
            self.conn = None;
        }
        alive
    }
}
