-- Where each approver wants alerts (issue 13): one destination per kind of channel. Slack and
-- webhook URLs are secrets (anyone holding one can post), so destinations are AES-256-GCM encrypted.
CREATE TABLE approver_channels (
    approver_id      TEXT NOT NULL REFERENCES approvers (id),
    channel          TEXT NOT NULL,
    destination_enc  TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (approver_id, channel)
);
