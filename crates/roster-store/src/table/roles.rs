//! `roles`: the roles organizations define, keyed by organization and id
//! (the built-in roles are not stored).

use super::{col, json, Cols, Column, Decoder, Encoder, Table};
use crate::backend::Backend;
use crate::error::StoreError;
use roster_domain::{Change, DisplayName, OrganizationId, Role, RoleId, RoleKey};
use sqlx::QueryBuilder;

/// The `roles` table.
#[derive(Debug)]
pub(crate) struct Roles;

impl Table for Roles {
    const NAME: &'static str = "roles";
    const COLUMNS: &'static [Column] = &[
        col("organization_id"),
        col("id"),
        col("name"),
        col("description"),
        json("permission_ids"),
        col("revision"),
    ];
    const KEY: &'static [&'static str] = &["organization_id", "id"];
    type Written = Role;
    type Read = Change;

    fn encode<'a>(r: &'a Role, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        let org = r.organization_id.ok_or_else(|| builtin_role(&r.key()))?;
        row.uuid(org.0)
            .str(r.id.as_str())
            .str(r.name.as_str())
            .str(&r.description)
            .json(&r.permissions)?
            .rev(r.revision)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        Ok(Change::PutRole(Role {
            organization_id: Some(OrganizationId(row.uuid()?)),
            id: row.parse(RoleId::parse)?,
            name: row.parse(DisplayName::parse)?,
            description: row.string()?,
            permissions: row.json()?,
            revision: row.rev()?,
        }))
    }
}

fn builtin_role(k: &RoleKey) -> StoreError {
    StoreError::Invalid(format!("built-in role `{}` is not stored", k.id))
}

/// `DELETE FROM roles WHERE (organization_id = .. AND id = ..) OR ..`.
pub(crate) fn delete<'a, B: Backend>(
    keys: &[&'a RoleKey],
) -> Result<QueryBuilder<'a, B>, StoreError> {
    let mut qb = QueryBuilder::default();
    qb.push("DELETE FROM ");
    qb.push(Roles::NAME);
    qb.push(" WHERE ");
    for (i, k) in keys.iter().enumerate() {
        let org = k.organization_id.ok_or_else(|| builtin_role(k))?;
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push("(organization_id = ");
        B::bind_uuid(&mut qb, Some(org.0));
        qb.push(" AND id = ");
        B::bind_str(&mut qb, Some(k.id.as_str()));
        qb.push(")");
    }
    Ok(qb)
}
