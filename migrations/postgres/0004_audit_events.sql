-- The append-only, hash-chained audit trail (DESIGN §7).
-- hash = SHA-256(prev_hash || canonical JSON of the record); seq is gap-free because every writer
-- advances the single `audit_head` row under its row lock, which serializes appends across replicas.
CREATE TABLE audit_events (
    seq                    BIGINT PRIMARY KEY,
    event_id               TEXT NOT NULL UNIQUE,
    occurred_at            BIGINT NOT NULL,
    event_type             TEXT NOT NULL,
    transfer_request_id    TEXT,
    agent_id               TEXT,
    thread_id              TEXT,
    plaid_product          TEXT,
    plaid_endpoint         TEXT,
    plaid_item_id          TEXT,
    account_id             TEXT,
    action_type            TEXT,
    risk_tier              BIGINT,
    approval_required      BIGINT,
    approver_id            TEXT,
    approval_timestamp     BIGINT,
    payload_hash           TEXT,
    executed_payload_hash  TEXT,
    plaid_request_id       TEXT,
    outcome                TEXT NOT NULL,
    error_code             TEXT,
    ttl_seconds            BIGINT,
    prev_hash              TEXT NOT NULL,
    hash                   TEXT NOT NULL
);

CREATE INDEX audit_events_by_request ON audit_events (transfer_request_id);

CREATE TABLE audit_head (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only, enforced by the database: row triggers for UPDATE/DELETE, a statement trigger
-- for TRUNCATE (which row triggers do not see).
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_refuse_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();

CREATE TRIGGER audit_events_refuse_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
