-- Roster's own token signing keys (SPEC §3.3), shared by every replica
-- through this table and the change log. `private_key` is PKCS#8 DER in
-- base64: it leaves the database only to sign tokens, never in an audit
-- event or an API answer.
CREATE TABLE signing_keys (
    id           UUID PRIMARY KEY,
    algorithm    TEXT NOT NULL CHECK (algorithm IN ('EdDSA', 'ES256')),
    private_key  TEXT NOT NULL,
    public_jwk   JSON NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    retired_at   TIMESTAMPTZ,
    verify_until TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    revision     BIGINT NOT NULL
);
