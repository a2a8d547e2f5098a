//! The read gateway's rows: per-agent product grants and the tier-1 reads approvers review.

use super::{StoreResult, Tx};
use sqlx::{AnyPool, Row};

/// Grants `product` to an agent (again: updates whether it is unmasked).
pub async fn grant(tx: &mut Tx, agent_id: &str, product: &str, unmasked: bool) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO agent_read_grants (agent_id, product, unmasked) VALUES ($1, $2, $3) \
         ON CONFLICT (agent_id, product) DO UPDATE SET unmasked = excluded.unmasked",
    )
    .bind(agent_id)
    .bind(product)
    .bind(i64::from(unmasked))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The agent's grant of `product`: `None` when not granted, else whether it is unmasked.
pub async fn grant_of(pool: &AnyPool, agent_id: &str, product: &str) -> StoreResult<Option<bool>> {
    let row = sqlx::query("SELECT unmasked FROM agent_read_grants WHERE agent_id = $1 AND product = $2")
        .bind(agent_id)
        .bind(product)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.try_get::<i64, _>("unmasked")).transpose()?.map(super::flag))
}

/// A tier-1 (or higher) read, as the approvers' page lists it.
#[derive(Debug, Clone)]
pub struct SensitiveRead {
    pub id: String,
    pub occurred_at: i64,
    pub agent_id: String,
    pub item_id: String,
    pub product: String,
    pub tier: i64,
    /// Masked account ids, comma separated.
    pub accounts: Option<String>,
    pub reason: String,
    pub unmasked: bool,
    pub outcome: String,
    pub plaid_request_id: Option<String>,
}

pub async fn insert_sensitive(tx: &mut Tx, read: &SensitiveRead) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sensitive_reads (id, occurred_at, agent_id, item_id, product, tier, accounts, reason, \
         unmasked, outcome, plaid_request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&read.id)
    .bind(read.occurred_at)
    .bind(&read.agent_id)
    .bind(&read.item_id)
    .bind(&read.product)
    .bind(read.tier)
    .bind(read.accounts.as_deref())
    .bind(&read.reason)
    .bind(i64::from(read.unmasked))
    .bind(&read.outcome)
    .bind(read.plaid_request_id.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The most recent sensitive reads, newest first.
pub async fn recent_sensitive(pool: &AnyPool, limit: i64) -> StoreResult<Vec<SensitiveRead>> {
    let rows = sqlx::query(
        "SELECT id, occurred_at, agent_id, item_id, product, tier, accounts, reason, unmasked, outcome, \
         plaid_request_id FROM sensitive_reads ORDER BY occurred_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(SensitiveRead {
                id: row.try_get("id")?,
                occurred_at: row.try_get("occurred_at")?,
                agent_id: row.try_get("agent_id")?,
                item_id: row.try_get("item_id")?,
                product: row.try_get("product")?,
                tier: row.try_get("tier")?,
                accounts: row.try_get("accounts")?,
                reason: row.try_get("reason")?,
                unmasked: super::flag(row.try_get("unmasked")?),
                outcome: row.try_get("outcome")?,
                plaid_request_id: row.try_get("plaid_request_id")?,
            })
        })
        .collect()
}
