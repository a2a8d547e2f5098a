-- The append-only, hash-chained audit trail (DESIGN §7).
-- hash = SHA-256(prev_hash || canonical JSON of the record); seq is gap-free because every writer
-- advances the single `audit_head` row, which serializes appends across connections and replicas.
CREATE TABLE audit_events (
    seq                    INTEGER PRIMARY KEY,
    event_id               TEXT NOT NULL UNIQUE,
    occurred_at            INTEGER NOT NULL,
    event_type             TEXT NOT NULL,
    transfer_request_id    TEXT,
    agent_id               TEXT,
    thread_id              TEXT,
    plaid_product          TEXT,
    plaid_endpoint         TEXT,
    plaid_item_id          TEXT,
    account_id             TEXT,
    action_type            TEXT,
    risk_tier              INTEGER,
    approval_required      INTEGER,
    approver_id            TEXT,
    approval_timestamp     INTEGER,
    payload_hash           TEXT,
    executed_payload_hash  TEXT,
    plaid_request_id       TEXT,
    outcome                TEXT NOT NULL,
    error_code             TEXT,
    ttl_seconds            INTEGER,
    prev_hash              TEXT NOT NULL,
    hash                   TEXT NOT NULL
);

CREATE INDEX audit_events_by_request ON audit_events (transfer_request_id);

CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only, enforced by the database. (SQLite has no TRUNCATE; DELETE covers it.)
CREATE TRIGGER audit_events_refuse_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_refuse_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
