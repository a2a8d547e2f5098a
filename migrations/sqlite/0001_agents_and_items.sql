-- Agents (programs holding API keys) and the Plaid items they may use.
-- API keys are stored as SHA-256 hashes: they are 256-bit random, so a slow hash adds nothing.
-- Plaid access tokens are AES-256-GCM encrypted (base64 of nonce || ciphertext).
-- Times are milliseconds since the Unix epoch, in every table, on both backends.
CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    owner         TEXT NOT NULL,
    api_key_hash  TEXT NOT NULL UNIQUE,
    all_items     INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE items (
    id                TEXT PRIMARY KEY,
    plaid_item_id     TEXT NOT NULL UNIQUE,
    access_token_enc  TEXT NOT NULL,
    institution_name  TEXT,
    health            TEXT NOT NULL,
    created_at        INTEGER NOT NULL
);

CREATE TABLE item_accounts (
    item_id     TEXT NOT NULL REFERENCES items (id),
    account_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    mask        TEXT,
    subtype     TEXT,
    PRIMARY KEY (item_id, account_id)
);

CREATE TABLE agent_items (
    agent_id  TEXT NOT NULL REFERENCES agents (id),
    item_id   TEXT NOT NULL REFERENCES items (id),
    PRIMARY KEY (agent_id, item_id)
);
