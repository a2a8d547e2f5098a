-- Plaid's transfer events (issue 12): every event /transfer/event/sync returned, stored once.
-- event_id is Plaid's sequential id and the sync's durable cursor: the next sync asks for events
-- after the highest stored. request_id links the events of transfers Countersign created.
CREATE TABLE transfer_events (
    event_id             BIGINT PRIMARY KEY,
    transfer_id          TEXT NOT NULL,
    event_type           TEXT NOT NULL,
    occurred_at          TEXT NOT NULL,
    failure_code         TEXT,
    failure_description  TEXT,
    request_id           TEXT REFERENCES transfer_requests (id),
    plaid_request_id     TEXT NOT NULL,
    synced_at            BIGINT NOT NULL
);
CREATE INDEX transfer_events_by_transfer ON transfer_events (transfer_id, event_id);

-- Why Plaid failed or returned the transfer (ACH return code, e.g. R01, and its description).
ALTER TABLE transfer_requests ADD COLUMN transfer_failure_code TEXT;
ALTER TABLE transfer_requests ADD COLUMN transfer_failure_description TEXT;

-- Work one replica at a time: a named lease, taken by compare-and-set and given up or let lapse.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
INSERT INTO leases (name, holder, expires_at) VALUES ('transfer_event_sync', '', 0);

-- Item health as Plaid's ITEM webhooks report it: why (an error code or webhook code) and since when.
ALTER TABLE items ADD COLUMN health_reason TEXT;
ALTER TABLE items ADD COLUMN health_changed_at BIGINT;
