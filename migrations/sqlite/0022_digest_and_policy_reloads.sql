-- Tier 1 executes without a human and is reviewed afterwards (issue 14): one review per request,
-- acknowledged or flagged, by an approver.
CREATE TABLE digest_reviews (
    request_id   TEXT PRIMARY KEY REFERENCES transfer_requests (id),
    approver_id  TEXT NOT NULL REFERENCES approvers (id),
    verdict      TEXT NOT NULL,
    note         TEXT,
    reviewed_at  INTEGER NOT NULL
);

-- `countersign policy reload` asks every replica to re-read its policy file: each polls for a
-- row newer than the last it saw.
CREATE TABLE policy_reload_requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    requested_at  INTEGER NOT NULL,
    requested_by  TEXT NOT NULL
);
