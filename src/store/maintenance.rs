//! Periodic maintenance shared by every replica: when each task last ran (wall clock), claimed by
//! compare-and-set so one replica runs it per period, however often processes restart.

use super::{StoreResult, Tx};
use crate::store::InTx;
use sqlx::{AnyPool, Row};

/// When `task` last ran, if ever.
pub async fn last_run(pool: &AnyPool, task: &str) -> StoreResult<Option<i64>> {
    let row =
        sqlx::query("SELECT last_run_at FROM maintenance_runs WHERE task = $1").bind(task).fetch_optional(pool).await?;
    Ok(row.map(|r| r.try_get("last_run_at")).transpose()?)
}

/// Records a run of `task` at `now_ms` if its last run was at or before `due_before_ms` (or it
/// never ran); returns whether this caller won the claim.
pub async fn claim(tx: &mut Tx, task: &str, now_ms: i64, due_before_ms: i64) -> StoreResult<bool> {
    let result = sqlx::query(
        "INSERT INTO maintenance_runs (task, last_run_at) VALUES ($1, $2) \
         ON CONFLICT (task) DO UPDATE SET last_run_at = excluded.last_run_at \
         WHERE maintenance_runs.last_run_at <= $3",
    )
    .bind(task)
    .bind(now_ms)
    .bind(due_before_ms)
    .execute_in(tx)
    .await?;
    Ok(result.rows_affected() == 1)
}
