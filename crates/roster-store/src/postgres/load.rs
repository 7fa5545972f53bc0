//! Loading the model from PostgreSQL: one task streams and decodes every
//! entity table in one `REPEATABLE READ` snapshot while the loader applies
//! the previous batch.

use crate::error::StoreError;
use crate::load::{self, entity_tables, Loaded};
use futures::TryStreamExt;
use roster_domain::{Change, Model};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Postgres;

/// Rows decoded per message of [`read_changes`].
const LOAD_BATCH: usize = 4096;

/// The whole model at the latest committed revision.
pub(super) async fn load_model(pool: PgPool) -> Result<Model, StoreError> {
    let (send, batches) = tokio::sync::mpsc::channel(4);
    let reader = tokio::spawn(read_changes(pool, send));
    load::assemble(batches, reader, |m, changes: Vec<Change>| {
        for c in &changes {
            m.apply(c);
        }
        Ok(())
    })
    .await
}

/// Reads and decodes every entity table in one snapshot, and returns the
/// revision that snapshot reflects. Stops early (without error) when the
/// loader has gone.
async fn read_changes(
    pool: PgPool,
    send: tokio::sync::mpsc::Sender<Loaded<Vec<Change>>>,
) -> Result<i64, StoreError> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let (rev, sizes) = load::head::<Postgres>(&mut tx).await?;
    if send.send(Loaded::Sizes(sizes)).await.is_err() {
        return Ok(rev);
    }
    for entities in entity_tables::<PgRow>() {
        let sql = format!("SELECT {} FROM {}", entities.select_list(), entities.name);
        let mut rows = sqlx::query(&sql).fetch(&mut *tx);
        let mut batch = Vec::with_capacity(LOAD_BATCH);
        while let Some(row) = rows.try_next().await? {
            batch.push((entities.decode)(&row)?);
            if batch.len() == LOAD_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH));
                if send.send(Loaded::Rows(full)).await.is_err() {
                    return Ok(rev);
                }
            }
        }
        if !batch.is_empty() && send.send(Loaded::Rows(batch)).await.is_err() {
            return Ok(rev);
        }
    }
    tx.rollback().await?;
    Ok(rev)
}
