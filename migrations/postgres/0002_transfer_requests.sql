-- One row per transfer request version: the durable pause. No thread or connection waits on it.
-- UNIQUE on the Plaid idempotency key, authorization id and transfer id backs up exactly-once:
-- two rows can never claim the same authorization or transfer.
CREATE TABLE transfer_requests (
    id                              TEXT PRIMARY KEY,
    agent_id                        TEXT NOT NULL REFERENCES agents (id),
    item_id                         TEXT NOT NULL REFERENCES items (id),
    account_id                      TEXT NOT NULL,
    state                           TEXT NOT NULL,
    tier                            BIGINT NOT NULL,
    step_up                         BIGINT NOT NULL,
    approvals_required              BIGINT NOT NULL,
    policy_version                  TEXT NOT NULL,
    policy_reasons                  TEXT NOT NULL,
    intent                          TEXT NOT NULL,
    amount_cents                    BIGINT NOT NULL,
    plaid_idempotency_key           TEXT NOT NULL UNIQUE,
    authorization_id                TEXT UNIQUE,
    decision                        TEXT,
    decision_rationale_code         TEXT,
    decision_rationale_description  TEXT,
    authorized_at                   BIGINT,
    expires_at                      BIGINT,
    payload_hash                    TEXT,
    transfer_id                     TEXT UNIQUE,
    transfer_status                 TEXT,
    link_token                      TEXT,
    error_code                      TEXT,
    error_message                   TEXT,
    rejection_reason                TEXT,
    supersedes                      TEXT REFERENCES transfer_requests (id),
    renews                          TEXT REFERENCES transfer_requests (id),
    version                         BIGINT NOT NULL,
    created_at                      BIGINT NOT NULL,
    updated_at                      BIGINT NOT NULL
);

-- The agent's own list, newest first (ids are time-ordered).
CREATE INDEX transfer_requests_by_agent ON transfer_requests (agent_id, id);
-- The expiry sweeper's scan.
CREATE INDEX transfer_requests_by_state_expiry ON transfer_requests (state, expires_at);
