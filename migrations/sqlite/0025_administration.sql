-- Administration (issue 16 point 7): deactivated approvers and agents, and API key rotation with
-- an overlap.
--
-- disabled_at: NULL while active. A deactivated approver cannot sign in and their sessions are
-- revoked in the same transaction; a disabled agent's key is refused at once. Rows are kept:
-- approvals and requests already given still reference them.
ALTER TABLE approvers ADD COLUMN disabled_at BIGINT;
ALTER TABLE agents ADD COLUMN disabled_at BIGINT;

-- Rotation keeps the replaced key's hash until previous_key_expires_at, so an agent can switch
-- keys without downtime; a second rotation replaces it (only one old key lives at a time).
ALTER TABLE agents ADD COLUMN previous_key_hash TEXT;
ALTER TABLE agents ADD COLUMN previous_key_expires_at BIGINT;
CREATE UNIQUE INDEX agents_previous_key_hash ON agents (previous_key_hash);
