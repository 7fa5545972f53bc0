-- Organizations' identity providers (SPEC §3.3). A provider's name is the
-- key of its users' `external_ids` entry, so it is unique within its
-- organization; issuers are not unique (several organizations may trust
-- one issuer, each with its own audience and users). Exactly one of
-- `jwks_uri` and `jwks` says where its public keys come from.
CREATE TABLE identity_providers (
    id              UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    audience        TEXT NOT NULL,
    jwks_uri        TEXT,
    jwks            JSON,
    algorithms      JSON NOT NULL,
    user_claim      TEXT NOT NULL CHECK (user_claim IN ('sub', 'email')),
    created_at      TIMESTAMPTZ NOT NULL,
    created_by      UUID,
    updated_at      TIMESTAMPTZ NOT NULL,
    revision        BIGINT NOT NULL,
    CHECK ((jwks_uri IS NULL) <> (jwks IS NULL)),
    UNIQUE (organization_id, name)
);
