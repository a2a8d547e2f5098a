//! The outbox: messages to the outside world, written in the transaction of the change that
//! causes them, claimed by delivery workers with a lease, and their delivery attempts.
//!
//! A claim is a compare-and-set on the lease: on PostgreSQL the candidate rows are locked with
//! `FOR UPDATE SKIP LOCKED`, so replicas claiming at once take different rows; on SQLite the one
//! writer serializes claims. Results are recorded only by the lease holder, so a worker whose
//! lease lapsed (it hung, another took over) cannot overwrite what the new holder recorded.

use super::{Backend, StoreResult, Tx};
use crate::store::InTx;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// Channels a message can travel by.
pub const AGENT_CALLBACK: &str = "agent_callback";
pub const SLACK: &str = "slack";
pub const EMAIL: &str = "email";
pub const WEBHOOK: &str = "webhook";
pub const CONSOLE: &str = "console";
/// A message the delivery worker fans out to the team's and approvers' channels.
pub const FAN_OUT: &str = "fan_out";
pub const FAN_OUT_DESTINATION: &str = "approvers";

/// A message as stored.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    /// `agent_callback`, `slack`, `email`, `webhook` or `console`.
    pub channel: String,
    /// A URL, an email address, or `stdout`.
    pub destination: String,
    pub agent_id: Option<String>,
    pub approver_id: Option<String>,
    pub request_id: Option<String>,
    pub event_type: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// A message to store; `dedup_key`, when given, makes a second insert of the same key a no-op.
pub struct NewMessage<'a> {
    pub channel: &'a str,
    pub destination: &'a str,
    pub agent_id: Option<&'a str>,
    pub approver_id: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub event_type: &'a str,
    pub payload: &'a str,
    /// Messages with the same key are written once (e.g. reminders several replicas may schedule).
    pub dedup_key: Option<&'a str>,
}

/// Stores message `id`, due at once. Returns false when its `dedup_key` was stored already.
pub async fn insert(tx: &mut Tx, id: &str, new: NewMessage<'_>, now_ms: i64) -> StoreResult<bool> {
    let result = sqlx::query(
        "INSERT INTO outbox (id, channel, destination, agent_id, approver_id, request_id, event_type, payload, \
         dedup_key, state, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $11) ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(id)
    .bind(new.channel)
    .bind(new.destination)
    .bind(new.agent_id)
    .bind(new.approver_id)
    .bind(new.request_id)
    .bind(new.event_type)
    .bind(new.payload)
    .bind(new.dedup_key)
    .bind(PENDING)
    .bind(now_ms)
    .execute_in(tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

const COLUMNS: &str = "id, channel, destination, agent_id, approver_id, request_id, event_type, payload, state, \
    attempts, next_attempt_at, last_error, created_at, finished_at";

fn from_row(row: &AnyRow) -> StoreResult<Message> {
    Ok(Message {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        destination: row.try_get("destination")?,
        agent_id: row.try_get("agent_id")?,
        approver_id: row.try_get("approver_id")?,
        request_id: row.try_get("request_id")?,
        event_type: row.try_get("event_type")?,
        payload: row.try_get("payload")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// Claims up to `limit` due messages for `holder` until `lease_until`: pending, due, and not
/// leased by anyone else (or their lease lapsed).
pub async fn claim(tx: &mut Tx, holder: &str, now_ms: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<Message>> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE outbox SET lease_holder = $1, lease_until = $2 WHERE id IN (SELECT id FROM outbox \
         WHERE state = $3 AND next_attempt_at <= $4 AND (lease_until IS NULL OR lease_until <= $4) \
         ORDER BY next_attempt_at LIMIT $5{lock}) RETURNING {COLUMNS}"
    );
    let rows = sqlx::query(&sql)
        .bind(holder)
        .bind(lease_until)
        .bind(PENDING)
        .bind(now_ms)
        .bind(limit)
        .fetch_all_in(tx)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Whether any message is due (a read, so an idle worker never takes SQLite's one writer).
pub async fn any_due(pool: &AnyPool, now_ms: i64) -> StoreResult<bool> {
    let row = sqlx::query(
        "SELECT 1 AS due FROM outbox WHERE state = $1 AND next_attempt_at <= $2 \
         AND (lease_until IS NULL OR lease_until <= $2) LIMIT 1",
    )
    .bind(PENDING)
    .bind(now_ms)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// One delivery attempt as it went.
pub struct Attempt<'a> {
    pub started_at: i64,
    pub http_status: Option<i64>,
    pub error: Option<&'a str>,
    pub latency_ms: i64,
}

/// What happens to the message after an attempt.
pub enum After {
    Delivered,
    RetryAt(i64),
    Failed,
}

/// Records attempt number `number` of `message` and its consequence, if `holder` still holds the
/// lease. Returns false when it does not (the attempt is then not recorded: another worker owns
/// the message now).
pub async fn record(
    tx: &mut Tx,
    message_id: &str,
    holder: &str,
    number: i64,
    attempt: &Attempt<'_>,
    after: After,
    now_ms: i64,
) -> StoreResult<bool> {
    let (state, next, finished) = match after {
        After::Delivered => (DELIVERED, now_ms, Some(now_ms)),
        After::RetryAt(at) => (PENDING, at, None),
        After::Failed => (FAILED, now_ms, Some(now_ms)),
    };
    // A delivered callback's body (the request, with the counterparty's legal name) is not kept:
    // the agent has it now, and the outbox is no place to hold PII past its use.
    let updated = sqlx::query(
        "UPDATE outbox SET state = $1, attempts = $2, next_attempt_at = $3, finished_at = $4, last_error = $5, \
         lease_holder = NULL, lease_until = NULL, \
         payload = CASE WHEN $1 = $8 AND channel = $9 THEN '' ELSE payload END \
         WHERE id = $6 AND lease_holder = $7",
    )
    .bind(state)
    .bind(number)
    .bind(next)
    .bind(finished)
    .bind(attempt.error.map(str::to_owned).or_else(|| attempt.http_status.map(|s| format!("HTTP {s}"))))
    .bind(message_id)
    .bind(holder)
    .bind(DELIVERED)
    .bind(AGENT_CALLBACK)
    .execute_in(tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO outbox_attempts (message_id, attempt, started_at, http_status, error, latency_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(message_id)
    .bind(number)
    .bind(attempt.started_at)
    .bind(attempt.http_status)
    .bind(attempt.error)
    .bind(attempt.latency_ms)
    .execute_in(tx)
    .await?;
    Ok(true)
}

/// Makes a failed (or waiting) message due now again, keeping its attempts. False if unknown or
/// already delivered.
pub async fn retry(tx: &mut Tx, id: &str, now_ms: i64) -> StoreResult<bool> {
    let updated = sqlx::query(
        "UPDATE outbox SET state = $1, next_attempt_at = $2, finished_at = NULL, lease_holder = NULL, \
         lease_until = NULL WHERE id = $3 AND state IN ($1, $4)",
    )
    .bind(PENDING)
    .bind(now_ms)
    .bind(id)
    .bind(FAILED)
    .execute_in(tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The newest messages first, optionally only those in `state`.
pub async fn list(pool: &AnyPool, state: Option<&str>, limit: i64) -> StoreResult<Vec<Message>> {
    let order = "ORDER BY created_at DESC, id DESC LIMIT $1";
    let rows = match state {
        Some(state) => {
            let sql = format!("SELECT {COLUMNS} FROM outbox WHERE state = $2 {order}");
            sqlx::query(&sql).bind(limit).bind(state).fetch_all(pool).await?
        }
        None => sqlx::query(&format!("SELECT {COLUMNS} FROM outbox {order}")).bind(limit).fetch_all(pool).await?,
    };
    rows.iter().map(from_row).collect()
}

/// The messages about one request, oldest first.
pub async fn for_request(pool: &AnyPool, request_id: &str) -> StoreResult<Vec<Message>> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE request_id = $1 ORDER BY created_at, id");
    let rows = sqlx::query(&sql).bind(request_id).fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

/// A stored attempt.
#[derive(Debug, Clone)]
pub struct StoredAttempt {
    pub attempt: i64,
    pub started_at: i64,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

pub async fn attempts(pool: &AnyPool, message_id: &str) -> StoreResult<Vec<StoredAttempt>> {
    let rows = sqlx::query(
        "SELECT attempt, started_at, http_status, error, latency_ms FROM outbox_attempts \
         WHERE message_id = $1 ORDER BY attempt",
    )
    .bind(message_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredAttempt {
                attempt: row.try_get("attempt")?,
                started_at: row.try_get("started_at")?,
                http_status: row.try_get("http_status")?,
                error: row.try_get("error")?,
                latency_ms: row.try_get("latency_ms")?,
            })
        })
        .collect()
}

/// What waits in the outbox: undelivered (pending) messages, when the oldest of them was written,
/// and the failed ones (their schedule spent; `countersign outbox retry` sends one again).
pub struct Backlog {
    pub pending: i64,
    pub oldest_pending_at: Option<i64>,
    pub failed: i64,
}

pub async fn backlog(pool: &AnyPool) -> StoreResult<Backlog> {
    let row = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE state = $1")
        .bind(PENDING)
        .fetch_one(pool)
        .await?;
    let failed = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE state = $1").bind(FAILED).fetch_one(pool).await?;
    Ok(Backlog { pending: row.try_get("n")?, oldest_pending_at: row.try_get("oldest")?, failed: failed.try_get("n")? })
}
