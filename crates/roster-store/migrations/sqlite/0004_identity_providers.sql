-- Organizations' identity providers (SPEC §3.3). A provider's name is the
-- key of its users' `external_ids` entry, so it is unique within its
-- organization; issuers are not unique (several organizations may trust
-- one issuer, each with its own audience and users). Exactly one of
-- `jwks_uri` and `jwks` says where its public keys come from.
CREATE TABLE identity_providers (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    audience        TEXT NOT NULL,
    jwks_uri        TEXT,
    jwks            TEXT,
    algorithms      TEXT NOT NULL,
    user_claim      TEXT NOT NULL CHECK (user_claim IN ('sub', 'email')),
    created_at      TEXT NOT NULL,
    created_by      TEXT,
    updated_at      TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    CHECK ((jwks_uri IS NULL) <> (jwks IS NULL)),
    UNIQUE (organization_id, name)
) STRICT;
