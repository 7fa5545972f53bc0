//! `api_keys`: users' API keys (only the secret's hash is kept).

use super::{col, json, Cols, Column, Decoder, Encoder, Table};
use crate::backend::Backend;
use crate::error::StoreError;
use roster_domain::{ApiKey, ApiKeyId, Change, DisplayName, UserId};
use sqlx::{Executor, IntoArguments, Pool};
use time::OffsetDateTime;

/// The `api_keys` table. Its `last_used_at` is not part of the domain: a
/// put leaves it alone, and only [`touch`] writes it.
#[derive(Debug)]
pub(crate) struct ApiKeys;

impl Table for ApiKeys {
    const NAME: &'static str = "api_keys";
    const COLUMNS: &'static [Column] = &[
        col("id"),
        col("key_id"),
        col("user_id"),
        col("name"),
        col("secret_hash"),
        col("created_at"),
        col("created_by"),
        col("expires_at"),
        col("revoked_at"),
        json("scopes"),
        col("revision"),
    ];
    const KEY: &'static [&'static str] = &["id"];
    type Written = ApiKey;
    type Read = Change;

    fn encode<'a>(k: &'a ApiKey, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(k.id.0)
            .str(&k.key_id)
            .uuid(k.user_id.0)
            .str(k.name.as_str())
            .str(&k.secret_hash)
            .ts(k.created_at)
            .opt_uuid(k.created_by.map(|i| i.0))
            .opt_ts(k.expires_at)
            .opt_ts(k.revoked_at)
            .opt_json(k.scopes.as_ref())?
            .rev(k.revision)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        Ok(Change::PutApiKey(ApiKey {
            id: ApiKeyId(row.uuid()?),
            key_id: row.string()?,
            user_id: UserId(row.uuid()?),
            name: row.parse(DisplayName::parse)?,
            secret_hash: row.string()?,
            created_at: row.ts()?,
            created_by: row.opt_uuid()?.map(UserId),
            expires_at: row.opt_ts()?,
            revoked_at: row.opt_ts()?,
            scopes: row.opt_json()?,
            revision: row.rev()?,
        }))
    }
}

/// The columns [`last_used`] selects.
const LAST_USED: &[Column] = &[col("id"), col("last_used_at")];

/// When each of `ids` was last used (keys never used are left out).
pub(crate) async fn last_used<B>(
    pool: &Pool<B>,
    ids: &[ApiKeyId],
) -> Result<Vec<(ApiKeyId, OffsetDateTime)>, StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let mut out = Vec::new();
    // Bounded statements: at most 500 ids bound at a time.
    for chunk in ids.chunks(500) {
        let mut qb = sqlx::QueryBuilder::<B>::new(
            "SELECT id, last_used_at FROM api_keys WHERE last_used_at IS NOT NULL AND id IN (",
        );
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            B::bind_uuid(&mut qb, Some(id.0));
        }
        qb.push(")");
        for row in B::build(&mut qb).fetch_all(pool).await? {
            let mut d = Decoder {
                row: &row,
                table: ApiKeys::NAME,
                columns: LAST_USED,
                at: 0,
            };
            out.push((ApiKeyId(d.uuid()?), d.ts()?));
        }
    }
    Ok(out)
}

/// Records that key `id` was used at `at` (outside any commit: not audited,
/// no revision).
pub(crate) async fn touch<B>(
    pool: &Pool<B>,
    id: ApiKeyId,
    at: OffsetDateTime,
) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
{
    let mut qb = sqlx::QueryBuilder::<B>::new("UPDATE api_keys SET last_used_at = ");
    B::bind_ts(&mut qb, at)?;
    qb.push(" WHERE id = ");
    B::bind_uuid(&mut qb, Some(id.0));
    B::build(&mut qb).execute(pool).await?;
    Ok(())
}
