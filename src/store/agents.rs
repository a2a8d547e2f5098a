//! Agents and which items they may use.

use super::{StoreResult, Tx};
use crate::domain::{AgentId, ItemId};
use crate::store::InTx;
use sqlx::{AnyPool, Row};

#[derive(Debug, Clone)]
pub struct AgentRecord {
    pub id: AgentId,
    pub name: String,
    pub owner: String,
    pub all_items: bool,
}

pub struct NewAgent<'a> {
    pub id: &'a AgentId,
    pub name: &'a str,
    pub owner: &'a str,
    pub api_key_hash: &'a str,
    pub items: Option<&'a [ItemId]>,
    pub now_ms: i64,
}

pub async fn insert(tx: &mut Tx, agent: NewAgent<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO agents (id, name, owner, api_key_hash, all_items, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(agent.id.as_str())
    .bind(agent.name)
    .bind(agent.owner)
    .bind(agent.api_key_hash)
    .bind(i64::from(agent.items.is_none()))
    .bind(agent.now_ms)
    .execute_in(tx)
    .await?;
    for item in agent.items.unwrap_or_default() {
        sqlx::query("INSERT INTO agent_items (agent_id, item_id) VALUES ($1, $2)")
            .bind(agent.id.as_str())
            .bind(item.as_str())
            .execute_in(tx)
            .await?;
    }
    Ok(())
}

pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<AgentRecord> {
    from_columns(row, "")
}

/// An agent from columns named `{prefix}{column}` (a row joined to another table's).
pub(crate) fn from_columns(row: &sqlx::any::AnyRow, prefix: &str) -> StoreResult<AgentRecord> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(AgentRecord {
        id: AgentId::from_trusted(row.try_get(column("id").as_str())?),
        name: row.try_get(column("name").as_str())?,
        owner: row.try_get(column("owner").as_str())?,
        all_items: super::flag(row.try_get(column("all_items").as_str())?),
    })
}

pub async fn may_use_item(pool: &AnyPool, agent: &AgentRecord, item: &ItemId) -> StoreResult<bool> {
    if agent.all_items {
        return Ok(true);
    }
    let row = sqlx::query("SELECT 1 AS granted FROM agent_items WHERE agent_id = $1 AND item_id = $2")
        .bind(agent.id.as_str())
        .bind(item.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

pub async fn find(pool: &AnyPool, id: &AgentId) -> StoreResult<Option<AgentRecord>> {
    let row = sqlx::query("SELECT id, name, owner, all_items FROM agents WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Where an agent's callbacks go and the secrets (encrypted) that sign them.
#[derive(Debug, Clone)]
pub struct Callback {
    pub url: String,
    pub secret_enc: String,
    /// The secret before the last rotation, and until when it still signs (ms).
    pub previous_secret_enc: Option<String>,
    pub previous_until: Option<i64>,
}

fn callback_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Option<Callback>> {
    let url: Option<String> = row.try_get("callback_url")?;
    let secret: Option<String> = row.try_get("callback_secret_enc")?;
    Ok(match (url, secret) {
        (Some(url), Some(secret_enc)) => Some(Callback {
            url,
            secret_enc,
            previous_secret_enc: row.try_get("callback_previous_secret_enc")?,
            previous_until: row.try_get("callback_previous_until")?,
        }),
        _ => None,
    })
}

const CALLBACK_COLUMNS: &str =
    "callback_url, callback_secret_enc, callback_previous_secret_enc, callback_previous_until";

/// The agent's callback, read inside a write transaction (a transition deciding what to tell it).
pub async fn callback_in(tx: &mut Tx, id: &str) -> StoreResult<Option<Callback>> {
    let sql = format!("SELECT {CALLBACK_COLUMNS} FROM agents WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional_in(tx).await?;
    Ok(row.as_ref().map(callback_from_row).transpose()?.flatten())
}

/// The callback of the agent that proposed request `request_id`, inside a write transaction.
pub async fn callback_for_request_in(tx: &mut Tx, request_id: &str) -> StoreResult<Option<Callback>> {
    let sql = format!(
        "SELECT {CALLBACK_COLUMNS} FROM agents WHERE id = (SELECT agent_id FROM transfer_requests WHERE id = $1)"
    );
    let row = sqlx::query(&sql).bind(request_id).fetch_optional_in(tx).await?;
    Ok(row.as_ref().map(callback_from_row).transpose()?.flatten())
}

/// The agent's callback as it is now (the delivery worker signs with the current secrets).
pub async fn callback(pool: &AnyPool, id: &str) -> StoreResult<Option<Callback>> {
    let sql = format!("SELECT {CALLBACK_COLUMNS} FROM agents WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await?;
    Ok(row.as_ref().map(callback_from_row).transpose()?.flatten())
}

/// Whether the agent has a callback signing secret (it keeps it when its URL is removed).
pub async fn has_callback_secret(tx: &mut Tx, id: &AgentId) -> StoreResult<bool> {
    let row = sqlx::query("SELECT callback_secret_enc FROM agents WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional_in(tx)
        .await?;
    Ok(row.map(|row| row.try_get::<Option<String>, _>("callback_secret_enc")).transpose()?.flatten().is_some())
}

/// The agent's id by its unique name.
pub async fn id_by_name(tx: &mut Tx, name: &str) -> StoreResult<Option<AgentId>> {
    let row = sqlx::query("SELECT id FROM agents WHERE name = $1").bind(name).fetch_optional_in(tx).await?;
    Ok(row.map(|row| row.try_get::<String, _>("id").map(AgentId::from_trusted)).transpose()?)
}

/// Sets (or clears, with `None`) the callback URL; keeps the secrets. Sets `secret_enc` when given
/// (the first URL an agent gets comes with its first secret).
pub async fn set_callback(tx: &mut Tx, id: &AgentId, url: Option<&str>, secret_enc: Option<&str>) -> StoreResult<()> {
    sqlx::query(
        "UPDATE agents SET callback_url = $1, callback_secret_enc = COALESCE($2, callback_secret_enc) WHERE id = $3",
    )
    .bind(url)
    .bind(secret_enc)
    .bind(id.as_str())
    .execute_in(tx)
    .await?;
    Ok(())
}

/// Replaces the signing secret; the old one keeps signing beside it until `previous_until`.
pub async fn rotate_callback_secret(tx: &mut Tx, id: &AgentId, new_enc: &str, previous_until: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE agents SET callback_previous_secret_enc = callback_secret_enc, callback_previous_until = $1, \
         callback_secret_enc = $2 WHERE id = $3",
    )
    .bind(previous_until)
    .bind(new_enc)
    .bind(id.as_str())
    .execute_in(tx)
    .await?;
    Ok(())
}
