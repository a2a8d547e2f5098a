-- Agent-side idempotency (Idempotency-Key header), scoped to the agent, kept at least 48 hours.
-- A row with no response is in flight; `locked_until` lets a retry take over a request whose
-- process died, resuming it (same Plaid idempotency key) instead of starting a second one.
CREATE TABLE idempotency_keys (
    agent_id         TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    request_id       TEXT,
    response_status  INTEGER,
    response_body    TEXT,
    locked_until     INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (agent_id, idempotency_key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
