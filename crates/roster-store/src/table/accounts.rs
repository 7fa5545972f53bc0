//! `accounts`: an organization's accounts, the places users are members of.

use super::{col, Cols, Column, Decoder, Encoder, Table};
use crate::error::StoreError;
use roster_domain::{
    Account, AccountId, AccountStatus, AccountType, Change, DisplayName, OrganizationId,
};

/// The `accounts` table.
#[derive(Debug)]
pub(crate) struct Accounts;

impl Table for Accounts {
    const NAME: &'static str = "accounts";
    const COLUMNS: &'static [Column] = &[
        col("id"),
        col("organization_id"),
        col("name"),
        col("type"),
        col("status"),
        col("revision"),
        col("created_at"),
        col("updated_at"),
    ];
    const KEY: &'static [&'static str] = &["id"];
    type Written = Account;
    type Read = Change;

    fn encode<'a>(a: &'a Account, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(a.id.0)
            .uuid(a.organization_id.0)
            .str(a.name.as_str())
            .str(a.kind.as_str())
            .str(a.status.as_str())
            .rev(a.revision)?
            .ts(a.created_at)
            .ts(a.updated_at);
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        Ok(Change::PutAccount(Account {
            id: AccountId(row.uuid()?),
            organization_id: OrganizationId(row.uuid()?),
            name: row.parse(DisplayName::parse)?,
            kind: row.parse(|s| AccountType::parse("type", s))?,
            status: row.parse(|s| AccountStatus::parse("status", s))?,
            revision: row.rev()?,
            created_at: row.ts()?,
            updated_at: row.ts()?,
        }))
    }
}
