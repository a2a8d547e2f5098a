-- Approvers (people). Passwords are argon2id PHC strings; TOTP secrets are AES-256-GCM encrypted.
-- last_totp_step is advanced by compare-and-set, so a TOTP code is accepted at most once, across
-- sign-in and step-up and across replicas.
CREATE TABLE approvers (
    id               TEXT PRIMARY KEY,
    username         TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    totp_secret_enc  TEXT NOT NULL,
    last_totp_step   BIGINT NOT NULL,
    failed_attempts  BIGINT NOT NULL,
    locked_until     BIGINT NOT NULL,
    roles            TEXT NOT NULL,
    all_items        BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);

CREATE TABLE approver_items (
    approver_id  TEXT NOT NULL REFERENCES approvers (id),
    item_id      TEXT NOT NULL REFERENCES items (id),
    PRIMARY KEY (approver_id, item_id)
);

-- Bearer sessions. Only the token's SHA-256 is stored; `id` is the public handle that approval
-- tokens bind to. authenticated_at is the last password + TOTP sign-in (for "recently
-- authenticated" rules); last_seen_at drives the idle timeout, expires_at the absolute one.
CREATE TABLE approver_sessions (
    id                TEXT PRIMARY KEY,
    token_hash        TEXT NOT NULL UNIQUE,
    approver_id       TEXT NOT NULL REFERENCES approvers (id),
    authenticated_at  BIGINT NOT NULL,
    last_seen_at      BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    revoked           BIGINT NOT NULL
);

CREATE INDEX approver_sessions_by_approver ON approver_sessions (approver_id);
