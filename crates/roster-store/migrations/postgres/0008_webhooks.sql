-- Organizations' webhook subscriptions, and where each one's delivery
-- stands. `secrets` is a JSON array (the current secret first); the
-- delivery state is not part of the model: the process that delivers
-- (one per deployment) owns it.
CREATE TABLE webhooks (
    id               UUID PRIMARY KEY,
    organization_id  UUID NOT NULL REFERENCES organizations (id),
    url              TEXT NOT NULL,
    event_types      JSON NOT NULL,
    description      TEXT NOT NULL,
    enabled          BIGINT NOT NULL CHECK (enabled IN (0, 1)),
    secrets          JSON NOT NULL,
    disabled_reason  TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    created_by       UUID,
    created_revision BIGINT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    revision         BIGINT NOT NULL
);
CREATE INDEX webhooks_organization ON webhooks (organization_id);

-- Per subscription: the last event done (delivered or given up), the
-- attempts at the next one, when to try it again and when it first failed;
-- a replay asked for (`replay_id` set) and not yet taken up by the
-- delivering process.
CREATE TABLE webhook_cursors (
    webhook_id       UUID PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    last_seq         BIGINT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  TIMESTAMPTZ,
    first_failure_at TIMESTAMPTZ,
    replay_after     BIGINT NOT NULL,
    replay_id        UUID
);

-- Every delivery attempt: when, which event, the answer's status (0: no
-- answer) or the error, how long it took, and when it is tried again.
CREATE TABLE webhook_deliveries (
    id            BIGSERIAL PRIMARY KEY,
    webhook_id    UUID NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    attempted_at  TIMESTAMPTZ NOT NULL,
    event_seq     BIGINT NOT NULL,
    event_id      UUID NOT NULL,
    event_type    TEXT NOT NULL,
    attempt       BIGINT NOT NULL,
    status        BIGINT NOT NULL,
    error         TEXT,
    duration_ms   BIGINT NOT NULL,
    next_retry_at TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_attempted ON webhook_deliveries (attempted_at);
