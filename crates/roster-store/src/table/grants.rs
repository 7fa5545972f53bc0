//! `grants`: a role or a permission given to a user or a group at a scope,
//! until an optional expiry.

use super::{col, Cols, Column, Decoder, Encoder, Table};
use crate::error::StoreError;
use roster_domain::{
    AccountId, Change, Grant, GrantHolder, GrantId, GrantTarget, GroupId, OrganizationId,
    PermissionId, RoleId, RoleKey, Scope, UserId,
};
use uuid::Uuid;

/// The `grants` table.
#[derive(Debug)]
pub(crate) struct Grants;

impl Table for Grants {
    const NAME: &'static str = "grants";
    const COLUMNS: &'static [Column] = &[
        col("id"),
        // The holder: exactly one of the two.
        col("user_id"),
        col("group_id"),
        // The target: a role (organization and id; no organization for a
        // built-in role) or a permission, never both.
        col("role_organization_id"),
        col("role_id"),
        col("permission_id"),
        col("scope_kind"),
        col("scope_id"),
        col("expires_at"),
        col("created_at"),
        col("created_by"),
        col("revision"),
    ];
    const KEY: &'static [&'static str] = &["id"];
    type Written = Grant;
    type Read = Change;

    fn encode<'a>(g: &'a Grant, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(g.id.0)
            .opt_uuid(g.holder.user().map(|u| u.0))
            .opt_uuid(g.holder.group().map(|x| x.0));
        match &g.target {
            GrantTarget::Role(k) => row
                .opt_uuid(k.organization_id.map(|o| o.0))
                .str(k.id.as_str())
                .opt_uuid(None),
            GrantTarget::Permission(p) => row.opt_uuid(None).opt_str(None).uuid(p.0),
        };
        let (kind, id) = scope_cols(&g.scope);
        row.str(kind)
            .opt_uuid(id)
            .opt_ts(g.expires_at)
            .ts(g.created_at)
            .opt_uuid(g.created_by.map(|i| i.0))
            .rev(g.revision)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        let id = GrantId(row.uuid()?);
        let holder = match (row.opt_uuid()?, row.opt_uuid()?) {
            (Some(u), None) => GrantHolder::User(UserId(u)),
            (None, Some(g)) => GrantHolder::Group(GroupId(g)),
            _ => {
                return Err(StoreError::Corrupt(
                    "grants: exactly one of user_id and group_id must be set".into(),
                ))
            }
        };
        let role_org = row.opt_uuid()?;
        let role_id = row.opt_parse(RoleId::parse)?;
        let permission_id = row.opt_uuid()?;
        let target = match (role_id, permission_id) {
            (Some(id), None) => GrantTarget::Role(RoleKey {
                organization_id: role_org.map(OrganizationId),
                id,
            }),
            (None, Some(p)) => GrantTarget::Permission(PermissionId(p)),
            _ => {
                return Err(StoreError::Corrupt(
                    "grants: exactly one of role_id and permission_id must be set".into(),
                ))
            }
        };
        let scope = parse_scope(row.str()?, row.opt_uuid()?)?;
        Ok(Change::PutGrant(Grant {
            id,
            holder,
            target,
            scope,
            expires_at: row.opt_ts()?,
            created_at: row.ts()?,
            created_by: row.opt_uuid()?.map(UserId),
            revision: row.rev()?,
        }))
    }
}

/// The scope as `(scope_kind, scope_id)`.
fn scope_cols(s: &Scope) -> (&'static str, Option<Uuid>) {
    match *s {
        Scope::Global => ("global", None),
        Scope::Organization(o) => ("organization", Some(o.0)),
        Scope::Accounts(o) => ("accounts", Some(o.0)),
        Scope::Account(a) => ("account", Some(a.0)),
    }
}

fn parse_scope(kind: &str, id: Option<Uuid>) -> Result<Scope, StoreError> {
    let need = |id: Option<Uuid>| {
        id.ok_or_else(|| StoreError::Corrupt(format!("grants.scope_id: missing for `{kind}`")))
    };
    Ok(match kind {
        "global" => Scope::Global,
        "organization" => Scope::Organization(OrganizationId(need(id)?)),
        "accounts" => Scope::Accounts(OrganizationId(need(id)?)),
        "account" => Scope::Account(AccountId(need(id)?)),
        other => return Err(StoreError::Corrupt(format!("grants.scope_kind: `{other}`"))),
    })
}
