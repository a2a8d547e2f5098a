-- PII retention (issue 5): legal names in a request's intent are purged a configurable number of
-- days after the request reaches a terminal state; the payload hash stays. NULL = not purged yet.
ALTER TABLE transfer_requests ADD COLUMN pii_purged_at INTEGER;
