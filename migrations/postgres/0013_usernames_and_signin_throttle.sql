-- Usernames are one name whatever their case or Unicode form (NFKC + lowercase, computed by the
-- service). Until now usernames were ASCII only, where NFKC changes nothing, so lower() backfills
-- exactly. If two existing approvers differ only by case this migration fails on the unique index:
-- they are one name now, and an operator must rename or remove one first.
ALTER TABLE approvers ADD COLUMN username_normalized TEXT;
UPDATE approvers SET username_normalized = lower(username);
ALTER TABLE approvers ALTER COLUMN username_normalized SET NOT NULL;
CREATE UNIQUE INDEX approvers_username_normalized ON approvers (username_normalized);

-- Sign-in throttling, shared by every replica. One row per key: `user:`, `addr:` or `step_up:`
-- and a keyed hash of the normalized username (known or not, so unknown names behave like known
-- ones), the client address or the approver id; never the typed text itself. `failures` counts attempts reserved in the current streak (reserved
-- before the password or code is checked, so concurrency can't exceed the limit); past the
-- limit each attempt blocks the key for `delay_ms`, doubling up to a cap. A streak is forgotten
-- after a quiet period; the sweeper deletes forgotten rows.
CREATE TABLE signin_throttle (
    key            TEXT PRIMARY KEY,
    failures       BIGINT NOT NULL,
    delay_ms       BIGINT NOT NULL,
    blocked_until  BIGINT NOT NULL,
    window_start   BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX signin_throttle_by_updated_at ON signin_throttle (updated_at);
