//! Audit rows: queue a record, chain queued records under the head's lock, read them back in
//! sequence order.
//! The chain's hashing lives in `audit/`.

use super::{Backend, StoreError, StoreResult, Tx};
use crate::store::InTx;
use sqlx::Row;

/// One audit record's columns (DESIGN §7) apart from seq and the hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditFields {
    pub event_id: String,
    pub occurred_at: i64,
    pub event_type: String,
    pub transfer_request_id: Option<String>,
    pub agent_id: Option<String>,
    pub thread_id: Option<String>,
    pub plaid_product: Option<String>,
    pub plaid_endpoint: Option<String>,
    pub plaid_item_id: Option<String>,
    pub account_id: Option<String>,
    pub action_type: Option<String>,
    pub risk_tier: Option<i64>,
    pub approval_required: Option<bool>,
    pub approver_id: Option<String>,
    pub approval_timestamp: Option<i64>,
    pub payload_hash: Option<String>,
    pub executed_payload_hash: Option<String>,
    pub plaid_request_id: Option<String>,
    pub outcome: String,
    pub error_code: Option<String>,
    pub ttl_seconds: Option<i64>,
    /// Plaid's transfer event this record answers to. Left out of the hashed form when absent,
    /// so records written before the column existed keep their hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaid_event_id: Option<i64>,
    /// The risk policy's version (SHA-256 of its content) a request was assessed under. Left out
    /// of the hashed form when absent, so records written before it existed keep their hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
}

/// Queues records for the chainer, one statement for all of them. No shared lock: concurrent
/// transactions (any replica) queue side by side, and the chainer orders them afterwards.
pub async fn insert_pending(tx: &mut Tx, records: &[AuditFields]) -> StoreResult<()> {
    for chunk in records.chunks(PER_STATEMENT) {
        let sql = pending_insert(chunk.len());
        // With the transaction's other waiting writes, in one statement (`postgres_tx`).
        tx.write(bind_fields(sqlx::query(&sql).persistent(keep_prepared(chunk.len())), chunk)?).await?;
    }
    Ok(())
}

/// [`insert_pending`] outside a transaction: each statement commits on its own (PostgreSQL).
pub async fn insert_pending_alone(pool: &sqlx::AnyPool, records: &[AuditFields]) -> StoreResult<()> {
    for chunk in records.chunks(PER_STATEMENT) {
        let sql = pending_insert(chunk.len());
        bind_fields(sqlx::query(&sql).persistent(keep_prepared(chunk.len())), chunk)?.execute(pool).await?;
    }
    Ok(())
}

fn pending_insert(rows: usize) -> String {
    let values: Vec<String> = (1..=rows).map(|n| format!("(${n})")).collect();
    format!("INSERT INTO audit_pending (fields) VALUES {}", values.join(", "))
}

fn bind_fields<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    records: &[AuditFields],
) -> StoreResult<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>> {
    for fields in records {
        query = query.bind(serde_json::to_string(fields).map_err(|e| StoreError::Corrupt(e.to_string()))?);
    }
    Ok(query)
}

/// Chains records at once, in order. The caller must hold the chain head against other writers
/// for the rest of its transaction: on SQLite any write transaction does.
pub async fn chain_now(tx: &mut Tx, records: Vec<AuditFields>) -> StoreResult<()> {
    let (seq, hash) = tx.sqlite_audit_head().await?;
    let (chained, _, _) = crate::audit::chain::link(records, seq, hash);
    insert(tx, &chained).await?;
    // The head as the records leave it, read with them: the writer knows it for the next.
    tx.write(sqlx::query(super::sqlite_writer::HEAD_PROBE)).await
}

/// Chains records after `head` (the last seq and its hash, read under the head's lock).
pub async fn chain_after(tx: &mut Tx, head: (i64, String), records: Vec<AuditFields>) -> StoreResult<()> {
    let (chained, last_seq, last_hash) = crate::audit::chain::link(records, head.0, head.1);
    insert(tx, &chained).await?;
    match tx.backend() {
        // A trigger moves SQLite's head with each inserted row (migration 0012): one round trip
        // to the single writer fewer per transaction, where every round trip is waited for.
        Backend::Sqlite => Ok(()),
        // PostgreSQL's chainer writes it once per batch instead of once per row.
        Backend::Postgres => set_head(tx, last_seq, &last_hash).await,
    }
}

/// The newest queued record's queue id, if any record waits to be chained.
pub async fn last_pending(pool: &sqlx::AnyPool) -> StoreResult<Option<i64>> {
    let row = sqlx::query("SELECT MAX(id) AS last FROM audit_pending").fetch_one(pool).await?;
    Ok(row.try_get("last")?)
}

/// Locks the chain head for this transaction and returns the last seq and its hash. Holding it
/// makes the caller the only chainer until it commits.
pub async fn lock_head(tx: &mut Tx) -> StoreResult<(i64, String)> {
    let row = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash").fetch_one_in(tx).await?;
    Ok((row.try_get("seq")?, row.try_get("hash")?))
}

/// The chain head under its lock (as [`lock_head`]), and the highest seq actually stored. They
/// differ only when someone other than the chainer inserted rows past the head: on PostgreSQL
/// the chainer alone moves the head (SQLite's trigger moves it with any insert, so there they
/// are equal). Read in the same statement: no extra round trip per batch.
pub async fn lock_head_and_last_stored(tx: &mut Tx) -> StoreResult<(i64, String, i64)> {
    if tx.backend() == Backend::Sqlite {
        let (seq, hash) = lock_head(tx).await?;
        return Ok((seq, hash, seq));
    }
    let row = sqlx::query(
        "UPDATE audit_head SET seq = seq WHERE id = 1 \
         RETURNING seq, hash, (SELECT COALESCE(MAX(seq), 0) FROM audit_events) AS last_stored",
    )
    .fetch_one_in(tx)
    .await?;
    Ok((row.try_get("seq")?, row.try_get("hash")?, row.try_get("last_stored")?))
}

pub async fn set_head(tx: &mut Tx, seq: i64, hash: &str) -> StoreResult<()> {
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1").bind(seq).bind(hash).execute_in(tx).await?;
    Ok(())
}

/// The oldest queued records with a queue id up to `upto`, at most `limit`.
pub async fn pending(tx: &mut Tx, upto: i64, limit: i64) -> StoreResult<Vec<(i64, AuditFields)>> {
    let rows = sqlx::query("SELECT id, fields FROM audit_pending WHERE id <= $1 ORDER BY id LIMIT $2")
        .bind(upto)
        .bind(limit)
        .fetch_all_in(tx)
        .await?;
    rows.iter()
        .map(|row| {
            let json: String = row.try_get("fields")?;
            let fields = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("pending audit: {e}")))?;
            Ok((row.try_get("id")?, fields))
        })
        .collect()
}

/// Removes exactly these pending records. (A range would also take records that committed
/// after they were read, unchained.)
pub async fn delete_pending(tx: &mut Tx, ids: &[i64]) -> StoreResult<()> {
    for chunk in ids.chunks(PER_STATEMENT) {
        let list = placeholders(1, chunk.len());
        let sql = format!("DELETE FROM audit_pending WHERE id IN ({list})");
        let mut query = sqlx::query(&sql).persistent(false);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute_in(tx).await?;
    }
    Ok(())
}

/// Rows per multi-row statement: 26 columns each stays far below both databases' bind limits.
/// Statements whose shape depends on a row count are kept prepared only for small counts: every
/// connection would cache one per count seen.
pub const PER_STATEMENT: usize = 200;

const INSERT_COLUMNS: usize = 26;

/// Appends chained records, many per statement.
pub async fn insert(tx: &mut Tx, records: &[AuditRow]) -> StoreResult<()> {
    for chunk in records.chunks(PER_STATEMENT) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", placeholders(i * INSERT_COLUMNS + 1, INSERT_COLUMNS))).collect();
        let rows = match tx.audit_guard {
            // SQLite names a VALUES list's columns column1, column2, …; they are inserted in order.
            Some(guard) => format!("SELECT * FROM (VALUES {}) WHERE {guard}", values.join(", ")),
            None => format!("VALUES {}", values.join(", ")),
        };
        let sql = format!(
            "INSERT INTO audit_events (seq, event_id, occurred_at, event_type, transfer_request_id, agent_id, \
             thread_id, plaid_product, plaid_endpoint, plaid_item_id, account_id, action_type, risk_tier, \
             approval_required, approver_id, approval_timestamp, payload_hash, executed_payload_hash, \
             plaid_request_id, outcome, error_code, ttl_seconds, plaid_event_id, policy_version, prev_hash, hash) \
             {rows}"
        );
        let mut query = sqlx::query(&sql).persistent(keep_prepared(chunk.len()));
        for record in chunk {
            let fields = &record.fields;
            query = query
                .bind(record.seq)
                .bind(&fields.event_id)
                .bind(fields.occurred_at)
                .bind(&fields.event_type)
                .bind(fields.transfer_request_id.as_deref())
                .bind(fields.agent_id.as_deref())
                .bind(fields.thread_id.as_deref())
                .bind(fields.plaid_product.as_deref())
                .bind(fields.plaid_endpoint.as_deref())
                .bind(fields.plaid_item_id.as_deref())
                .bind(fields.account_id.as_deref())
                .bind(fields.action_type.as_deref())
                .bind(fields.risk_tier)
                .bind(fields.approval_required.map(i64::from))
                .bind(fields.approver_id.as_deref())
                .bind(fields.approval_timestamp)
                .bind(fields.payload_hash.as_deref())
                .bind(fields.executed_payload_hash.as_deref())
                .bind(fields.plaid_request_id.as_deref())
                .bind(&fields.outcome)
                .bind(fields.error_code.as_deref())
                .bind(fields.ttl_seconds)
                .bind(fields.plaid_event_id)
                .bind(fields.policy_version.as_deref())
                .bind(&record.prev_hash)
                .bind(&record.hash);
        }
        tx.write(query).await?;
    }
    Ok(())
}

/// A transaction's own few records keep their statements prepared; the chainer's batches don't.
fn keep_prepared(rows: usize) -> bool {
    rows <= 4
}

/// `$from, $from+1, …` — `count` of them.
fn placeholders(from: usize, count: usize) -> String {
    (from..from + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// A stored audit row, for verification and reading back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub fields: AuditFields,
    pub prev_hash: String,
    pub hash: String,
}

const ROW_COLUMNS: &str = "seq, event_id, occurred_at, event_type, transfer_request_id, agent_id, thread_id, \
    plaid_product, plaid_endpoint, plaid_item_id, account_id, action_type, risk_tier, approval_required, approver_id, \
    approval_timestamp, payload_hash, executed_payload_hash, plaid_request_id, outcome, error_code, ttl_seconds, \
    plaid_event_id, policy_version, prev_hash, hash";

/// Rows in sequence order, `limit` at a time starting after `after_seq`.
pub async fn page(pool: &sqlx::AnyPool, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRow>> {
    page_until(pool, after_seq, i64::MAX, limit).await
}

/// Rows with `after_seq < seq <= upto_seq` in sequence order, at most `limit`.
pub async fn page_until(pool: &sqlx::AnyPool, after_seq: i64, upto_seq: i64, limit: i64) -> StoreResult<Vec<AuditRow>> {
    let sql = format!("SELECT {ROW_COLUMNS} FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3");
    let rows = sqlx::query(&sql).bind(after_seq).bind(upto_seq).bind(limit).fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

/// Every record about one transfer request, in sequence order.
pub async fn for_request(pool: &sqlx::AnyPool, request_id: &str) -> StoreResult<Vec<AuditRow>> {
    let sql = format!("SELECT {ROW_COLUMNS} FROM audit_events WHERE transfer_request_id = $1 ORDER BY seq");
    let rows = sqlx::query(&sql).bind(request_id).fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

/// The lowest and highest seq of records that occurred in `[from_ms, to_ms)`, if any.
pub async fn seq_range(pool: &sqlx::AnyPool, from_ms: i64, to_ms: i64) -> StoreResult<Option<(i64, i64)>> {
    let row = sqlx::query(
        "SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM audit_events WHERE occurred_at >= $1 AND occurred_at < $2",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_one(pool)
    .await?;
    let lo: Option<i64> = row.try_get("lo")?;
    let hi: Option<i64> = row.try_get("hi")?;
    Ok(lo.zip(hi))
}

/// The chain head: the last seq and its hash (0 and the genesis hash when empty).
pub async fn head(pool: &sqlx::AnyPool) -> StoreResult<(i64, String)> {
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(pool).await?;
    Ok((row.try_get("seq")?, row.try_get("hash")?))
}

/// The stored hash of one record.
pub async fn hash_at(pool: &sqlx::AnyPool, seq: i64) -> StoreResult<Option<String>> {
    let row = sqlx::query("SELECT hash FROM audit_events WHERE seq = $1").bind(seq).fetch_optional(pool).await?;
    row.map(|r| r.try_get("hash")).transpose().map_err(Into::into)
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<AuditRow> {
    Ok(AuditRow {
        seq: row.try_get("seq")?,
        fields: AuditFields {
            event_id: row.try_get("event_id")?,
            occurred_at: row.try_get("occurred_at")?,
            event_type: row.try_get("event_type")?,
            transfer_request_id: row.try_get("transfer_request_id")?,
            agent_id: row.try_get("agent_id")?,
            thread_id: row.try_get("thread_id")?,
            plaid_product: row.try_get("plaid_product")?,
            plaid_endpoint: row.try_get("plaid_endpoint")?,
            plaid_item_id: row.try_get("plaid_item_id")?,
            account_id: row.try_get("account_id")?,
            action_type: row.try_get("action_type")?,
            risk_tier: row.try_get("risk_tier")?,
            approval_required: row.try_get::<Option<i64>, _>("approval_required")?.map(super::flag),
            approver_id: row.try_get("approver_id")?,
            approval_timestamp: row.try_get("approval_timestamp")?,
            payload_hash: row.try_get("payload_hash")?,
            executed_payload_hash: row.try_get("executed_payload_hash")?,
            plaid_request_id: row.try_get("plaid_request_id")?,
            outcome: row.try_get("outcome")?,
            error_code: row.try_get("error_code")?,
            ttl_seconds: row.try_get("ttl_seconds")?,
            plaid_event_id: row.try_get("plaid_event_id")?,
            policy_version: row.try_get("policy_version")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// One approval of a request as the audit log recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedApproval {
    pub event_id: String,
    pub approver_id: Option<String>,
    pub payload_hash: Option<String>,
}

/// The approvals of one request as the audit log holds them: chained rows and rows still queued
/// for the chainer (PostgreSQL), each once. Both are read in one statement, so from one snapshot:
/// the chainer moves a record from the queue to the chain in one transaction, so it is seen once.
pub async fn logged_approvals(pool: &sqlx::AnyPool, request_id: &str) -> StoreResult<Vec<LoggedApproval>> {
    logged(pool, request_id, "transfer.approval").await
}

/// The successful records of one event type about one request, chained or still queued, each
/// once (as [`logged_approvals`]): e.g. the policy's approval of a tier-1 request.
pub async fn logged(pool: &sqlx::AnyPool, request_id: &str, event: &str) -> StoreResult<Vec<LoggedApproval>> {
    Ok(read_logged(pool, request_id, event, false).await?.logged)
}

/// What execution checks a request's approvals against: the approvals table's rows and the
/// approvals as the audit log recorded them, read in one statement (one snapshot, one round trip).
#[derive(Debug, Default)]
pub struct ApprovalEvidence {
    /// The payload hash of each row of the approvals table.
    pub table_hashes: Vec<String>,
    /// As [`logged_approvals`].
    pub logged: Vec<LoggedApproval>,
}

pub async fn approval_evidence(pool: &sqlx::AnyPool, request_id: &str) -> StoreResult<ApprovalEvidence> {
    read_logged(pool, request_id, "transfer.approval", true).await
}

async fn read_logged(
    pool: &sqlx::AnyPool,
    request_id: &str,
    event: &str,
    with_table: bool,
) -> StoreResult<ApprovalEvidence> {
    // The queue's `transfer_request_id` is derived from `fields` (a generated column, indexed);
    // the parse below checks the rest of each record exactly.
    let queued_and_chained = "SELECT CAST('queued' AS TEXT) AS source, fields, CAST(NULL AS TEXT) AS event_id, \
         CAST(NULL AS TEXT) AS approver_id, CAST(NULL AS TEXT) AS payload_hash FROM audit_pending \
         WHERE transfer_request_id = $1 \
         UNION ALL SELECT 'chained', CAST(NULL AS TEXT), event_id, approver_id, payload_hash FROM audit_events \
         WHERE transfer_request_id = $1 AND event_type = $2 AND outcome = 'success'";
    let table = " UNION ALL SELECT 'table', CAST(NULL AS TEXT), CAST(NULL AS TEXT), approver_id, payload_hash \
         FROM approvals WHERE request_id = $1";
    let sql = if with_table { format!("{queued_and_chained}{table}") } else { queued_and_chained.to_owned() };
    let rows = sqlx::query(&sql).bind(request_id).bind(event).fetch_all(pool).await?;
    let mut evidence = ApprovalEvidence::default();
    let mut chained = Vec::new();
    for row in &rows {
        let source: String = row.try_get("source")?;
        match source.as_str() {
            "queued" => {
                let json: String = row.try_get("fields")?;
                let fields: AuditFields =
                    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("pending audit: {e}")))?;
                if fields.transfer_request_id.as_deref() == Some(request_id)
                    && fields.event_type == event
                    && fields.outcome == "success"
                {
                    evidence.logged.push(LoggedApproval {
                        event_id: fields.event_id,
                        approver_id: fields.approver_id,
                        payload_hash: fields.payload_hash,
                    });
                }
            }
            "chained" => chained.push(row),
            _ => evidence.table_hashes.push(row.try_get("payload_hash")?),
        }
    }
    // A record the chainer moved is in one place or the other in this snapshot; the queue's copy
    // is kept when both were seen.
    for row in chained {
        let event_id: String = row.try_get("event_id")?;
        if evidence.logged.iter().all(|a| a.event_id != event_id) {
            evidence.logged.push(LoggedApproval {
                event_id,
                approver_id: row.try_get("approver_id")?,
                payload_hash: row.try_get("payload_hash")?,
            });
        }
    }
    Ok(evidence)
}
