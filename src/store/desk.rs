//! What the approver's desk asks about other requests: the inbox flags (first transfer to an
//! account, a look-alike request) and the request page's context (the agent's recent record,
//! earlier transfers to the account, other debits still to come off it). Reads only.

use super::requests::{from_row, RequestRecord, COLUMNS};
use super::StoreResult;
use crate::domain::{AgentId, ItemId, RequestState};
use sqlx::{AnyPool, Row};

/// Requests by this agent on this account for exactly this amount, created in `[from, to]`.
pub async fn same_agent_account_amount(
    pool: &AnyPool,
    agent: &AgentId,
    account: &str,
    amount_cents: i64,
    from_ms: i64,
    to_ms: i64,
) -> StoreResult<Vec<RequestRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM transfer_requests WHERE agent_id = $1 AND account_id = $2 AND amount_cents = $3 \
         AND created_at >= $4 AND created_at <= $5 ORDER BY created_at"
    ))
    .bind(agent.as_str())
    .bind(account)
    .bind(amount_cents)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// An agent's record over a span: how many requests, how many were approved or rejected by
/// people, and how much money its created transfers moved (cents; failed, cancelled and
/// returned transfers moved nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentRecord {
    pub requests: i64,
    pub approved: i64,
    pub rejected: i64,
    pub moved_cents: i64,
}

pub async fn agent_record_since(pool: &AnyPool, agent: &AgentId, since_ms: i64) -> StoreResult<AgentRecord> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS requests, \
         CAST(COALESCE(SUM(CASE WHEN state IN ('approved', 'executing', 'submitted', 'reauth_required') \
              OR transfer_id IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS approved, \
         CAST(COALESCE(SUM(CASE WHEN state = 'rejected' THEN 1 ELSE 0 END), 0) AS BIGINT) AS rejected, \
         CAST(COALESCE(SUM(CASE WHEN transfer_id IS NOT NULL \
              AND COALESCE(transfer_status, 'pending') NOT IN ('failed', 'cancelled', 'returned') \
              THEN amount_cents ELSE 0 END), 0) AS BIGINT) AS moved \
         FROM transfer_requests WHERE agent_id = $1 AND created_at >= $2",
    )
    .bind(agent.as_str())
    .bind(since_ms)
    .fetch_one(pool)
    .await?;
    Ok(AgentRecord {
        requests: row.try_get("requests")?,
        approved: row.try_get("approved")?,
        rejected: row.try_get("rejected")?,
        moved_cents: row.try_get("moved")?,
    })
}

/// Requests on this account created before `before_ms`, newest first.
pub async fn earlier_on_account(
    pool: &AnyPool,
    item: &ItemId,
    account: &str,
    before_ms: i64,
    limit: i64,
) -> StoreResult<Vec<RequestRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM transfer_requests WHERE item_id = $1 AND account_id = $2 AND created_at < $3 \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(item.as_str())
    .bind(account)
    .bind(before_ms)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Requests on this account whose money has not moved yet but may: waiting for approval inside
/// the window, approved, being submitted, waiting for a re-login, or submitted with Plaid's
/// status still `pending` (the bank's available balance does not show it before it posts).
pub async fn still_to_move_on_account(
    pool: &AnyPool,
    item: &ItemId,
    account: &str,
    now_ms: i64,
) -> StoreResult<Vec<RequestRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM transfer_requests WHERE item_id = $1 AND account_id = $2 AND ( \
         (state = $3 AND expires_at > $4) OR state IN ($5, $6, $7) \
         OR (state = $8 AND COALESCE(transfer_status, 'pending') = 'pending')) \
         ORDER BY created_at"
    ))
    .bind(item.as_str())
    .bind(account)
    .bind(RequestState::PendingApproval.as_str())
    .bind(now_ms)
    .bind(RequestState::Approved.as_str())
    .bind(RequestState::Executing.as_str())
    .bind(RequestState::ReauthRequired.as_str())
    .bind(RequestState::Submitted.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The request an approver's edit replaced this one with, if any.
pub async fn successor_of(pool: &AnyPool, id: &str) -> StoreResult<Option<String>> {
    let row = sqlx::query("SELECT id FROM transfer_requests WHERE supersedes = $1 OR renews = $1 LIMIT 1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(|row| row.try_get("id")).transpose().map_err(Into::into)
}
