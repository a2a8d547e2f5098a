-- The Plaid transfer event an audit record answers to (issue 12): a status change read from
-- /transfer/event/sync names Plaid's event id, so compliance can match our trail to Plaid's.
-- Nullable: most records are not about a Plaid event, and older records stay as they were hashed.
ALTER TABLE audit_events ADD COLUMN plaid_event_id BIGINT;
