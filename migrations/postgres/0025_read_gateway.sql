-- The tiered Plaid read gateway (issue 17).
-- Which read products (accounts, balance, transactions, investments, liabilities, identity,
-- auth) each agent may call; an agent without a row for a product is refused before Plaid is
-- called. unmasked = 1 releases full account numbers / identity details of that product to the
-- agent (every such read is audited as plaid.read.unmasked).
CREATE TABLE agent_read_grants (
    agent_id  TEXT NOT NULL REFERENCES agents (id),
    product   TEXT NOT NULL,
    unmasked  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, product)
);

-- Tier-1 reads (PII: identity, auth) for the approvers' "Recent sensitive reads" page: written in
-- the same transaction as the read's audit record. Account ids are stored masked; never any of
-- the data the read returned.
CREATE TABLE sensitive_reads (
    id                TEXT PRIMARY KEY,
    occurred_at       BIGINT NOT NULL,
    agent_id          TEXT NOT NULL,
    item_id           TEXT NOT NULL,
    product           TEXT NOT NULL,
    tier              BIGINT NOT NULL,
    accounts          TEXT,
    reason            TEXT NOT NULL,
    unmasked          BIGINT NOT NULL,
    outcome           TEXT NOT NULL,
    plaid_request_id  TEXT
);
CREATE INDEX sensitive_reads_recent ON sensitive_reads (occurred_at);

-- Tier-2 reads (a policy may raise identity/auth there): the read waits for one approver, then
-- the agent fetches it once, before fetch_by. request_body is Plaid's request without any
-- credential (the access token is added at fetch time). States: pending_approval -> approved ->
-- fetched, or pending_approval -> rejected; expiry is read from the times, not swept.
CREATE TABLE read_requests (
    id            TEXT PRIMARY KEY,
    agent_id      TEXT NOT NULL REFERENCES agents (id),
    item_id       TEXT NOT NULL REFERENCES items (id),
    product       TEXT NOT NULL,
    request_body  TEXT NOT NULL,
    reason        TEXT NOT NULL,
    thread_id     TEXT,
    state         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    approve_by    BIGINT NOT NULL,
    decided_by    TEXT,
    decided_at    BIGINT,
    fetch_by      BIGINT
);
