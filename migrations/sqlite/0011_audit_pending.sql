-- Asynchronous chaining. A business transaction appends its audit records here, in the same
-- transaction as the change; a chainer moves them into `audit_events` in order, assigning seq,
-- prev_hash and hash, a batch per transaction. (See the PostgreSQL migration for why.)
CREATE TABLE audit_pending (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    fields  TEXT NOT NULL
);

-- Pending records are inserted and, once chained, deleted; never changed.
CREATE TRIGGER audit_pending_refuse_update BEFORE UPDATE ON audit_pending
BEGIN
    SELECT RAISE(ABORT, 'audit_pending is insert-and-delete only');
END;

-- The chainer writes the head once per batch.
DROP TRIGGER audit_events_advance_head;
