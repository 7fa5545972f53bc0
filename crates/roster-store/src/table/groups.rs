//! `groups`: users of one organization holding grants together, and
//! `group_members`: who is in which group, until when.

use super::{col, write_only, Cols, Column, Decoder, Encoder, Table};
use crate::backend::Backend;
use crate::error::StoreError;
use roster_domain::{
    Change, DisplayName, Group, GroupId, GroupMember, GroupMemberKey, OrganizationId, UserId,
};
use sqlx::QueryBuilder;

/// The `groups` table.
#[derive(Debug)]
pub(crate) struct Groups;

impl Table for Groups {
    const NAME: &'static str = "groups";
    const COLUMNS: &'static [Column] = &[
        col("id"),
        col("organization_id"),
        col("name"),
        // The lower-cased name, unique in the organization.
        write_only("name_key"),
        col("description"),
        col("created_at"),
        col("created_by"),
        col("updated_at"),
        col("revision"),
    ];
    const KEY: &'static [&'static str] = &["id"];
    type Written = Group;
    type Read = Change;

    fn encode<'a>(g: &'a Group, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(g.id.0)
            .uuid(g.organization_id.0)
            .str(g.name.as_str())
            .string(g.name_key())
            .str(&g.description)
            .ts(g.created_at)
            .opt_uuid(g.created_by.map(|i| i.0))
            .ts(g.updated_at)
            .rev(g.revision)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        Ok(Change::PutGroup(Group {
            id: GroupId(row.uuid()?),
            organization_id: OrganizationId(row.uuid()?),
            name: row.parse(DisplayName::parse)?,
            description: row.string()?,
            created_at: row.ts()?,
            created_by: row.opt_uuid()?.map(UserId),
            updated_at: row.ts()?,
            revision: row.rev()?,
        }))
    }
}

/// The `group_members` table.
#[derive(Debug)]
pub(crate) struct GroupMembers;

impl Table for GroupMembers {
    const NAME: &'static str = "group_members";
    const COLUMNS: &'static [Column] = &[
        col("group_id"),
        col("user_id"),
        col("expires_at"),
        col("created_at"),
        col("created_by"),
        col("revision"),
    ];
    const KEY: &'static [&'static str] = &["group_id", "user_id"];
    type Written = GroupMember;
    type Read = Change;

    fn encode<'a>(m: &'a GroupMember, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(m.group_id.0)
            .uuid(m.user_id.0)
            .opt_ts(m.expires_at)
            .ts(m.created_at)
            .opt_uuid(m.created_by.map(|i| i.0))
            .rev(m.revision)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        Ok(Change::PutGroupMember(GroupMember {
            group_id: GroupId(row.uuid()?),
            user_id: UserId(row.uuid()?),
            expires_at: row.opt_ts()?,
            created_at: row.ts()?,
            created_by: row.opt_uuid()?.map(UserId),
            revision: row.rev()?,
        }))
    }
}

/// `DELETE FROM group_members WHERE (group_id = .. AND user_id = ..) OR ..`.
pub(crate) fn delete_members<'a, B: Backend>(
    keys: &[&'a GroupMemberKey],
) -> Result<QueryBuilder<'a, B>, StoreError> {
    let mut qb = QueryBuilder::default();
    qb.push("DELETE FROM ");
    qb.push(GroupMembers::NAME);
    qb.push(" WHERE ");
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push("(group_id = ");
        B::bind_uuid(&mut qb, Some(k.group_id.0));
        qb.push(" AND user_id = ");
        B::bind_uuid(&mut qb, Some(k.user_id.0));
        qb.push(")");
    }
    Ok(qb)
}
