-- The transactional outbox (issue 13): every message to the outside world is a row written in the
-- same transaction as the state change that causes it, so a committed transition always notifies
-- and a rolled-back one never does. Delivery workers on any replica claim due rows (FOR UPDATE SKIP
-- LOCKED plus a lease: a worker that dies mid-send lets its lease lapse and another sends again).
-- id is also the Standard Webhooks `webhook-id`: the same on every retry.
CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,
    channel          TEXT NOT NULL,
    destination      TEXT NOT NULL,
    agent_id         TEXT REFERENCES agents (id),
    approver_id      TEXT,
    request_id       TEXT,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    dedup_key        TEXT UNIQUE,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    lease_holder     TEXT,
    lease_until      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

-- Every delivery attempt: when, what came back (an HTTP status or an error), how long it took.
CREATE TABLE outbox_attempts (
    message_id   TEXT NOT NULL REFERENCES outbox (id),
    attempt      BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    http_status  BIGINT,
    error        TEXT,
    latency_ms   BIGINT NOT NULL,
    PRIMARY KEY (message_id, attempt)
);

-- Agent callbacks: a URL and a Standard Webhooks secret (whsec_…, AES-256-GCM encrypted). After a
-- rotation the previous secret also signs until callback_previous_until, so receivers can switch.
ALTER TABLE agents ADD COLUMN callback_url TEXT;
ALTER TABLE agents ADD COLUMN callback_secret_enc TEXT;
ALTER TABLE agents ADD COLUMN callback_previous_secret_enc TEXT;
ALTER TABLE agents ADD COLUMN callback_previous_until BIGINT;
