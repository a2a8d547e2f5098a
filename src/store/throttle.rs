//! Sign-in throttle counters (`signin_throttle`): one compare-and-set per key and attempt that
//! reserves the attempt before anything is checked, so no amount of concurrency evaluates more
//! attempts than the limit, on one replica or many.

use super::{StoreResult, Tx};
use crate::store::InTx;
use sqlx::Row;

/// How a key is throttled: `limit` attempts per streak, then each attempt blocks the key for a
/// delay that starts at `first_delay_ms` and doubles up to `max_delay_ms`. A streak with no
/// attempt for `forget_ms` starts over.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub limit: i64,
    pub first_delay_ms: i64,
    pub max_delay_ms: i64,
    pub forget_ms: i64,
}

/// The streak's failures before this attempt: none if it went quiet long enough to be forgotten.
const PRIOR: &str = "(CASE WHEN signin_throttle.updated_at < $4 THEN 0 ELSE signin_throttle.failures END)";

/// Reserves one attempt for `key`, counted as a failure until [`release`] says otherwise.
/// `Ok(())` when the attempt may go ahead; `Err(blocked_until)` when the key is blocked.
pub async fn reserve(tx: &mut Tx, key: &str, limits: Limits, now: i64) -> StoreResult<Result<(), i64>> {
    let first = limits.first_delay_ms.min(limits.max_delay_ms);
    let delay = format!(
        "CASE WHEN {PRIOR} + 1 < $5 THEN 0 \
         WHEN signin_throttle.delay_ms = 0 OR signin_throttle.updated_at < $4 THEN $6 \
         WHEN signin_throttle.delay_ms * 2 > $7 THEN $7 ELSE signin_throttle.delay_ms * 2 END"
    );
    let sql = format!(
        "INSERT INTO signin_throttle (key, failures, delay_ms, blocked_until, window_start, updated_at) \
         VALUES ($1, 1, $2, $3 + $2, $3, $3) \
         ON CONFLICT (key) DO UPDATE SET failures = {PRIOR} + 1, delay_ms = {delay}, blocked_until = $3 + {delay}, \
         window_start = CASE WHEN signin_throttle.updated_at < $4 THEN $3 ELSE signin_throttle.window_start END, \
         updated_at = $3 \
         WHERE signin_throttle.blocked_until <= $3 RETURNING failures"
    );
    let reserved = sqlx::query(&sql)
        .bind(key)
        .bind(if limits.limit <= 1 { first } else { 0 })
        .bind(now)
        .bind(now - limits.forget_ms)
        .bind(limits.limit)
        .bind(first)
        .bind(limits.max_delay_ms)
        .fetch_optional_in(tx)
        .await?;
    if reserved.is_some() {
        return Ok(Ok(()));
    }
    let row =
        sqlx::query("SELECT blocked_until FROM signin_throttle WHERE key = $1").bind(key).fetch_one_in(tx).await?;
    Ok(Err(row.try_get("blocked_until")?))
}

/// Takes back one reserved attempt that turned out not to be a failure (a success, or an
/// attempt never evaluated). Subtracts instead of resetting, so failures counted by attempts
/// still in flight on this or another replica stay counted.
pub async fn release(tx: &mut Tx, key: &str) -> StoreResult<()> {
    sqlx::query("UPDATE signin_throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0")
        .bind(key)
        .execute_in(tx)
        .await?;
    Ok(())
}

/// Forgets a key's streak and any block (an admin's unlock). Returns whether the streak had
/// failures: a row also remains after successful attempts (their reservations released to 0).
pub async fn clear(tx: &mut Tx, key: &str) -> StoreResult<bool> {
    let row = sqlx::query("DELETE FROM signin_throttle WHERE key = $1 RETURNING failures")
        .bind(key)
        .fetch_optional_in(tx)
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64, _>("failures")? > 0,
        None => false,
    })
}

/// Deletes streaks quiet since `quiet_since` and no longer blocking at `now`.
pub async fn prune(tx: &mut Tx, quiet_since: i64, now: i64) -> StoreResult<u64> {
    let result = sqlx::query("DELETE FROM signin_throttle WHERE updated_at < $1 AND blocked_until <= $2")
        .bind(quiet_since)
        .bind(now)
        .execute_in(tx)
        .await?;
    Ok(result.rows_affected())
}

/// Until when `key` is blocked, if it is blocked at `now` (an admin's list of approvers).
pub async fn blocked_until(pool: &sqlx::AnyPool, key: &str, now: i64) -> StoreResult<Option<i64>> {
    let row = sqlx::query("SELECT blocked_until FROM signin_throttle WHERE key = $1 AND blocked_until > $2")
        .bind(key)
        .bind(now)
        .fetch_optional(pool)
        .await?;
    row.map(|row| Ok(row.try_get("blocked_until")?)).transpose()
}
