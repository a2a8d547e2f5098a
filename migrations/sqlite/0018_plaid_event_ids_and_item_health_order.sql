-- The Plaid transfer event an audit record answers to (issue 12): a status change read from
-- /transfer/event/sync names Plaid's event id, so compliance can match our trail to Plaid's.
-- Nullable: most records are not about a Plaid event, and older records stay as they were hashed.
ALTER TABLE audit_events ADD COLUMN plaid_event_id INTEGER;

-- When Plaid signed the ITEM webhook the item's health came from (the JWT's iat, unix seconds):
-- Plaid may deliver out of order, and an older delivery must not undo a newer one.
ALTER TABLE items ADD COLUMN health_signed_at INTEGER;
