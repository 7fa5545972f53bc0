//! `signing_keys`: Roster's token signing keys, the private key as base64
//! PKCS#8 DER.

use super::{col, json, Cols, Column, Decoder, Encoder, Table};
use crate::error::StoreError;
use roster_domain::{Change, PrivateKey, SigningAlgorithm, SigningKey, SigningKeyId};

/// The `signing_keys` table.
#[derive(Debug)]
pub(crate) struct SigningKeys;

impl Table for SigningKeys {
    const NAME: &'static str = "signing_keys";
    const COLUMNS: &'static [Column] = &[
        col("id"),
        col("algorithm"),
        col("private_key"),
        json("public_jwk"),
        col("created_at"),
        col("retired_at"),
        col("verify_until"),
        col("revoked_at"),
        col("revision"),
    ];
    const KEY: &'static [&'static str] = &["id"];
    type Written = SigningKey;
    type Read = Change;

    fn encode<'a>(k: &'a SigningKey, row: &mut Encoder<'a>) -> Result<(), StoreError> {
        row.uuid(k.id.0)
            .str(k.algorithm.as_str())
            .string(k.private_key.to_base64())
            .json(&k.public_jwk)?
            .ts(k.created_at)
            .opt_ts(k.retired_at)
            .opt_ts(k.verify_until)
            .opt_ts(k.revoked_at)
            .rev(k.revision)?;
        Ok(())
    }

    fn decode<R: Cols>(row: &mut Decoder<'_, R>) -> Result<Change, StoreError> {
        Ok(Change::PutSigningKey(SigningKey {
            id: SigningKeyId(row.uuid()?),
            algorithm: row.parse(|s| SigningAlgorithm::parse("algorithm", s))?,
            private_key: row.parse(PrivateKey::from_base64)?,
            public_jwk: row.json()?,
            created_at: row.ts()?,
            retired_at: row.opt_ts()?,
            verify_until: row.opt_ts()?,
            revoked_at: row.opt_ts()?,
            revision: row.rev()?,
        }))
    }
}
