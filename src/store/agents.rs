//! Agents and which items they may use.

use super::{StoreResult, Tx};
use crate::domain::{AgentId, ItemId};
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
    .execute(&mut **tx)
    .await?;
    for item in agent.items.unwrap_or_default() {
        sqlx::query("INSERT INTO agent_items (agent_id, item_id) VALUES ($1, $2)")
            .bind(agent.id.as_str())
            .bind(item.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<AgentRecord> {
    Ok(AgentRecord {
        id: AgentId::from_trusted(row.try_get("id")?),
        name: row.try_get("name")?,
        owner: row.try_get("owner")?,
        all_items: super::flag(row.try_get("all_items")?),
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
