-- Roster schema, PostgreSQL flavour. Nested values are `json` (kept as
-- written; unlike `jsonb` it accepts every string serde can produce).

-- The single row holding the latest committed revision. Writers lock it
-- (`SELECT ... FOR UPDATE`) first, which serializes them across replicas.
CREATE TABLE meta (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL CHECK (revision >= 0)
);
INSERT INTO meta (id, revision) VALUES (1, 0);

CREATE TABLE organizations (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    revision   BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE accounts (
    id              UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('client', 'vendor', 'operations')),
    status          TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    revision        BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX accounts_organization ON accounts (organization_id);

-- `email_key` is the domain's case-insensitive key (`Email::key`, Unicode
-- lowercase); a live (not soft-deleted) user's key is unique.
CREATE TABLE users (
    id              UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations (id),
    email           TEXT NOT NULL,
    email_key       TEXT NOT NULL,
    first_name      TEXT,
    last_name       TEXT,
    phone           JSON,
    settings        JSON,
    external_ids    JSON NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'invited', 'disabled')),
    created_at      TIMESTAMPTZ NOT NULL,
    created_by      UUID,
    updated_at      TIMESTAMPTZ NOT NULL,
    updated_by      UUID,
    deleted_at      TIMESTAMPTZ,
    revision        BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_live ON users (email_key) WHERE deleted_at IS NULL;
CREATE INDEX users_organization ON users (organization_id);

CREATE TABLE memberships (
    id             UUID PRIMARY KEY,
    user_id        UUID NOT NULL REFERENCES users (id),
    account_id     UUID NOT NULL REFERENCES accounts (id),
    status         TEXT NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    group_names    JSON NOT NULL,
    invited_at     TIMESTAMPTZ,
    joined_at      TIMESTAMPTZ,
    last_access_at TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL,
    created_by     UUID,
    revision       BIGINT NOT NULL,
    UNIQUE (user_id, account_id)
);
CREATE INDEX memberships_account ON memberships (account_id);

-- Custom permissions only: the built-ins come from the domain catalogue.
CREATE TABLE permissions (
    id              UUID PRIMARY KEY,
    code            TEXT NOT NULL,
    description     TEXT NOT NULL,
    organization_id UUID REFERENCES organizations (id),
    revision        BIGINT NOT NULL,
    UNIQUE (organization_id, code)
);

-- Custom roles only: the built-ins come from the domain catalogue.
CREATE TABLE roles (
    organization_id UUID NOT NULL REFERENCES organizations (id),
    id              TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    permission_ids  JSON NOT NULL,
    revision        BIGINT NOT NULL,
    PRIMARY KEY (organization_id, id)
);

-- A grant hands out a role (its organization, NULL for a built-in, and id)
-- or one permission, at a scope (`global`, or a kind with an id).
CREATE TABLE grants (
    id                   UUID PRIMARY KEY,
    user_id              UUID NOT NULL REFERENCES users (id),
    role_organization_id UUID,
    role_id              TEXT,
    permission_id        UUID,
    scope_kind           TEXT NOT NULL CHECK (scope_kind IN ('global', 'organization', 'accounts', 'account')),
    scope_id             UUID,
    created_at           TIMESTAMPTZ NOT NULL,
    created_by           UUID,
    revision             BIGINT NOT NULL,
    CHECK ((role_id IS NULL) <> (permission_id IS NULL)),
    CHECK ((scope_kind = 'global') = (scope_id IS NULL))
);
CREATE INDEX grants_user ON grants (user_id);

-- Only the secret's hash is kept. `last_used_at` is not part of the domain
-- value: `touch_api_key` writes it, commits leave it alone.
CREATE TABLE api_keys (
    id           UUID PRIMARY KEY,
    key_id       TEXT NOT NULL UNIQUE,
    user_id      UUID NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    created_by   UUID,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    revision     BIGINT NOT NULL,
    last_used_at TIMESTAMPTZ
);

CREATE TABLE audit_events (
    seq             BIGSERIAL PRIMARY KEY,
    occurred_at     TIMESTAMPTZ NOT NULL,
    actor_id        UUID,
    action          TEXT NOT NULL,
    target_type     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    organization_id UUID,
    account_id      UUID,
    state_before    JSON,
    state_after     JSON,
    request_id      TEXT,
    revision        BIGINT NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_events_target ON audit_events (target_id, seq);
CREATE INDEX audit_events_organization ON audit_events (organization_id, seq);

-- The change log: one row per committed revision, its changes as the JSON
-- array serde writes for `Vec<Change>`.
CREATE TABLE changes (
    revision BIGINT PRIMARY KEY,
    body     JSON NOT NULL
);
