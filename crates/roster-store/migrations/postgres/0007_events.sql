-- The event feed: what each committed change tells the applications,
-- numbered without gaps in commit order (`meta.event_seq` is the last
-- number given, advanced under the revision lock by every commit).
ALTER TABLE meta ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE events (
    seq             BIGINT PRIMARY KEY,
    id              UUID NOT NULL,
    type            TEXT NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    revision        BIGINT NOT NULL,
    organization_id UUID,
    account_id      UUID,
    actor_id        UUID,
    request_id      TEXT,
    data            JSON NOT NULL
);
CREATE INDEX events_organization ON events (organization_id, seq);
CREATE INDEX events_occurred ON events (occurred_at);

-- The user or group whose access an audited change alters.
ALTER TABLE audit_events ADD COLUMN subject_id TEXT;
CREATE INDEX audit_events_subject ON audit_events (subject_id, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
