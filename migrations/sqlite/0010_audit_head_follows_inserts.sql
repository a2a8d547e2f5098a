-- The chain head's hash follows each appended record inside the INSERT itself, saving one round
-- trip per audit record. The appender has already advanced (and, on PostgreSQL, locked) the head
-- row to this record's seq, so the WHERE matches exactly the record being appended.
CREATE TRIGGER audit_events_advance_head AFTER INSERT ON audit_events
BEGIN
    UPDATE audit_head SET hash = NEW.hash WHERE id = 1 AND seq = NEW.seq;
END;
