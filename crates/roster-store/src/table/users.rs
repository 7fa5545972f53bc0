//! `users`: people, each at home in one organization.

use super::{col, json, write_only, Cols, Column, Decoder, Encoder, Table};
use crate::error::StoreError;
use roster_domain::{Change, Email, OrganizationId, PersonName, User, UserId, UserStatus};

/// The `users` table.
#[derive(Debug)]
pub(crate) struct Users;

impl Table for Users {
    const NAME: &'static str = "users";
    const COLUMNS: &'static [Column] = &[
        col("id"),
        col("organization_id"),
        col("email"),
        // The domain's case-insensitive key (`Email::key`), for the unique
        // index of live emails; the email itself is what is read back.
        write_only("email_key"),
        col("first_name"),
        col("last_name"),
        json("phone"),
        json("settings"),
        json("external_ids"),
        col("status"),
        col("created_at"),
        col("created_by"),
        col("updated_at"),
        col("updated_by"),
        col("deleted_at"),
        col("revision"),
    ];
    const KEY: &'static [&'static str] = &["id"];
    type Written = User;
    type Read = Change;

    fn encode<'a>(u: &'a User, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(u.id.0)
            .uuid(u.organization_id.0)
            .str(u.email.as_str())
            .string(u.email.key())
            .opt_str(u.first_name.as_ref().map(|n| n.as_str()))
            .opt_str(u.last_name.as_ref().map(|n| n.as_str()))
            .opt_json(u.phone.as_ref())?
            .opt_json(u.settings.as_ref())?
            .json(&u.external_ids)?
            .str(u.status.as_str())
            .ts(u.created_at)
            .opt_uuid(u.created_by.map(|i| i.0))
            .ts(u.updated_at)
            .opt_uuid(u.updated_by.map(|i| i.0))
            .opt_ts(u.deleted_at)
            .rev(u.revision)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        Ok(Change::PutUser(User {
            id: UserId(row.uuid()?),
            organization_id: OrganizationId(row.uuid()?),
            email: row.parse(Email::parse)?,
            first_name: row.opt_parse(PersonName::parse)?,
            last_name: row.opt_parse(PersonName::parse)?,
            phone: row.opt_json()?,
            settings: row.opt_json()?,
            external_ids: row.json()?,
            status: row.parse(|s| UserStatus::parse("status", s))?,
            created_at: row.ts()?,
            created_by: row.opt_uuid()?.map(UserId),
            updated_at: row.ts()?,
            updated_by: row.opt_uuid()?.map(UserId),
            deleted_at: row.opt_ts()?,
            revision: row.rev()?,
        }))
    }
}
