-- SQLite chains each transaction's records in place at commit (the transaction already holds the
-- one write lock). The head follows every appended row inside the INSERT itself, so chaining is
-- two statements (read the head, insert the records) instead of three: each statement is a
-- round trip to the single writer that every other write waits behind. PostgreSQL keeps writing
-- the head once per chainer batch.
CREATE TRIGGER audit_events_advance_head AFTER INSERT ON audit_events
BEGIN
    UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1 AND seq < NEW.seq;
END;
