//! Reads for the gauges computed at scrape time: pending requests by tier, and the audit records
//! queued for the chainer but not yet chained.

use super::audit::AuditFields;
use super::{StoreError, StoreResult};
use crate::domain::RequestState;
use sqlx::{AnyPool, Row};

/// `(tier, count)` of requests waiting for people, every tier that has any.
pub async fn pending_by_tier(pool: &AnyPool) -> StoreResult<Vec<(i64, i64)>> {
    let rows = sqlx::query("SELECT tier, COUNT(*) AS n FROM transfer_requests WHERE state = $1 GROUP BY tier")
        .bind(RequestState::PendingApproval.as_str())
        .fetch_all(pool)
        .await?;
    rows.iter().map(|row| Ok((row.try_get("tier")?, row.try_get("n")?))).collect()
}

/// How many audit records wait in the chainer's queue, and when the oldest of them happened.
pub async fn audit_backlog(pool: &AnyPool) -> StoreResult<(i64, Option<i64>)> {
    let count = sqlx::query("SELECT COUNT(*) AS n FROM audit_pending").fetch_one(pool).await?.try_get("n")?;
    let oldest = sqlx::query("SELECT fields FROM audit_pending ORDER BY id LIMIT 1").fetch_optional(pool).await?;
    let oldest_at = match oldest {
        Some(row) => {
            let json: String = row.try_get("fields")?;
            let fields: AuditFields =
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("pending audit: {e}")))?;
            Some(fields.occurred_at)
        }
        None => None,
    };
    Ok((count, oldest_at))
}
