//! `organizations`: the tenants.

use super::{col, Cols, Column, Decoder, Encoder, Table};
use crate::error::StoreError;
use roster_domain::{Change, DisplayName, Organization, OrganizationId, Slug};

/// The `organizations` table.
#[derive(Debug)]
pub(crate) struct Organizations;

impl Table for Organizations {
    const NAME: &'static str = "organizations";
    const COLUMNS: &'static [Column] = &[
        col("id"),
        col("name"),
        col("slug"),
        col("revision"),
        col("created_at"),
        col("updated_at"),
    ];
    const KEY: &'static [&'static str] = &["id"];
    type Written = Organization;
    type Read = Change;

    fn encode<'a>(o: &'a Organization, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(o.id.0)
            .str(o.name.as_str())
            .str(o.slug.as_str())
            .rev(o.revision)?
            .ts(o.created_at)
            .ts(o.updated_at);
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        Ok(Change::PutOrganization(Organization {
            id: OrganizationId(row.uuid()?),
            name: row.parse(DisplayName::parse)?,
            slug: row.parse(Slug::parse)?,
            revision: row.rev()?,
            created_at: row.ts()?,
            updated_at: row.ts()?,
        }))
    }
}
