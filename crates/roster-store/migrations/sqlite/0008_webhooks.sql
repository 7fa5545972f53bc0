-- Organizations' webhook subscriptions, and where each one's delivery
-- stands. `secrets` is a JSON array (the current secret first); the
-- delivery state is not part of the model: the process that delivers
-- (one per deployment) owns it.
CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id),
    url              TEXT NOT NULL,
    event_types      TEXT NOT NULL,
    description      TEXT NOT NULL,
    enabled          INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    secrets          TEXT NOT NULL,
    disabled_reason  TEXT,
    created_at       TEXT NOT NULL,
    created_by       TEXT,
    created_revision INTEGER NOT NULL,
    updated_at       TEXT NOT NULL,
    revision         INTEGER NOT NULL
) STRICT;
CREATE INDEX webhooks_organization ON webhooks (organization_id);

-- Per subscription: the last event done (delivered or given up), the
-- attempts at the next one, when to try it again and when it first failed;
-- a replay asked for (`replay_id` set) and not yet taken up by the
-- delivering process.
CREATE TABLE webhook_cursors (
    webhook_id       TEXT PRIMARY KEY NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    last_seq         INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  TEXT,
    first_failure_at TEXT,
    replay_after     INTEGER NOT NULL,
    replay_id        TEXT
) STRICT;

-- Every delivery attempt: when, which event, the answer's status (0: no
-- answer) or the error, how long it took, and when it is tried again.
CREATE TABLE webhook_deliveries (
    id            INTEGER PRIMARY KEY NOT NULL,
    webhook_id    TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    attempted_at  TEXT NOT NULL,
    event_seq     INTEGER NOT NULL,
    event_id      TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    status        INTEGER NOT NULL,
    error         TEXT,
    duration_ms   INTEGER NOT NULL,
    next_retry_at TEXT
) STRICT;
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_attempted ON webhook_deliveries (attempted_at);
