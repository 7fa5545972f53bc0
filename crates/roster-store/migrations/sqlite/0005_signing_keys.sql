-- Roster's own token signing keys (SPEC §3.3), shared by every replica
-- through this table and the change log. `private_key` is PKCS#8 DER in
-- base64: it leaves the database only to sign tokens, never in an audit
-- event or an API answer.
CREATE TABLE signing_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    algorithm    TEXT NOT NULL CHECK (algorithm IN ('EdDSA', 'ES256')),
    private_key  TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    retired_at   TEXT,
    verify_until TEXT,
    revoked_at   TEXT,
    revision     INTEGER NOT NULL
) STRICT;
