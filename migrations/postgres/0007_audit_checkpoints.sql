-- Signed chain-head checkpoints (issue 5): Ed25519 over (seq, hash, signed_at). An auditor who
-- keeps one can prove later that no record at or below its seq was changed, removed or inserted.
-- One checkpoint per seq, so repeating an export hands back the same checkpoint byte for byte.
CREATE TABLE audit_checkpoints (
    seq         BIGINT PRIMARY KEY,
    hash        TEXT NOT NULL,
    signed_at   BIGINT NOT NULL,
    signature   TEXT NOT NULL,
    public_key  TEXT NOT NULL
);

-- Checkpoints are evidence too: append-only like the records they sign.
CREATE TRIGGER audit_checkpoints_refuse_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();

CREATE TRIGGER audit_checkpoints_refuse_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

-- Exports filter on time.
CREATE INDEX audit_events_by_time ON audit_events (occurred_at);
