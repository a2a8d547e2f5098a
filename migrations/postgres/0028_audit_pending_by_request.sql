-- What the audit log holds of one request is read at every execution (the approvals it records)
-- from the chained rows and from this queue. The queue was searched with `fields LIKE '%…%'`,
-- a scan of the whole table and its dead rows (~550–1,000 pages a read under the benchmark).
-- A stored column derived from the record, indexed, finds them directly; existing rows get it
-- when the table is rewritten here, and no writer needs to change.
ALTER TABLE audit_pending
    ADD COLUMN transfer_request_id TEXT GENERATED ALWAYS AS (CAST(fields AS jsonb) ->> 'transfer_request_id') STORED;
CREATE INDEX audit_pending_by_request ON audit_pending (transfer_request_id);
