-- One approval per approver per request version: UNIQUE (request_id, approver_id) means nobody
-- counts twice, even when two of their clicks race. An edit creates a new request version, so
-- approvals of the old version simply stop counting.
CREATE TABLE approvals (
    id            TEXT PRIMARY KEY,
    request_id    TEXT NOT NULL REFERENCES transfer_requests (id),
    approver_id   TEXT NOT NULL REFERENCES approvers (id),
    decision      TEXT NOT NULL,
    payload_hash  TEXT NOT NULL,
    step_up_at    BIGINT,
    token_jti     TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    UNIQUE (request_id, approver_id)
);

-- Approval tokens are single use: the first action that presents one records its jti here.
CREATE TABLE used_approval_tokens (
    jti          TEXT PRIMARY KEY,
    approver_id  TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    used_at      BIGINT NOT NULL
);
