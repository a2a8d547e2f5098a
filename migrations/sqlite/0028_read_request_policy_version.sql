-- The policy version that made a read tier 2, recorded on the read's audit records when it is
-- approved and fetched (read tiers are rules of the policy file now). Rows from before: NULL.
ALTER TABLE read_requests ADD COLUMN policy_version TEXT;
