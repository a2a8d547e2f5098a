//! Approvers' alert channels (destinations encrypted by the caller), and who to alert about a
//! request: approvers allowed on its item who have not decided it.

use super::{StoreResult, Tx};
use crate::domain::ItemId;
use crate::store::InTx;
use sqlx::{AnyPool, Row};

/// One approver channel, as stored.
#[derive(Debug, Clone)]
pub struct ApproverChannel {
    pub approver_id: String,
    pub username: String,
    pub channel: String,
    pub destination_enc: String,
}

/// Sets (replaces) the approver's destination on `channel`.
pub async fn set(tx: &mut Tx, approver_id: &str, channel: &str, destination_enc: &str, now_ms: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO approver_channels (approver_id, channel, destination_enc, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (approver_id, channel) DO UPDATE SET destination_enc = excluded.destination_enc",
    )
    .bind(approver_id)
    .bind(channel)
    .bind(destination_enc)
    .bind(now_ms)
    .execute_in(tx)
    .await?;
    Ok(())
}

/// Whether any approver has any alert channel.
pub async fn any(tx: &mut Tx) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM approver_channels LIMIT 1").fetch_optional_in(tx).await?;
    Ok(row.is_some())
}

/// Removes the approver's `channel`; false if there was none.
pub async fn clear(tx: &mut Tx, approver_id: &str, channel: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM approver_channels WHERE approver_id = $1 AND channel = $2")
        .bind(approver_id)
        .bind(channel)
        .execute_in(tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Channels of approvers (role `approver`) allowed on `item`, except the agent's `owner` (who may
/// not approve) and, with `undecided_only`, those who already decided request `request_id`.
pub async fn for_request(
    pool: &AnyPool,
    item: &ItemId,
    request_id: &str,
    owner: &str,
    undecided_only: bool,
) -> StoreResult<Vec<ApproverChannel>> {
    let rows = sqlx::query(
        "SELECT c.approver_id, a.username, c.channel, c.destination_enc FROM approver_channels c \
         JOIN approvers a ON a.id = c.approver_id \
         WHERE a.roles LIKE '%approver%' AND LOWER(a.username) <> LOWER($3) \
         AND (a.all_items = 1 OR EXISTS (SELECT 1 FROM approver_items i WHERE i.approver_id = a.id AND i.item_id = $1)) \
         AND ($4 = 0 OR NOT EXISTS (SELECT 1 FROM approvals p WHERE p.request_id = $2 AND p.approver_id = a.id)) \
         ORDER BY c.approver_id, c.channel",
    )
    .bind(item.as_str())
    .bind(request_id)
    .bind(owner)
    .bind(i64::from(undecided_only))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ApproverChannel {
                approver_id: row.try_get("approver_id")?,
                username: row.try_get("username")?,
                channel: row.try_get("channel")?,
                destination_enc: row.try_get("destination_enc")?,
            })
        })
        .collect()
}
