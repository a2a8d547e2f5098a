-- The chain head's hash follows each appended record inside the INSERT itself, saving one round
-- trip per audit record. The appender has already advanced (and locked) the head row to this
-- record's seq, so the WHERE matches exactly the record being appended.
CREATE FUNCTION audit_events_advance_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_head SET hash = NEW.hash WHERE id = 1 AND seq = NEW.seq;
    RETURN NULL;
END;
$$;

CREATE TRIGGER audit_events_advance_head AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_advance_head();
