//! What administration changes: approvers deactivated, their sessions and enrollment links
//! voided, TOTP secrets replaced; agents disabled, their keys rotated with an overlap, their
//! granted items replaced. Plus the lists an admin reads and the agent key lookup that knows
//! about rotation and disabling.

use super::agents::{self, AgentRecord};
use super::{flag, StoreResult, Tx};
use crate::domain::{AgentId, ApproverId, ItemId};
use crate::store::InTx;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// One approver as the admin list shows them.
#[derive(Debug, Clone)]
pub struct ApproverSummary {
    pub id: ApproverId,
    pub username: String,
    pub roles: Vec<String>,
    pub all_items: bool,
    pub items: Vec<ItemId>,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
    /// Sessions neither revoked nor past their absolute expiry (idle ones included).
    pub live_sessions: i64,
}

pub async fn list_approvers(pool: &AnyPool, now: i64) -> StoreResult<Vec<ApproverSummary>> {
    let rows = sqlx::query(
        "SELECT a.id, a.username, a.roles, a.all_items, a.disabled_at, a.created_at, \
         (SELECT COUNT(*) FROM approver_sessions s WHERE s.approver_id = a.id AND s.revoked = 0 AND s.expires_at > $1) \
         AS live_sessions FROM approvers a ORDER BY a.username_normalized",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    let mut summaries = Vec::with_capacity(rows.len());
    for row in &rows {
        let id = ApproverId::from_trusted(row.try_get("id")?);
        let roles: String = row.try_get("roles")?;
        let items = granted(pool, "approver_items", "approver_id", id.as_str()).await?;
        summaries.push(ApproverSummary {
            username: row.try_get("username")?,
            roles: roles.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
            all_items: flag(row.try_get("all_items")?),
            items,
            disabled_at: row.try_get("disabled_at")?,
            created_at: row.try_get("created_at")?,
            live_sessions: row.try_get("live_sessions")?,
            id,
        });
    }
    Ok(summaries)
}

async fn granted(pool: &AnyPool, table: &str, owner_column: &str, owner: &str) -> StoreResult<Vec<ItemId>> {
    let sql = format!("SELECT item_id FROM {table} WHERE {owner_column} = $1 ORDER BY item_id");
    let rows = sqlx::query(&sql).bind(owner).fetch_all(pool).await?;
    rows.iter().map(|row| Ok(ItemId::from_trusted(row.try_get("item_id")?))).collect()
}

/// Marks the approver deactivated; false if they already were (or do not exist).
pub async fn disable_approver(tx: &mut Tx, id: &ApproverId, now: i64) -> StoreResult<bool> {
    let result = sqlx::query("UPDATE approvers SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
        .bind(now)
        .bind(id.as_str())
        .execute_in(tx)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Locks the approver's row for this transaction if they are still active, and says whether they
/// are. A decision that spends an approval token holds it until it commits, so a deactivation
/// (which updates the row) either waits for that decision or voids it: never both.
pub async fn hold_active_approver(tx: &mut Tx, id: &ApproverId) -> StoreResult<bool> {
    let result = sqlx::query("UPDATE approvers SET disabled_at = disabled_at WHERE id = $1 AND disabled_at IS NULL")
        .bind(id.as_str())
        .execute_in(tx)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Revokes every live session of the approver; returns how many.
pub async fn revoke_sessions(tx: &mut Tx, approver: &ApproverId) -> StoreResult<u64> {
    let result = sqlx::query("UPDATE approver_sessions SET revoked = 1 WHERE approver_id = $1 AND revoked = 0")
        .bind(approver.as_str())
        .execute_in(tx)
        .await?;
    Ok(result.rows_affected())
}

/// Replaces the TOTP secret and forgets the last used step (it counted steps of the old secret).
pub async fn replace_totp_secret(tx: &mut Tx, approver: &ApproverId, secret_enc: &str) -> StoreResult<()> {
    sqlx::query("UPDATE approvers SET totp_secret_enc = $1, last_totp_step = 0 WHERE id = $2")
        .bind(secret_enc)
        .bind(approver.as_str())
        .execute_in(tx)
        .await?;
    Ok(())
}

/// Spends the approver's unused enrollment links, so an old link can't show a new secret.
pub async fn void_enrollment_links(tx: &mut Tx, approver: &ApproverId, now: i64) -> StoreResult<()> {
    sqlx::query("UPDATE enrollment_links SET used_at = $1 WHERE approver_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(approver.as_str())
        .execute_in(tx)
        .await?;
    Ok(())
}

/// One agent as the admin list shows it; never a key or its hash.
#[derive(Debug, Clone)]
pub struct AgentSummary {
    pub id: AgentId,
    pub name: String,
    pub owner: String,
    pub all_items: bool,
    pub items: Vec<ItemId>,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
    /// Until when the key replaced by the last rotation still works, if it still does.
    pub previous_key_until: Option<i64>,
}

pub async fn list_agents(pool: &AnyPool, now: i64) -> StoreResult<Vec<AgentSummary>> {
    let rows = sqlx::query(
        "SELECT id, name, owner, all_items, disabled_at, created_at, previous_key_expires_at FROM agents ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    let mut summaries = Vec::with_capacity(rows.len());
    for row in &rows {
        let id = AgentId::from_trusted(row.try_get("id")?);
        let until: Option<i64> = row.try_get("previous_key_expires_at")?;
        summaries.push(AgentSummary {
            name: row.try_get("name")?,
            owner: row.try_get("owner")?,
            all_items: flag(row.try_get("all_items")?),
            items: granted(pool, "agent_items", "agent_id", id.as_str()).await?,
            disabled_at: row.try_get("disabled_at")?,
            created_at: row.try_get("created_at")?,
            previous_key_until: until.filter(|&until| until > now),
            id,
        });
    }
    Ok(summaries)
}

/// Whether the agent exists and is not disabled, read in the transaction that changes it.
pub async fn agent_state_in(tx: &mut Tx, id: &AgentId) -> StoreResult<Option<bool>> {
    let row =
        sqlx::query("SELECT disabled_at FROM agents WHERE id = $1").bind(id.as_str()).fetch_optional_in(tx).await?;
    row.map(|row| Ok(row.try_get::<Option<i64>, _>("disabled_at")?.is_none())).transpose()
}

/// The new key replaces the current one, which keeps working until `previous_until`.
pub async fn rotate_key(tx: &mut Tx, id: &AgentId, new_hash: &str, previous_until: i64) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE agents SET previous_key_hash = api_key_hash, previous_key_expires_at = $1, api_key_hash = $2 \
         WHERE id = $3 AND disabled_at IS NULL",
    )
    .bind(previous_until)
    .bind(new_hash)
    .bind(id.as_str())
    .execute_in(tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Disables the agent; false if it already was (or does not exist).
pub async fn disable_agent(tx: &mut Tx, id: &AgentId, now: i64) -> StoreResult<bool> {
    let result = sqlx::query("UPDATE agents SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
        .bind(now)
        .bind(id.as_str())
        .execute_in(tx)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Replaces the agent's grant: every item (`None`) or exactly these.
pub async fn set_agent_items(tx: &mut Tx, id: &AgentId, items: Option<&[ItemId]>) -> StoreResult<()> {
    sqlx::query("DELETE FROM agent_items WHERE agent_id = $1").bind(id.as_str()).execute_in(tx).await?;
    for item in items.unwrap_or_default() {
        sqlx::query("INSERT INTO agent_items (agent_id, item_id) VALUES ($1, $2)")
            .bind(id.as_str())
            .bind(item.as_str())
            .execute_in(tx)
            .await?;
    }
    sqlx::query("UPDATE agents SET all_items = $1 WHERE id = $2")
        .bind(i64::from(items.is_none()))
        .bind(id.as_str())
        .execute_in(tx)
        .await?;
    Ok(())
}

/// What a presented API key's hash turned out to be.
pub enum KeyLookup {
    Active(AgentRecord),
    /// The agent was disabled: refused, whichever of its keys was presented.
    Disabled,
    /// The key was replaced by a rotation and its overlap has passed.
    Expired,
    Unknown,
}

/// Finds the agent by its current key, or by the key its last rotation replaced.
pub async fn agent_by_key(pool: &AnyPool, hash: &str, now: i64) -> StoreResult<KeyLookup> {
    let row = sqlx::query(
        "SELECT id, name, owner, all_items, disabled_at, api_key_hash, previous_key_expires_at FROM agents \
         WHERE api_key_hash = $1 OR previous_key_hash = $1",
    )
    .bind(hash)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(KeyLookup::Unknown) };
    lookup_of(&row, hash, now)
}

pub(crate) fn lookup_of(row: &AnyRow, hash: &str, now: i64) -> StoreResult<KeyLookup> {
    lookup_of_columns(row, "", hash, now)
}

/// The agent's columns selected for a key lookup, each named `{prefix}{column}`: for a lookup
/// joined to another table's row, whose own columns keep their names.
pub(crate) fn key_columns(prefix: &str) -> String {
    ["id", "name", "owner", "all_items", "disabled_at", "api_key_hash", "previous_key_expires_at"]
        .map(|column| format!("a.{column} AS {prefix}{column}"))
        .join(", ")
}

/// As [`lookup_of`], from columns selected by [`key_columns`] with this prefix.
pub(crate) fn lookup_of_columns(row: &AnyRow, prefix: &str, hash: &str, now: i64) -> StoreResult<KeyLookup> {
    let column = |name: &str| format!("{prefix}{name}");
    if row.try_get::<Option<i64>, _>(column("disabled_at").as_str())?.is_some() {
        return Ok(KeyLookup::Disabled);
    }
    let current: String = row.try_get(column("api_key_hash").as_str())?;
    let previous_until: Option<i64> = row.try_get(column("previous_key_expires_at").as_str())?;
    if current != hash && previous_until.is_none_or(|until| until <= now) {
        return Ok(KeyLookup::Expired);
    }
    Ok(KeyLookup::Active(agents::from_columns(row, prefix)?))
}
