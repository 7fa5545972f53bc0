//! `identity_providers`: the issuers whose tokens act as an organization's
//! users. The key source is two columns, exactly one of them set.

use super::{col, json, Cols, Column, Decoder, Encoder, Table};
use crate::error::StoreError;
use roster_domain::{
    Change, IdentityProvider, IdentityProviderId, JwksUri, KeySource, OrganizationId, ProviderName,
    UserClaim, UserId,
};

/// The `identity_providers` table.
#[derive(Debug)]
pub(crate) struct IdentityProviders;

impl Table for IdentityProviders {
    const NAME: &'static str = "identity_providers";
    const COLUMNS: &'static [Column] = &[
        col("id"),
        col("organization_id"),
        col("name"),
        col("issuer"),
        col("audience"),
        col("jwks_uri"),
        json("jwks"),
        json("algorithms"),
        col("user_claim"),
        col("created_at"),
        col("created_by"),
        col("updated_at"),
        col("revision"),
    ];
    const KEY: &'static [&'static str] = &["id"];
    type Written = IdentityProvider;
    type Read = Change;

    fn encode<'a>(p: &'a IdentityProvider, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        let (uri, jwks) = match &p.keys {
            KeySource::JwksUri(u) => (Some(u.as_str()), None),
            KeySource::Jwks(j) => (None, Some(j)),
        };
        row.uuid(p.id.0)
            .uuid(p.organization_id.0)
            .str(p.name.as_str())
            .str(p.issuer.as_str())
            .str(p.audience.as_str())
            .opt_str(uri)
            .opt_json(jwks)?
            .json(&p.algorithms)?
            .str(p.user_claim.as_str())
            .ts(p.created_at)
            .opt_uuid(p.created_by.map(|i| i.0))
            .ts(p.updated_at)
            .rev(p.revision)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        let id = IdentityProviderId(row.uuid()?);
        let organization_id = OrganizationId(row.uuid()?);
        let name = row.parse(ProviderName::parse)?;
        let issuer = row.parse(roster_domain::Issuer::parse)?;
        let audience = row.parse(roster_domain::Audience::parse)?;
        let keys = match (row.opt_parse(JwksUri::parse)?, row.opt_json()?) {
            (Some(u), None) => KeySource::JwksUri(u),
            (None, Some(j)) => KeySource::Jwks(j),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "{}.jwks_uri: exactly one of `jwks_uri` and `jwks` must be set",
                    Self::NAME
                )))
            }
        };
        Ok(Change::PutIdentityProvider(IdentityProvider {
            id,
            organization_id,
            name,
            issuer,
            audience,
            keys,
            algorithms: row.json()?,
            user_claim: row.parse(|s| UserClaim::parse("user_claim", s))?,
            created_at: row.ts()?,
            created_by: row.opt_uuid()?.map(UserId),
            updated_at: row.ts()?,
            revision: row.rev()?,
        }))
    }
}
