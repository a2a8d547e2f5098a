-- The same column and index as on PostgreSQL (the shared query reads it). SQLite chains records
-- in the writing transaction, so its queue stays empty.
ALTER TABLE audit_pending
    ADD COLUMN transfer_request_id TEXT GENERATED ALWAYS AS (json_extract(fields, '$.transfer_request_id')) VIRTUAL;
CREATE INDEX audit_pending_by_request ON audit_pending (transfer_request_id);
