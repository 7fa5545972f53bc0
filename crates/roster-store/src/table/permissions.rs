//! `permissions`: the permissions organizations define (the built-in
//! catalogue is not stored).

use super::{col, Cols, Column, Decoder, Encoder, Table};
use crate::error::StoreError;
use roster_domain::{Change, OrganizationId, Permission, PermissionCode, PermissionId};

/// The `permissions` table.
#[derive(Debug)]
pub(crate) struct Permissions;

impl Table for Permissions {
    const NAME: &'static str = "permissions";
    const COLUMNS: &'static [Column] = &[
        col("id"),
        col("code"),
        col("description"),
        col("organization_id"),
        col("revision"),
    ];
    const KEY: &'static [&'static str] = &["id"];
    type Written = Permission;
    type Read = Change;

    fn encode<'a>(p: &'a Permission, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(p.id.0)
            .str(p.code.as_str())
            .str(&p.description)
            .opt_uuid(p.organization_id.map(|o| o.0))
            .rev(p.revision)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        Ok(Change::PutPermission(Permission {
            id: PermissionId(row.uuid()?),
            code: row.parse(PermissionCode::parse)?,
            description: row.string()?,
            organization_id: row.opt_uuid()?.map(OrganizationId),
            revision: row.rev()?,
        }))
    }
}
