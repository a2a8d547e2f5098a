-- The approver's desk (issue 16): the inbox flags and the request page's context look up other
-- requests by account (first transfer, pending debits, earlier transfers) and by agent over a
-- time span (duplicates, the agent's last 30 days).
CREATE INDEX transfer_requests_by_account ON transfer_requests (account_id, created_at);
CREATE INDEX transfer_requests_by_agent_time ON transfer_requests (agent_id, created_at);
