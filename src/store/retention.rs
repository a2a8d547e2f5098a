//! PII retention: find requests whose legal name is due for purging, and overwrite the intent,
//! the agent's stored replies and the callbacks in the outbox that show it.
//! Audit records are never touched here (they hold no PII to begin with).

use super::{StoreResult, Tx};
use crate::domain::{AgentId, RequestId, RequestState};
use crate::store::InTx;
use sqlx::{AnyPool, Row};

/// Terminal requests untouched since before `cutoff_ms` whose intent still holds PII.
pub async fn due(pool: &AnyPool, cutoff_ms: i64, limit: i64) -> StoreResult<Vec<RequestId>> {
    let terminal: Vec<&str> = RequestState::terminal_states().into_iter().map(RequestState::as_str).collect();
    let placeholders: Vec<String> = (0..terminal.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "SELECT id FROM transfer_requests WHERE pii_purged_at IS NULL AND updated_at < $1 AND state IN ({}) \
         ORDER BY updated_at LIMIT $2",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(cutoff_ms).bind(limit);
    for state in terminal {
        query = query.bind(state);
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(|row| Ok(RequestId::from_trusted(row.try_get("id")?))).collect()
}

/// Replaces the stored intent and marks the request purged; only while it is still unpurged.
pub async fn purge(tx: &mut Tx, id: &RequestId, redacted_intent: &serde_json::Value, now_ms: i64) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE transfer_requests SET intent = $1, pii_purged_at = $2 WHERE id = $3 AND pii_purged_at IS NULL",
    )
    .bind(redacted_intent.to_string())
    .bind(now_ms)
    .bind(id.as_str())
    .execute_in(tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// When the request's PII was purged, if it was.
pub async fn purged_at(pool: &AnyPool, id: &RequestId) -> StoreResult<Option<i64>> {
    let row = sqlx::query("SELECT pii_purged_at FROM transfer_requests WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.try_get::<Option<i64>, _>("pii_purged_at")).transpose()?.flatten())
}

/// An agent's stored reply that mentions a request (its own key, or a cancel/renew that names it).
pub struct StoredReply {
    pub idempotency_key: String,
    pub body: String,
}

/// Every stored reply of `agent` linked to or naming request `id`.
pub async fn replies_naming(tx: &mut Tx, agent: &AgentId, id: &RequestId) -> StoreResult<Vec<StoredReply>> {
    let rows = sqlx::query(
        "SELECT idempotency_key, response_body FROM idempotency_keys \
         WHERE agent_id = $1 AND response_body IS NOT NULL AND (request_id = $2 OR response_body LIKE $3)",
    )
    .bind(agent.as_str())
    .bind(id.as_str())
    .bind(format!("%\"{}\"%", id.as_str()))
    .fetch_all_in(tx)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredReply { idempotency_key: row.try_get("idempotency_key")?, body: row.try_get("response_body")? })
        })
        .collect()
}

/// Replaces a stored reply's body (same status, same request: only PII taken out).
pub async fn replace_reply(tx: &mut Tx, agent: &AgentId, key: &str, body: &str) -> StoreResult<()> {
    sqlx::query("UPDATE idempotency_keys SET response_body = $1 WHERE agent_id = $2 AND idempotency_key = $3")
        .bind(body)
        .bind(agent.as_str())
        .bind(key)
        .execute_in(tx)
        .await?;
    Ok(())
}

/// A callback in the outbox about a request (delivered or still waiting), as stored.
pub struct StoredCallback {
    pub message_id: String,
    pub payload: String,
}

/// Every agent callback about request `id`, whatever its delivery state.
pub async fn callbacks_about(tx: &mut Tx, id: &RequestId) -> StoreResult<Vec<StoredCallback>> {
    let rows = sqlx::query("SELECT id, payload FROM outbox WHERE request_id = $1 AND channel = $2")
        .bind(id.as_str())
        .bind(super::outbox::AGENT_CALLBACK)
        .fetch_all_in(tx)
        .await?;
    rows.iter()
        .map(|row| Ok(StoredCallback { message_id: row.try_get("id")?, payload: row.try_get("payload")? }))
        .collect()
}

/// Replaces a callback's body (same message id, so a receiver still sees one message).
pub async fn replace_callback(tx: &mut Tx, message_id: &str, payload: &str) -> StoreResult<()> {
    sqlx::query("UPDATE outbox SET payload = $1 WHERE id = $2").bind(payload).bind(message_id).execute_in(tx).await?;
    Ok(())
}
