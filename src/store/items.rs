//! Plaid items (access token encrypted by the caller) and their accounts.

use super::{StoreResult, Tx};
use crate::domain::{AgentId, ItemId};
use crate::store::InTx;
use sqlx::{AnyPool, Row};

#[derive(Debug, Clone)]
pub struct ItemRecord {
    pub id: ItemId,
    pub plaid_item_id: String,
    pub access_token_enc: String,
    pub institution_name: Option<String>,
    pub health: String,
    /// Plaid's reason for the health (an error or webhook code) and when it was set.
    pub health_reason: Option<String>,
    pub health_changed_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub account_id: String,
    pub name: String,
    pub mask: Option<String>,
    pub subtype: Option<String>,
}

pub const HEALTHY: &str = "healthy";
pub const LOGIN_REQUIRED: &str = "login_required";

pub async fn insert(tx: &mut Tx, item: &ItemRecord, accounts: &[AccountRecord], now_ms: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO items (id, plaid_item_id, access_token_enc, institution_name, health, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(item.id.as_str())
    .bind(&item.plaid_item_id)
    .bind(&item.access_token_enc)
    .bind(item.institution_name.as_deref())
    .bind(&item.health)
    .bind(now_ms)
    .execute_in(tx)
    .await?;
    for account in accounts {
        sqlx::query("INSERT INTO item_accounts (item_id, account_id, name, mask, subtype) VALUES ($1, $2, $3, $4, $5)")
            .bind(item.id.as_str())
            .bind(&account.account_id)
            .bind(&account.name)
            .bind(account.mask.as_deref())
            .bind(account.subtype.as_deref())
            .execute_in(tx)
            .await?;
    }
    Ok(())
}

const ITEM_COLUMNS: &str =
    "id, plaid_item_id, access_token_enc, institution_name, health, health_reason, health_changed_at";

fn item_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ItemRecord> {
    item_from_columns(row, "")
}

/// An item from `ITEM_COLUMNS` named with `prefix` (a query that also selects another table's
/// `id`, such as the read gateway's, names them `item_id`, `item_plaid_item_id`, …).
pub(crate) fn item_from_columns(row: &sqlx::any::AnyRow, prefix: &str) -> StoreResult<ItemRecord> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(ItemRecord {
        id: ItemId::from_trusted(row.try_get(column("id").as_str())?),
        plaid_item_id: row.try_get(column("plaid_item_id").as_str())?,
        access_token_enc: row.try_get(column("access_token_enc").as_str())?,
        institution_name: row.try_get(column("institution_name").as_str())?,
        health: row.try_get(column("health").as_str())?,
        health_reason: row.try_get(column("health_reason").as_str())?,
        health_changed_at: row.try_get(column("health_changed_at").as_str())?,
    })
}

pub async fn find(pool: &AnyPool, id: &ItemId) -> StoreResult<Option<ItemRecord>> {
    let row = sqlx::query(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(item_from_row).transpose()
}

/// What a proposal found of the item it names.
pub enum ForProposal {
    UnknownItem,
    /// The agent has no grant for the item.
    NotAllowed,
    /// The account is not one of the item's.
    UnknownAccount,
    Usable(ItemRecord),
}

/// The item a proposal names, whether the agent may use it (`all_items`, or a grant) and whether
/// the account is one of its own: one read.
pub async fn for_proposal(
    pool: &AnyPool,
    agent: &AgentId,
    all_items: bool,
    id: &ItemId,
    account_id: &str,
) -> StoreResult<ForProposal> {
    let sql = format!(
        "SELECT {ITEM_COLUMNS}, \
         CAST(CASE WHEN $3 = 1 OR EXISTS (SELECT 1 FROM agent_items WHERE agent_id = $2 AND item_id = items.id) \
              THEN 1 ELSE 0 END AS BIGINT) AS granted, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM item_accounts WHERE item_id = items.id AND account_id = $4) \
              THEN 1 ELSE 0 END AS BIGINT) AS has_account \
         FROM items WHERE id = $1"
    );
    let row = sqlx::query(&sql)
        .bind(id.as_str())
        .bind(agent.as_str())
        .bind(i64::from(all_items))
        .bind(account_id)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else { return Ok(ForProposal::UnknownItem) };
    Ok(if row.try_get::<i64, _>("granted")? != 1 {
        ForProposal::NotAllowed
    } else if row.try_get::<i64, _>("has_account")? != 1 {
        ForProposal::UnknownAccount
    } else {
        ForProposal::Usable(item_from_row(&row)?)
    })
}

pub async fn find_by_plaid_id(pool: &AnyPool, plaid_item_id: &str) -> StoreResult<Option<ItemRecord>> {
    let row = sqlx::query(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE plaid_item_id = $1"))
        .bind(plaid_item_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(item_from_row).transpose()
}

pub async fn all(pool: &AnyPool) -> StoreResult<Vec<ItemRecord>> {
    let rows = sqlx::query(&format!("SELECT {ITEM_COLUMNS} FROM items ORDER BY id")).fetch_all(pool).await?;
    rows.iter().map(item_from_row).collect()
}

/// The items an agent may use, in id order.
pub async fn visible_to(pool: &AnyPool, agent: &AgentId, all_items: bool) -> StoreResult<Vec<ItemRecord>> {
    if all_items {
        return all(pool).await;
    }
    let rows = sqlx::query(&format!(
        "SELECT {ITEM_COLUMNS} FROM items WHERE id IN (SELECT item_id FROM agent_items WHERE agent_id = $1) ORDER BY id"
    ))
    .bind(agent.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter().map(item_from_row).collect()
}

pub async fn accounts(pool: &AnyPool, item: &ItemId) -> StoreResult<Vec<AccountRecord>> {
    let rows =
        sqlx::query("SELECT account_id, name, mask, subtype FROM item_accounts WHERE item_id = $1 ORDER BY account_id")
            .bind(item.as_str())
            .fetch_all(pool)
            .await?;
    rows.iter()
        .map(|row| {
            Ok(AccountRecord {
                account_id: row.try_get("account_id")?,
                name: row.try_get("name")?,
                mask: row.try_get("mask")?,
                subtype: row.try_get("subtype")?,
            })
        })
        .collect()
}

/// Records the item's health with Plaid's reason, as an ITEM webhook reported it.
/// Sets the item's health from an ITEM webhook Plaid signed at `signed_at` (unix seconds), unless
/// a webhook signed later already set it: Plaid may deliver out of order. True when it changed.
pub async fn set_health_reason(
    tx: &mut Tx,
    id: &ItemId,
    health: &str,
    reason: Option<&str>,
    signed_at: i64,
    now_ms: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE items SET health = $1, health_reason = $2, health_changed_at = $3, health_signed_at = $4 \
         WHERE id = $5 AND (health_signed_at IS NULL OR health_signed_at <= $4)",
    )
    .bind(health)
    .bind(reason)
    .bind(now_ms)
    .bind(signed_at)
    .bind(id.as_str())
    .execute_in(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_health(tx: &mut Tx, id: &ItemId, health: &str) -> StoreResult<()> {
    sqlx::query("UPDATE items SET health = $1 WHERE id = $2").bind(health).bind(id.as_str()).execute_in(tx).await?;
    Ok(())
}

pub async fn find_by_id_in(tx: &mut Tx, id: &ItemId) -> StoreResult<Option<ItemRecord>> {
    let row = sqlx::query(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional_in(tx)
        .await?;
    row.as_ref().map(item_from_row).transpose()
}
