-- Asynchronous chaining. A business transaction appends its audit records here, in the same
-- transaction as the change, under no shared lock; a chainer (any replica, one at a time: it holds
-- the `audit_head` row lock) moves them into `audit_events` in order, assigning seq, prev_hash and
-- hash. Before, every write transaction took the head's row lock and held it through its commit's
-- WAL flush, so all writes of all replicas ran one after another.
CREATE TABLE audit_pending (
    id      BIGSERIAL PRIMARY KEY,
    fields  TEXT NOT NULL
);

-- Pending records are inserted and, once chained, deleted; never changed.
CREATE FUNCTION audit_pending_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_pending is insert-and-delete only';
END;
$$;

CREATE TRIGGER audit_pending_refuse_update BEFORE UPDATE ON audit_pending
    FOR EACH ROW EXECUTE FUNCTION audit_pending_refuse_update();

-- The chainer writes the head once per batch.
DROP TRIGGER audit_events_advance_head ON audit_events;
DROP FUNCTION audit_events_advance_head();
