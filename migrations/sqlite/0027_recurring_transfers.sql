-- Recurring transfers (issue 15.6): the request row carries the intent (its schedule included), the
-- approvals and the Plaid idempotency key, generated and stored before any call; this row is what
-- Plaid created for it, once it did, and what Plaid says of it since (status, occurrences).
CREATE TABLE recurring_transfers (
    request_id              TEXT PRIMARY KEY REFERENCES transfer_requests (id),
    recurring_transfer_id   TEXT NOT NULL UNIQUE,
    status                  TEXT NOT NULL,
    transfer_ids            TEXT NOT NULL,
    next_origination_date   TEXT,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
