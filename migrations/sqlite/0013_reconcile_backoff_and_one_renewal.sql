-- The reconciler's memory of a request it could not settle (issue 11.1): how many passes failed,
-- when to ask again (exponential backoff), and since when it has been unresolved (for the alert).
-- Reset by every state transition.
ALTER TABLE transfer_requests ADD COLUMN reconcile_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfer_requests ADD COLUMN reconcile_next_at INTEGER;
ALTER TABLE transfer_requests ADD COLUMN unresolved_since INTEGER;

-- One renewal per expired request and one successor per edited version, enforced by the database
-- (issue 11.4): two renewals would mean two pending requests and possibly two transfers.
CREATE UNIQUE INDEX transfer_requests_one_renewal ON transfer_requests (renews);
CREATE UNIQUE INDEX transfer_requests_one_successor ON transfer_requests (supersedes);
