-- The event feed: what each committed change tells the applications,
-- numbered without gaps in commit order (`meta.event_seq` is the last
-- number given, advanced under the write lock by every commit).
ALTER TABLE meta ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE events (
    seq             INTEGER PRIMARY KEY NOT NULL,
    id              TEXT NOT NULL,
    type            TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    organization_id TEXT,
    account_id      TEXT,
    actor_id        TEXT,
    request_id      TEXT,
    data            TEXT NOT NULL
) STRICT;
CREATE INDEX events_organization ON events (organization_id, seq);
CREATE INDEX events_occurred ON events (occurred_at);

-- The user or group whose access an audited change alters.
ALTER TABLE audit_events ADD COLUMN subject_id TEXT;
CREATE INDEX audit_events_subject ON audit_events (subject_id, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
