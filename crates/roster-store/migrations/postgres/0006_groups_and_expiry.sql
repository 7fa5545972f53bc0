-- Groups (SPEC §1): users of one organization who hold the group's grants
-- together. `name_key` is the lower-cased name, unique in the organization.
CREATE TABLE groups (
    id              UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    name_key        TEXT NOT NULL,
    description     TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    created_by      UUID,
    updated_at      TIMESTAMPTZ NOT NULL,
    revision        BIGINT NOT NULL,
    UNIQUE (organization_id, name_key)
);

-- A user in a group, until `expires_at` when set.
CREATE TABLE group_members (
    group_id   UUID NOT NULL REFERENCES groups (id),
    user_id    UUID NOT NULL REFERENCES users (id),
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    created_by UUID,
    revision   BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- A grant is held by a user or by a group, until `expires_at` when set.
ALTER TABLE grants ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE grants ADD COLUMN group_id UUID REFERENCES groups (id);
ALTER TABLE grants ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE grants ADD CONSTRAINT grants_one_holder CHECK ((user_id IS NULL) <> (group_id IS NULL));
CREATE INDEX grants_group ON grants (group_id);

-- Why the system made a change, when it was not a request (`expired`).
ALTER TABLE audit_events ADD COLUMN reason TEXT;
