//! `meta`: one row holding the committed revision, which every commit
//! checks and advances.

use crate::backend::Backend;
use crate::error::StoreError;
use crate::value;
use roster_domain::Revision;
use sqlx::{Executor, IntoArguments, Pool, QueryBuilder};

/// Reads the committed revision (a backend's `Backend::LOCK_REVISION` reads
/// it in a write transaction).
pub(crate) const SELECT_REVISION: &str = "SELECT revision FROM meta WHERE id = 1";

/// What errors call the revision.
pub(crate) const REVISION: &str = "meta.revision";

/// `UPDATE meta SET revision = ..`.
pub(crate) fn set_revision<'a, B: Backend>(revision: i64) -> QueryBuilder<'a, B> {
    let mut qb = QueryBuilder::new("UPDATE meta SET revision = ");
    B::bind_int(&mut qb, revision);
    qb.push(" WHERE id = 1");
    qb
}

/// The committed revision.
pub(crate) async fn revision<B>(pool: &Pool<B>) -> Result<Revision, StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
    (i64,): for<'r> sqlx::FromRow<'r, B::Row>,
{
    let rev: i64 = sqlx::query_scalar(SELECT_REVISION).fetch_one(pool).await?;
    value::revision(rev, REVISION)
}
