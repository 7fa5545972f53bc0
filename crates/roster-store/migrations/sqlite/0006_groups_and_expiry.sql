-- Groups (SPEC §1): users of one organization who hold the group's grants
-- together. `name_key` is the lower-cased name, unique in the organization.
CREATE TABLE groups (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    name_key        TEXT NOT NULL,
    description     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    created_by      TEXT,
    updated_at      TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    UNIQUE (organization_id, name_key)
) STRICT;

-- A user in a group, until `expires_at` when set.
CREATE TABLE group_members (
    group_id   TEXT NOT NULL REFERENCES groups (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    expires_at TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT,
    revision   INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
) STRICT;
CREATE INDEX group_members_user ON group_members (user_id);

-- A grant is held by a user or by a group, until `expires_at` when set.
-- SQLite cannot drop a NOT NULL in place: the table is rebuilt.
CREATE TABLE grants_new (
    id                   TEXT PRIMARY KEY NOT NULL,
    user_id              TEXT REFERENCES users (id),
    group_id             TEXT REFERENCES groups (id),
    role_organization_id TEXT,
    role_id              TEXT,
    permission_id        TEXT,
    scope_kind           TEXT NOT NULL CHECK (scope_kind IN ('global', 'organization', 'accounts', 'account')),
    scope_id             TEXT,
    expires_at           TEXT,
    created_at           TEXT NOT NULL,
    created_by           TEXT,
    revision             INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL)),
    CHECK ((role_id IS NULL) <> (permission_id IS NULL)),
    CHECK ((scope_kind = 'global') = (scope_id IS NULL))
) STRICT;
INSERT INTO grants_new (id, user_id, role_organization_id, role_id, permission_id,
                        scope_kind, scope_id, created_at, created_by, revision)
    SELECT id, user_id, role_organization_id, role_id, permission_id,
           scope_kind, scope_id, created_at, created_by, revision
    FROM grants;
DROP TABLE grants;
ALTER TABLE grants_new RENAME TO grants;
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_group ON grants (group_id);

-- Why the system made a change, when it was not a request (`expired`).
ALTER TABLE audit_events ADD COLUMN reason TEXT;
