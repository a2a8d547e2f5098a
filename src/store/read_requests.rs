//! Tier-2 read requests: stored, decided by compare-and-set, fetched once by compare-and-set.

use super::{StoreResult, Tx};
use crate::store::InTx;
use sqlx::{AnyPool, Row};

#[derive(Debug, Clone)]
pub struct ReadRequest {
    pub id: String,
    pub agent_id: String,
    pub item_id: String,
    pub product: String,
    /// Plaid's request without credentials, as JSON text.
    pub request_body: String,
    pub reason: String,
    pub thread_id: Option<String>,
    pub state: String,
    pub created_at: i64,
    pub approve_by: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub fetch_by: Option<i64>,
    /// The policy that made this read tier 2 (`None` for rows older than that column).
    pub policy_version: Option<String>,
}

pub const PENDING: &str = "pending_approval";
pub const APPROVED: &str = "approved";
pub const REJECTED: &str = "rejected";
pub const FETCHED: &str = "fetched";

const COLUMNS: &str = "id, agent_id, item_id, product, request_body, reason, thread_id, state, created_at, \
    approve_by, decided_by, decided_at, fetch_by, policy_version";

pub async fn insert(tx: &mut Tx, r: &ReadRequest) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO read_requests ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    ))
    .bind(&r.id)
    .bind(&r.agent_id)
    .bind(&r.item_id)
    .bind(&r.product)
    .bind(&r.request_body)
    .bind(&r.reason)
    .bind(r.thread_id.as_deref())
    .bind(&r.state)
    .bind(r.created_at)
    .bind(r.approve_by)
    .bind(r.decided_by.as_deref())
    .bind(r.decided_at)
    .bind(r.fetch_by)
    .bind(r.policy_version.as_deref())
    .execute_in(tx)
    .await?;
    Ok(())
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<ReadRequest> {
    Ok(ReadRequest {
        id: row.try_get("id")?,
        agent_id: row.try_get("agent_id")?,
        item_id: row.try_get("item_id")?,
        product: row.try_get("product")?,
        request_body: row.try_get("request_body")?,
        reason: row.try_get("reason")?,
        thread_id: row.try_get("thread_id")?,
        state: row.try_get("state")?,
        created_at: row.try_get("created_at")?,
        approve_by: row.try_get("approve_by")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        fetch_by: row.try_get("fetch_by")?,
        policy_version: row.try_get("policy_version")?,
    })
}

pub async fn find(pool: &AnyPool, id: &str) -> StoreResult<Option<ReadRequest>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM read_requests WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Requests still waiting for an approver, oldest first.
pub async fn pending(pool: &AnyPool, now_ms: i64, limit: i64) -> StoreResult<Vec<ReadRequest>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM read_requests WHERE state = $1 AND approve_by > $2 ORDER BY created_at LIMIT $3"
    ))
    .bind(PENDING)
    .bind(now_ms)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// pending_approval -> approved/rejected while still approvable; false when someone else (or
/// the clock) got there first.
pub async fn decide(
    tx: &mut Tx,
    id: &str,
    to: &str,
    approver: &str,
    now_ms: i64,
    fetch_by: Option<i64>,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE read_requests SET state = $1, decided_by = $2, decided_at = $3, fetch_by = $4 \
         WHERE id = $5 AND state = $6 AND approve_by > $3",
    )
    .bind(to)
    .bind(approver)
    .bind(now_ms)
    .bind(fetch_by)
    .bind(id)
    .bind(PENDING)
    .execute_in(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// approved -> fetched, once, before fetch_by.
pub async fn claim_fetch(tx: &mut Tx, id: &str, agent_id: &str, now_ms: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE read_requests SET state = $1 WHERE id = $2 AND agent_id = $3 AND state = $4 AND fetch_by > $5",
    )
    .bind(FETCHED)
    .bind(id)
    .bind(agent_id)
    .bind(APPROVED)
    .bind(now_ms)
    .execute_in(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// fetched -> approved: the Plaid call failed, so the agent may try again before fetch_by.
pub async fn release_fetch(tx: &mut Tx, id: &str) -> StoreResult<()> {
    sqlx::query("UPDATE read_requests SET state = $1 WHERE id = $2 AND state = $3")
        .bind(APPROVED)
        .bind(id)
        .bind(FETCHED)
        .execute_in(tx)
        .await?;
    Ok(())
}
