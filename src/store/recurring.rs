//! What Plaid created for a recurring transfer request, and what it says of it since: its status
//! and the transfers (occurrences) it has originated. One row per request, written when
//! `/transfer/recurring/create` answers and refreshed from `/transfer/recurring/get`.

use super::{StoreError, StoreResult, Tx};
use crate::domain::RequestId;
use crate::store::InTx;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringRecord {
    pub request_id: RequestId,
    pub recurring_transfer_id: String,
    /// Plaid's `TransferRecurringStatus`: `active`, `cancelled`, `expired`.
    pub status: String,
    /// The transfers Plaid originated for it so far, oldest first.
    pub transfer_ids: Vec<String>,
    pub next_origination_date: Option<String>,
    pub updated_at: i64,
}

/// Plaid's view of the recurring transfer, as of a call.
pub struct Observed<'a> {
    pub recurring_transfer_id: &'a str,
    pub status: &'a str,
    pub transfer_ids: &'a [String],
    pub next_origination_date: Option<&'a str>,
}

/// Records (or refreshes) what Plaid says of the request's recurring transfer.
pub async fn record(tx: &mut Tx, request_id: &RequestId, observed: &Observed<'_>, now_ms: i64) -> StoreResult<()> {
    let ids = serde_json::to_string(observed.transfer_ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO recurring_transfers (request_id, recurring_transfer_id, status, transfer_ids, \
         next_origination_date, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (request_id) DO UPDATE SET status = excluded.status, transfer_ids = excluded.transfer_ids, \
         next_origination_date = excluded.next_origination_date, updated_at = excluded.updated_at",
    )
    .bind(request_id.as_str())
    .bind(observed.recurring_transfer_id)
    .bind(observed.status)
    .bind(ids)
    .bind(observed.next_origination_date)
    .bind(now_ms)
    .execute_in(tx)
    .await?;
    Ok(())
}

const COLUMNS: &str = "request_id, recurring_transfer_id, status, transfer_ids, next_origination_date, updated_at";

fn from_row(row: &AnyRow) -> StoreResult<RecurringRecord> {
    let ids: String = row.try_get("transfer_ids")?;
    Ok(RecurringRecord {
        request_id: RequestId::from_trusted(row.try_get("request_id")?),
        recurring_transfer_id: row.try_get("recurring_transfer_id")?,
        status: row.try_get("status")?,
        transfer_ids: serde_json::from_str(&ids)
            .map_err(|_| StoreError::Corrupt("recurring_transfers.transfer_ids".into()))?,
        next_origination_date: row.try_get("next_origination_date")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn for_request<'e, E>(executor: E, request_id: &RequestId) -> StoreResult<Option<RecurringRecord>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM recurring_transfers WHERE request_id = $1"))
        .bind(request_id.as_str())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The request a Plaid recurring transfer belongs to.
pub async fn by_recurring_id(pool: &AnyPool, recurring_transfer_id: &str) -> StoreResult<Option<RecurringRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM recurring_transfers WHERE recurring_transfer_id = $1"))
        .bind(recurring_transfer_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Whether a request of ours created this transfer itself (else a recurring transfer may have).
pub async fn created_by_a_request(pool: &AnyPool, transfer_id: &str) -> StoreResult<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM transfer_requests WHERE transfer_id = $1")
        .bind(transfer_id)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}
