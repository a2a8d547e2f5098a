//! The read gateway's rows: per-agent product grants and the tier-1 reads approvers review.

use super::admin::{lookup_of, KeyLookup};
use super::audit::AuditFields;
use super::items::{item_from_columns, ItemRecord};
use super::{Store, StoreError, StoreResult, Tx};
use crate::store::InTx;
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
    .execute_in(tx)
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
    .execute_in(tx)
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

/// What a gateway read checks before Plaid is called, found by one statement.
pub struct ReadAccess {
    /// The agent the presented key belongs to, or why it is refused.
    pub key: KeyLookup,
    /// The agent's grant of the product: `None` when not granted, else whether it is unmasked.
    pub grant: Option<bool>,
    /// The item asked for, if it exists.
    pub item: Option<ItemRecord>,
    /// Whether the agent may use that item (all items, or this one).
    pub item_allowed: bool,
}

/// The presented key's agent, its grant of `product`, the item `item_id` and whether the agent
/// may use it — in one round trip, where they were four (agent, grant, item, item grant) on the
/// path of the service's cheapest and most frequent call.
pub async fn access(pool: &AnyPool, key_hash: &str, product: &str, item_id: &str, now: i64) -> StoreResult<ReadAccess> {
    let row = sqlx::query(
        "SELECT a.id, a.name, a.owner, a.all_items, a.disabled_at, a.api_key_hash, a.previous_key_expires_at, \
           (SELECT g.unmasked FROM agent_read_grants g WHERE g.agent_id = a.id AND g.product = $2) AS grant_unmasked, \
           (SELECT COUNT(*) FROM agent_items ai WHERE ai.agent_id = a.id AND ai.item_id = $3) AS item_granted, \
           i.id AS item_id, i.plaid_item_id AS item_plaid_item_id, i.access_token_enc AS item_access_token_enc, \
           i.institution_name AS item_institution_name, i.health AS item_health, \
           i.health_reason AS item_health_reason, i.health_changed_at AS item_health_changed_at \
         FROM agents a LEFT JOIN items i ON i.id = $3 \
         WHERE a.api_key_hash = $1 OR a.previous_key_hash = $1",
    )
    .bind(key_hash)
    .bind(product)
    .bind(item_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(ReadAccess { key: KeyLookup::Unknown, grant: None, item: None, item_allowed: false });
    };
    let item = match row.try_get::<Option<String>, _>("item_id")? {
        Some(_) => Some(item_from_columns(&row, "item_")?),
        None => None,
    };
    let all_items = super::flag(row.try_get("all_items")?);
    Ok(ReadAccess {
        key: lookup_of(&row, key_hash, now)?,
        grant: row.try_get::<Option<i64>, _>("grant_unmasked")?.map(super::flag),
        item,
        item_allowed: all_items || row.try_get::<i64, _>("item_granted")? > 0,
    })
}

/// PostgreSQL: queues reads' audit records for the chainer in one statement that commits on its
/// own (no BEGIN and COMMIT round trips; PostgreSQL flushes concurrent commits together).
/// Durable when it returns, like any commit. Tier-0 reads change nothing but the trail, so their
/// records need no transaction around them.
pub async fn queue_records(store: &Store, records: &[AuditFields]) -> StoreResult<()> {
    for chunk in records.chunks(super::audit::PER_STATEMENT) {
        let values: Vec<String> = (1..=chunk.len()).map(|n| format!("(${n})")).collect();
        let sql = format!("INSERT INTO audit_pending (fields) VALUES {}", values.join(", "));
        let mut query = sqlx::query(&sql).persistent(chunk.len() <= 4);
        for fields in chunk {
            query = query.bind(serde_json::to_string(fields).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        }
        query.execute(store.reader()).await?;
        store.commits().inc();
    }
    store.queued().notify_one();
    Ok(())
}
