-- Roster schema, SQLite flavour. Ids are lowercase hyphenated UUID text,
-- timestamps are UTC RFC 3339 text with exactly six fractional digits
-- (`2024-01-02T03:04:05.123456Z`, so text order is time order), revisions
-- are integers, nested values are JSON text.

-- The single row holding the latest committed revision.
CREATE TABLE meta (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL CHECK (revision >= 0)
) STRICT;
INSERT INTO meta (id, revision) VALUES (1, 0);

CREATE TABLE organizations (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    revision   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    type            TEXT NOT NULL CHECK (type IN ('client', 'vendor', 'operations')),
    status          TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    revision        INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX accounts_organization ON accounts (organization_id);

-- `email_key` is the domain's case-insensitive key (`Email::key`, Unicode
-- lowercase); a live (not soft-deleted) user's key is unique.
CREATE TABLE users (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    email           TEXT NOT NULL,
    email_key       TEXT NOT NULL,
    first_name      TEXT,
    last_name       TEXT,
    phone           TEXT,
    settings        TEXT,
    external_ids    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'invited', 'disabled')),
    created_at      TEXT NOT NULL,
    created_by      TEXT,
    updated_at      TEXT NOT NULL,
    updated_by      TEXT,
    deleted_at      TEXT,
    revision        INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_email_live ON users (email_key) WHERE deleted_at IS NULL;
CREATE INDEX users_organization ON users (organization_id);

CREATE TABLE memberships (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (id),
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    status         TEXT NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    group_names    TEXT NOT NULL,
    invited_at     TEXT,
    joined_at      TEXT,
    last_access_at TEXT,
    created_at     TEXT NOT NULL,
    created_by     TEXT,
    revision       INTEGER NOT NULL,
    UNIQUE (user_id, account_id)
) STRICT;
CREATE INDEX memberships_account ON memberships (account_id);

-- Custom permissions only: the built-ins come from the domain catalogue.
CREATE TABLE permissions (
    id              TEXT PRIMARY KEY NOT NULL,
    code            TEXT NOT NULL,
    description     TEXT NOT NULL,
    organization_id TEXT REFERENCES organizations (id),
    revision        INTEGER NOT NULL,
    UNIQUE (organization_id, code)
) STRICT;

-- Custom roles only: the built-ins come from the domain catalogue.
CREATE TABLE roles (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    id              TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    permission_ids  TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    PRIMARY KEY (organization_id, id)
) STRICT;

-- A grant hands out a role (its organization, NULL for a built-in, and id)
-- or one permission, at a scope (`global`, or a kind with an id).
CREATE TABLE grants (
    id                   TEXT PRIMARY KEY NOT NULL,
    user_id              TEXT NOT NULL REFERENCES users (id),
    role_organization_id TEXT,
    role_id              TEXT,
    permission_id        TEXT,
    scope_kind           TEXT NOT NULL CHECK (scope_kind IN ('global', 'organization', 'accounts', 'account')),
    scope_id             TEXT,
    created_at           TEXT NOT NULL,
    created_by           TEXT,
    revision             INTEGER NOT NULL,
    CHECK ((role_id IS NULL) <> (permission_id IS NULL)),
    CHECK ((scope_kind = 'global') = (scope_id IS NULL))
) STRICT;
CREATE INDEX grants_user ON grants (user_id);

-- Only the secret's hash is kept. `last_used_at` is not part of the domain
-- value: `touch_api_key` writes it, commits leave it alone.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    key_id       TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    created_by   TEXT,
    expires_at   TEXT,
    revoked_at   TEXT,
    revision     INTEGER NOT NULL,
    last_used_at TEXT
) STRICT;

CREATE TABLE audit_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at     TEXT NOT NULL,
    actor_id        TEXT,
    action          TEXT NOT NULL,
    target_type     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    organization_id TEXT,
    account_id      TEXT,
    state_before    TEXT,
    state_after     TEXT,
    request_id      TEXT,
    revision        INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_events_target ON audit_events (target_id, seq);
CREATE INDEX audit_events_organization ON audit_events (organization_id, seq);

-- The change log: one row per committed revision, its changes as the JSON
-- array serde writes for `Vec<Change>`.
CREATE TABLE changes (
    revision INTEGER PRIMARY KEY NOT NULL,
    body     TEXT NOT NULL
) STRICT;
