//! Plaid's transfer events as stored (each once, by Plaid's event id), the sync cursor, and named
//! leases for work one replica does at a time.

use super::{StoreResult, Tx};
use crate::store::InTx;
use sqlx::{AnyPool, Row};

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub event_id: i64,
    pub transfer_id: String,
    pub event_type: String,
    pub occurred_at: String,
    pub failure_code: Option<String>,
    pub failure_description: Option<String>,
}

/// An event to store, with the request it belongs to (if Countersign created its transfer).
pub struct NewEvent<'a> {
    pub event: &'a StoredEvent,
    pub request_id: Option<&'a str>,
    pub plaid_request_id: &'a str,
    pub now_ms: i64,
}

/// The highest event id stored: the next sync asks for events after it.
pub async fn cursor(pool: &AnyPool) -> StoreResult<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(event_id), 0) AS cursor FROM transfer_events").fetch_one(pool).await?;
    Ok(row.try_get("cursor")?)
}

/// Stores an event unless it is stored already; returns whether this call stored it.
pub async fn insert(tx: &mut Tx, new: NewEvent<'_>) -> StoreResult<bool> {
    let result = sqlx::query(
        "INSERT INTO transfer_events (event_id, transfer_id, event_type, occurred_at, failure_code, \
         failure_description, request_id, plaid_request_id, synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(new.event.event_id)
    .bind(&new.event.transfer_id)
    .bind(&new.event.event_type)
    .bind(&new.event.occurred_at)
    .bind(new.event.failure_code.as_deref())
    .bind(new.event.failure_description.as_deref())
    .bind(new.request_id)
    .bind(new.plaid_request_id)
    .bind(new.now_ms)
    .execute_in(tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// A transfer's events, oldest first.
pub async fn for_transfer<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    pool: E,
    transfer_id: &str,
) -> StoreResult<Vec<StoredEvent>> {
    let rows = sqlx::query(
        "SELECT event_id, transfer_id, event_type, occurred_at, failure_code, failure_description \
         FROM transfer_events WHERE transfer_id = $1 ORDER BY event_id",
    )
    .bind(transfer_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredEvent {
                event_id: row.try_get("event_id")?,
                transfer_id: row.try_get("transfer_id")?,
                event_type: row.try_get("event_type")?,
                occurred_at: row.try_get("occurred_at")?,
                failure_code: row.try_get("failure_code")?,
                failure_description: row.try_get("failure_description")?,
            })
        })
        .collect()
}

/// Takes (or extends) the lease `name` for `holder` until `until`, if it is free, lapsed, or
/// already this holder's. One compare-and-set: two replicas can never both hold it.
pub async fn take_lease(tx: &mut Tx, name: &str, holder: &str, now_ms: i64, until: i64) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE leases SET holder = $1, expires_at = $2 WHERE name = $3 AND (expires_at <= $4 OR holder = $1)",
    )
    .bind(holder)
    .bind(until)
    .bind(name)
    .bind(now_ms)
    .execute_in(tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Gives the lease up early, if `holder` still holds it.
pub async fn release_lease(tx: &mut Tx, name: &str, holder: &str) -> StoreResult<()> {
    sqlx::query("UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute_in(tx)
        .await?;
    Ok(())
}
