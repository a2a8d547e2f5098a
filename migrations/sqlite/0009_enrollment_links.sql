-- The approver web form.
--
-- Enrollment links: `countersign approver add --enroll-link` prints a one-time link instead of a
-- password. Only the token's SHA-256 is stored; the link works once (used_at is set by
-- compare-and-set) and only until expires_at.
CREATE TABLE enrollment_links (
    token_hash   TEXT PRIMARY KEY,
    approver_id  TEXT NOT NULL REFERENCES approvers (id),
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    created_at   INTEGER NOT NULL
);

-- Form idempotency keys: every form carries a hidden key; the first submission claims it here and
-- records where it led, so a double submit decides once and the second lands on the same result.
-- location is NULL while the first submission is still in flight.
CREATE TABLE form_submissions (
    approver_id      TEXT NOT NULL REFERENCES approvers (id),
    idempotency_key  TEXT NOT NULL,
    location         TEXT,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (approver_id, idempotency_key)
);
