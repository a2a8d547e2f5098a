-- Risk policy as a file (issue 14).

-- Approver groups ("one of finance and one of ops"): a JSON list per approver, and on each
-- request the groups its approvals must come from (one per approval, or one for all).
ALTER TABLE approvers ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE transfer_requests ADD COLUMN approver_groups TEXT NOT NULL DEFAULT '[]';
-- A rule may give approvers less time than Plaid's window: seconds after the authorization.
ALTER TABLE transfer_requests ADD COLUMN approval_ttl_secs INTEGER;

-- Rolling windows read an agent's and an account's recent requests.
CREATE INDEX transfer_requests_by_agent_created ON transfer_requests (agent_id, created_at);
CREATE INDEX transfer_requests_by_account_created ON transfer_requests (item_id, account_id, created_at);

-- One row per agent and per account, locked (FOR UPDATE, PostgreSQL) by a proposal while it reads
-- its windows and inserts: concurrent proposals, on any replica, see each other. SQLite's one
-- writer serializes them already.
CREATE TABLE policy_window_locks (
    scope_key  TEXT PRIMARY KEY
);

-- Where the shadow policy (COUNTERSIGN_POLICY_SHADOW_FILE) disagreed with the active one. Not
-- enforced; shown to compliance. request_id is empty when the active policy denied the proposal.
CREATE TABLE policy_shadow_differences (
    id                TEXT PRIMARY KEY,
    request_id        TEXT,
    agent_id          TEXT NOT NULL,
    active_version    TEXT NOT NULL,
    shadow_version    TEXT NOT NULL,
    active_tier       INTEGER NOT NULL,
    shadow_tier       INTEGER NOT NULL,
    active_approvals  INTEGER NOT NULL,
    shadow_approvals  INTEGER NOT NULL,
    active_denied     TEXT,
    shadow_denied     TEXT,
    shadow_reasons    TEXT NOT NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX policy_shadow_differences_by_time ON policy_shadow_differences (created_at);

-- Every audit record about a request carries the version of the policy it was assessed under
-- (left out of the hashed form when empty, so older records keep their hashes).
ALTER TABLE audit_events ADD COLUMN policy_version TEXT;
