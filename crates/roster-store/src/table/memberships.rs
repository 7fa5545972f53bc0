//! `memberships`: a user in an account, with its groups.

use super::{col, json, Cols, Column, Decoder, Encoder, Table};
use crate::error::StoreError;
use roster_domain::{AccountId, Change, Membership, MembershipId, MembershipStatus, UserId};

/// The `memberships` table.
#[derive(Debug)]
pub(crate) struct Memberships;

impl Table for Memberships {
    const NAME: &'static str = "memberships";
    const COLUMNS: &'static [Column] = &[
        col("id"),
        col("user_id"),
        col("account_id"),
        col("status"),
        json("group_names"),
        col("invited_at"),
        col("joined_at"),
        col("last_access_at"),
        col("created_at"),
        col("created_by"),
        col("revision"),
    ];
    const KEY: &'static [&'static str] = &["id"];
    type Written = Membership;
    type Read = Change;

    fn encode<'a>(m: &'a Membership, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(m.id.0)
            .uuid(m.user_id.0)
            .uuid(m.account_id.0)
            .str(m.status.as_str())
            .json(&m.groups)?
            .opt_ts(m.invited_at)
            .opt_ts(m.joined_at)
            .opt_ts(m.last_access_at)
            .ts(m.created_at)
            .opt_uuid(m.created_by.map(|i| i.0))
            .rev(m.revision)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        Ok(Change::PutMembership(Membership {
            id: MembershipId(row.uuid()?),
            user_id: UserId(row.uuid()?),
            account_id: AccountId(row.uuid()?),
            status: row.parse(|s| MembershipStatus::parse("status", s))?,
            groups: row.json()?,
            invited_at: row.opt_ts()?,
            joined_at: row.opt_ts()?,
            last_access_at: row.opt_ts()?,
            created_at: row.ts()?,
            created_by: row.opt_uuid()?.map(UserId),
            revision: row.rev()?,
        }))
    }
}
