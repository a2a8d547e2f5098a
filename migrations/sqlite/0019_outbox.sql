-- The transactional outbox (issue 13): every message to the outside world is a row written in the
-- same transaction as the state change that causes it, so a committed transition always notifies
-- and a rolled-back one never does. Delivery workers claim due rows through SQLite's one writer
-- plus a lease (a worker that dies mid-send lets its lease lapse and another sends again).
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
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    lease_holder     TEXT,
    lease_until      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

-- Every delivery attempt: when, what came back (an HTTP status or an error), how long it took.
CREATE TABLE outbox_attempts (
    message_id   TEXT NOT NULL REFERENCES outbox (id),
    attempt      INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    http_status  INTEGER,
    error        TEXT,
    latency_ms   INTEGER NOT NULL,
    PRIMARY KEY (message_id, attempt)
);

-- Agent callbacks: a URL and a Standard Webhooks secret (whsec_…, AES-256-GCM encrypted). After a
-- rotation the previous secret also signs until callback_previous_until, so receivers can switch.
ALTER TABLE agents ADD COLUMN callback_url TEXT;
ALTER TABLE agents ADD COLUMN callback_secret_enc TEXT;
ALTER TABLE agents ADD COLUMN callback_previous_secret_enc TEXT;
ALTER TABLE agents ADD COLUMN callback_previous_until INTEGER;
