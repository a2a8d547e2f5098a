//! Approver groups (`finance`, `ops`, …): which slots of a request's quorum an approver may fill.

use super::{StoreError, StoreResult, Tx};
use crate::domain::ApproverId;
use crate::store::InTx;
use sqlx::Row;

/// Replaces an approver's groups. False when there is no such approver.
pub async fn set(tx: &mut Tx, id: &ApproverId, groups: &[String]) -> StoreResult<bool> {
    let json = serde_json::to_string(groups).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let result = sqlx::query("UPDATE approvers SET groups = $1 WHERE id = $2")
        .bind(json)
        .bind(id.as_str())
        .execute_in(tx)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// The groups of each approver, in the order given (an unknown approver has none).
pub async fn of(conn: &mut sqlx::AnyConnection, ids: &[&str]) -> StoreResult<Vec<Vec<String>>> {
    let mut all = Vec::with_capacity(ids.len());
    for id in ids {
        let row =
            sqlx::query("SELECT groups FROM approvers WHERE id = $1").bind(*id).fetch_optional(&mut *conn).await?;
        let groups = match row {
            Some(row) => {
                let json: String = row.try_get("groups")?;
                serde_json::from_str(&json).map_err(|_| StoreError::Corrupt("approvers.groups".into()))?
            }
            None => Vec::new(),
        };
        all.push(groups);
    }
    Ok(all)
}
