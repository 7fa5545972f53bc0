//! `changes`: the change log, one row per committed revision with its
//! changes as JSON, which replicas follow.

use super::{col, json, Cols, Column, Decoder, Encoder, Table};
use crate::backend::Backend;
use crate::error::StoreError;
use crate::Commit;
use roster_domain::{Change, Revision};
use sqlx::{Executor, IntoArguments, Pool};

/// The `changes` table.
#[derive(Debug)]
pub(crate) struct Changes;

impl Table for Changes {
    const NAME: &'static str = "changes";
    const COLUMNS: &'static [Column] = &[col("revision"), json("body")];
    const KEY: &'static [&'static str] = &["revision"];
    type Written = Commit;
    type Read = (Revision, Vec<Change>);

    fn encode<'a>(c: &'a Commit, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.rev(c.revision)?.json(&c.changes)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Self::Read, StoreError> {
        Ok((row.rev()?, row.json()?))
    }
}

/// The committed changes with `revision > after`, in order, at most `limit`
/// revisions.
pub(crate) async fn since<B>(
    pool: &Pool<B>,
    after: Revision,
    limit: u32,
) -> Result<Vec<(Revision, Vec<Change>)>, StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut qb = super::select::<B, Changes>();
    qb.push(" WHERE revision > ");
    B::bind_int(&mut qb, i64::try_from(after).unwrap_or(i64::MAX));
    qb.push(" ORDER BY revision LIMIT ");
    B::bind_int(&mut qb, i64::from(limit));
    let rows = B::build(&mut qb).fetch_all(pool).await?;
    rows.iter().map(super::decode::<Changes, _>).collect()
}
