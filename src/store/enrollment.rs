//! One-time enrollment links (stored by token hash) and the web form's idempotency keys.

use super::{StoreResult, Tx};
use crate::domain::ApproverId;
use crate::store::InTx;
use sqlx::{AnyPool, Row};

#[derive(Debug, Clone)]
pub struct EnrollmentLink {
    pub approver_id: ApproverId,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn insert_link(
    tx: &mut Tx,
    token_hash: &str,
    approver: &ApproverId,
    expires_at: i64,
    now_ms: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO enrollment_links (token_hash, approver_id, expires_at, used_at, created_at) \
         VALUES ($1, $2, $3, NULL, $4)",
    )
    .bind(token_hash)
    .bind(approver.as_str())
    .bind(expires_at)
    .bind(now_ms)
    .execute_in(tx)
    .await?;
    Ok(())
}

pub async fn find_link(pool: &AnyPool, token_hash: &str) -> StoreResult<Option<EnrollmentLink>> {
    let row = sqlx::query("SELECT approver_id, expires_at, used_at FROM enrollment_links WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(pool)
        .await?;
    row.map(|row| {
        Ok(EnrollmentLink {
            approver_id: ApproverId::from_trusted(row.try_get("approver_id")?),
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
        })
    })
    .transpose()
}

/// Marks a link used, only if it is unused and unexpired: the compare-and-set that makes it
/// one-time. Returns whether this call won.
pub async fn use_link(tx: &mut Tx, token_hash: &str, now_ms: i64) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE enrollment_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now_ms)
    .bind(token_hash)
    .execute_in(tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Claims a form idempotency key for this approver. A unique violation means it was claimed before.
pub async fn claim_form_key(tx: &mut Tx, approver: &ApproverId, key: &str, now_ms: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO form_submissions (approver_id, idempotency_key, location, created_at) VALUES ($1, $2, NULL, $3)",
    )
    .bind(approver.as_str())
    .bind(key)
    .bind(now_ms)
    .execute_in(tx)
    .await?;
    Ok(())
}

/// Where a claimed key's submission led: `Some(None)` while it is still in flight.
pub async fn form_key_location(
    pool: &AnyPool,
    approver: &ApproverId,
    key: &str,
) -> StoreResult<Option<Option<String>>> {
    let row = sqlx::query("SELECT location FROM form_submissions WHERE approver_id = $1 AND idempotency_key = $2")
        .bind(approver.as_str())
        .bind(key)
        .fetch_optional(pool)
        .await?;
    row.map(|row| row.try_get("location")).transpose().map_err(Into::into)
}

pub async fn finish_form_key(tx: &mut Tx, approver: &ApproverId, key: &str, location: &str) -> StoreResult<()> {
    sqlx::query("UPDATE form_submissions SET location = $1 WHERE approver_id = $2 AND idempotency_key = $3")
        .bind(location)
        .bind(approver.as_str())
        .bind(key)
        .execute_in(tx)
        .await?;
    Ok(())
}
