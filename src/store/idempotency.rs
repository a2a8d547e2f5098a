//! Agent-side idempotency keys: claim, take over a stale claim, finish with the response.

use super::{StoreResult, Tx};
use crate::domain::AgentId;
use crate::store::InTx;
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub fingerprint: String,
    pub request_id: Option<String>,
    pub response_status: Option<i64>,
    pub response_body: Option<String>,
    pub locked_until: i64,
}

/// Inserts an in-flight claim; returns false when the key already exists.
pub async fn try_claim(
    tx: &mut Tx,
    agent: &AgentId,
    key: &str,
    fingerprint: &str,
    locked_until: i64,
    now_ms: i64,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "INSERT INTO idempotency_keys (agent_id, idempotency_key, fingerprint, locked_until, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id, idempotency_key) DO NOTHING",
    )
    .bind(agent.as_str())
    .bind(key)
    .bind(fingerprint)
    .bind(locked_until)
    .bind(now_ms)
    .execute_in(tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn find(tx: &mut Tx, agent: &AgentId, key: &str) -> StoreResult<Option<KeyRecord>> {
    find_with(tx.conn().await?, agent, key).await
}

/// Reads a key outside any transaction (for waiting on another call's reply).
pub async fn find_outside(pool: &sqlx::AnyPool, agent: &AgentId, key: &str) -> StoreResult<Option<KeyRecord>> {
    find_with(pool, agent, key).await
}

async fn find_with<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    agent: &AgentId,
    key: &str,
) -> StoreResult<Option<KeyRecord>> {
    let row = sqlx::query(
        "SELECT fingerprint, request_id, response_status, response_body, locked_until FROM idempotency_keys \
         WHERE agent_id = $1 AND idempotency_key = $2",
    )
    .bind(agent.as_str())
    .bind(key)
    .fetch_optional(executor)
    .await?;
    row.map(|row| {
        Ok(KeyRecord {
            fingerprint: row.try_get("fingerprint")?,
            request_id: row.try_get("request_id")?,
            response_status: row.try_get("response_status")?,
            response_body: row.try_get("response_body")?,
            locked_until: row.try_get("locked_until")?,
        })
    })
    .transpose()
}

/// Takes over an unfinished claim whose lease has run out (its process died or gave up).
/// Compare-and-set on the old lease, so only one retry wins.
pub async fn take_over(
    tx: &mut Tx,
    agent: &AgentId,
    key: &str,
    old_locked_until: i64,
    locked_until: i64,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE idempotency_keys SET locked_until = $1 WHERE agent_id = $2 AND idempotency_key = $3 \
         AND locked_until = $4 AND response_status IS NULL",
    )
    .bind(locked_until)
    .bind(agent.as_str())
    .bind(key)
    .bind(old_locked_until)
    .execute_in(tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Links the claim to the request it created, so a takeover resumes that request. (Sent with
/// the transaction's next statement or its commit: nothing here can fail on its own.)
pub async fn link_request(tx: &mut Tx, agent: &AgentId, key: &str, request_id: &str) -> StoreResult<()> {
    tx.write(
        sqlx::query("UPDATE idempotency_keys SET request_id = $1 WHERE agent_id = $2 AND idempotency_key = $3")
            .bind(request_id)
            .bind(agent.as_str())
            .bind(key),
    )
    .await
}

pub async fn finish(tx: &mut Tx, agent: &AgentId, key: &str, status: u16, body: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET response_status = $1, response_body = $2 WHERE agent_id = $3 AND idempotency_key = $4",
    )
    .bind(i64::from(status))
    .bind(body)
    .bind(agent.as_str())
    .bind(key)
    .execute_in(tx)
    .await?;
    Ok(())
}

/// Ends a claim early so the agent's retry can take over at once (after a transient failure).
pub async fn release(tx: &mut Tx, agent: &AgentId, key: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET locked_until = 0 WHERE agent_id = $1 AND idempotency_key = $2 AND response_status IS NULL",
    )
    .bind(agent.as_str())
    .bind(key)
    .execute_in(tx)
    .await?;
    Ok(())
}

/// Deletes keys older than the retention cutoff.
pub async fn prune(tx: &mut Tx, older_than_ms: i64) -> StoreResult<u64> {
    let result =
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(older_than_ms).execute_in(tx).await?;
    Ok(result.rows_affected())
}
