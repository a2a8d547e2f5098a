//! What the risk policy needs from storage: the recent requests its windows add up (read under a
//! lock, so concurrent proposals see each other), whether an account was ever paid, the shadow
//! policy's disagreements, and operators' reload requests. No rule is decided here.

use super::{Backend, StoreError, StoreResult, Tx};
use crate::domain::intent::{AchClass, Network, TransferType};
use crate::domain::policy::backtest::Past;
use crate::domain::{Money, Recent, RequestState};
use crate::store::InTx;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// States whose requests count toward a window: live or done, never refused or abandoned.
pub const COUNTED: [RequestState; 6] = [
    RequestState::Proposed,
    RequestState::PendingApproval,
    RequestState::Approved,
    RequestState::Executing,
    RequestState::ReauthRequired,
    RequestState::Submitted,
];

/// Serializes proposals by this agent and to this account until the transaction ends, on every
/// replica: PostgreSQL transaction-level advisory locks, one per agent and one per account, taken
/// in ascending key order so two proposals never wait on each other in a circle. SQLite's single
/// writer already runs one write transaction at a time.
///
/// Advisory locks, not row locks: a row lock taken by an upsert left a new row version behind at
/// every proposal, and each waiter walked that row's growing chain of versions when woken; the
/// lock manager queues waiters and writes nothing. Two scopes whose keys collide (64 bits of
/// SHA-256) only wait for each other.
pub async fn lock_windows(tx: &mut Tx, agent_id: &str, item_id: &str, account_id: &str) -> StoreResult<()> {
    if tx.backend() != Backend::Postgres {
        return Ok(());
    }
    let mut keys =
        [window_lock_key(&format!("agent:{agent_id}")), window_lock_key(&format!("account:{item_id}:{account_id}"))];
    keys.sort_unstable();
    // PostgreSQL evaluates a target list left to right: the lower key first.
    sqlx::query("SELECT pg_advisory_xact_lock($1) AS first, pg_advisory_xact_lock($2) AS second")
        .bind(keys[0])
        .bind(keys[1])
        .fetch_all_in(tx)
        .await?;
    Ok(())
}

/// The advisory lock key of a window's scope.
fn window_lock_key(scope: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("countersign policy window {scope}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

fn counted_list(first: usize) -> String {
    (0..COUNTED.len()).map(|i| format!("${}", first + i)).collect::<Vec<_>>().join(", ")
}

/// What the risk policy reads about one proposal, in one round trip (one hand-off to SQLite's
/// writer), inside the proposal's transaction after [`lock_windows`].
pub struct ProposalFacts {
    /// Requests by this agent or to this account created at or after `since_ms` that still count.
    pub recent: Vec<Recent>,
    /// A transfer was ever created to this account.
    pub paid_before: bool,
    /// The account's mask, when Plaid gave one.
    pub account_mask: Option<String>,
}

pub async fn proposal_facts(
    tx: &mut Tx,
    agent_id: &str,
    item_id: &str,
    account_id: &str,
    since_ms: i64,
) -> StoreResult<ProposalFacts> {
    let sql = facts_sql();
    let rows = facts_query(&sql, agent_id, item_id, account_id, since_ms).fetch_all_in(tx).await?;
    facts_of(&rows)
}

/// [`proposal_facts`] outside any transaction, for a policy without windows: nothing it reads is
/// written by other proposals, so no lock and no writer is needed.
pub async fn proposal_facts_outside(
    pool: &AnyPool,
    agent_id: &str,
    item_id: &str,
    account_id: &str,
    since_ms: i64,
) -> StoreResult<ProposalFacts> {
    let sql = facts_sql();
    let rows = facts_query(&sql, agent_id, item_id, account_id, since_ms).fetch_all(pool).await?;
    facts_of(&rows)
}

fn facts_sql() -> String {
    // One statement: the account's facts as a one-row table, joined to the window's requests
    // (none: one row whose request columns are NULL). It runs while the proposal holds the
    // window locks (PostgreSQL), so each round trip it saves shortens every proposal's wait.
    format!(
        "SELECT f.mask, f.paid_before, r.id AS recent_id, r.agent_id, r.item_id, r.account_id, r.intent, \
         r.amount_cents, r.created_at FROM \
         (SELECT (SELECT mask FROM item_accounts WHERE item_id = $2 AND account_id = $3) AS mask, \
          CAST(CASE WHEN EXISTS (SELECT 1 FROM transfer_requests WHERE item_id = $2 AND account_id = $3 \
          AND transfer_id IS NOT NULL) THEN 1 ELSE 0 END AS BIGINT) AS paid_before) f \
         LEFT JOIN transfer_requests r ON (r.agent_id = $1 OR (r.item_id = $2 AND r.account_id = $3)) \
         AND r.created_at >= $4 AND r.state IN ({})",
        counted_list(5)
    )
}

fn facts_query<'q>(
    sql: &'q str,
    agent_id: &'q str,
    item_id: &'q str,
    account_id: &'q str,
    since_ms: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    // Planned for its values every time (not a prepared statement's generic plan): only the
    // time bound keeps the window's rows few, and a generic plan can't know it is recent. With
    // one agent (every row matches `agent_id = $1`) PostgreSQL's generic plan scanned the whole
    // table — 1,117 buffers, 9 ms at 3,000 requests, growing — while holding the window locks.
    let mut query = sqlx::query(sql).persistent(false).bind(agent_id).bind(item_id).bind(account_id).bind(since_ms);
    for state in COUNTED {
        query = query.bind(state.as_str());
    }
    query
}

fn facts_of(rows: &[AnyRow]) -> StoreResult<ProposalFacts> {
    let first = rows.first().ok_or_else(|| StoreError::Corrupt("the account facts returned no row".into()))?;
    let (paid_before, account_mask) = (first.try_get::<i64, _>("paid_before")? == 1, first.try_get("mask")?);
    let mut recent = Vec::with_capacity(rows.len());
    for row in rows {
        if row.try_get::<Option<String>, _>("recent_id")?.is_some() {
            recent.push(recent_from_row(row)?);
        }
    }
    Ok(ProposalFacts { recent, paid_before, account_mask })
}

/// Every request created at or after `since_ms`, oldest first (the backtest's history).
pub async fn history_since(pool: &AnyPool, since_ms: i64) -> StoreResult<Vec<Past>> {
    let sql =
        "SELECT id, agent_id, item_id, account_id, intent, amount_cents, created_at, state FROM transfer_requests \
               WHERE created_at >= $1 ORDER BY created_at, id";
    let rows = sqlx::query(sql).bind(since_ms).fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            let recent = recent_from_row(row)?;
            let intent: String = row.try_get("intent")?;
            let intent: serde_json::Value = serde_json::from_str(&intent).unwrap_or_default();
            let text = |key: &str| intent.get(key).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
            let state: String = row.try_get("state")?;
            Ok(Past {
                id: row.try_get("id")?,
                network: Network::parse(&text("network"))
                    .map_err(|_| StoreError::Corrupt("transfer_requests.intent.network".into()))?,
                ach_class: AchClass::parse(&text("ach_class")).ok(),
                counts: COUNTED.iter().any(|s| s.as_str() == state),
                state,
                agent_id: recent.agent_id,
                item_id: recent.item_id,
                account_id: recent.account_id,
                direction: recent.direction,
                amount: recent.amount,
                created_at_ms: recent.created_at_ms,
            })
        })
        .collect()
}

fn recent_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Recent> {
    let intent: String = row.try_get("intent")?;
    let intent: serde_json::Value =
        serde_json::from_str(&intent).map_err(|_| StoreError::Corrupt("transfer_requests.intent".into()))?;
    let direction = intent
        .get("type")
        .and_then(serde_json::Value::as_str)
        .and_then(|t| TransferType::parse(t).ok())
        .ok_or_else(|| StoreError::Corrupt("transfer_requests.intent.type".into()))?;
    let cents: i64 = row.try_get("amount_cents")?;
    Ok(Recent {
        agent_id: row.try_get("agent_id")?,
        item_id: row.try_get("item_id")?,
        account_id: row.try_get("account_id")?,
        direction,
        amount: Money::from_cents(cents).ok_or_else(|| StoreError::Corrupt("transfer_requests.amount_cents".into()))?,
        created_at_ms: row.try_get("created_at")?,
    })
}

/// One disagreement of the shadow policy with the active one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowDifference {
    pub request_id: Option<String>,
    pub agent_id: String,
    pub active_version: String,
    pub shadow_version: String,
    pub active_tier: i64,
    pub shadow_tier: i64,
    pub active_approvals: i64,
    pub shadow_approvals: i64,
    pub active_denied: Option<String>,
    pub shadow_denied: Option<String>,
    pub shadow_reasons: Vec<String>,
    pub created_at: i64,
}

pub async fn insert_shadow_difference(tx: &mut Tx, d: &ShadowDifference) -> StoreResult<()> {
    let reasons = serde_json::to_string(&d.shadow_reasons).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO policy_shadow_differences (id, request_id, agent_id, active_version, shadow_version, \
         active_tier, shadow_tier, active_approvals, shadow_approvals, active_denied, shadow_denied, shadow_reasons, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(d.request_id.as_deref())
    .bind(&d.agent_id)
    .bind(&d.active_version)
    .bind(&d.shadow_version)
    .bind(d.active_tier)
    .bind(d.shadow_tier)
    .bind(d.active_approvals)
    .bind(d.shadow_approvals)
    .bind(d.active_denied.as_deref())
    .bind(d.shadow_denied.as_deref())
    .bind(reasons)
    .bind(d.created_at)
    .execute_in(tx)
    .await?;
    Ok(())
}

/// The newest differences first.
pub async fn shadow_differences(pool: &AnyPool, limit: i64) -> StoreResult<Vec<ShadowDifference>> {
    let rows = sqlx::query(
        "SELECT request_id, agent_id, active_version, shadow_version, active_tier, shadow_tier, active_approvals, \
         shadow_approvals, active_denied, shadow_denied, shadow_reasons, created_at FROM policy_shadow_differences \
         ORDER BY created_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let reasons: String = row.try_get("shadow_reasons")?;
            Ok(ShadowDifference {
                request_id: row.try_get("request_id")?,
                agent_id: row.try_get("agent_id")?,
                active_version: row.try_get("active_version")?,
                shadow_version: row.try_get("shadow_version")?,
                active_tier: row.try_get("active_tier")?,
                shadow_tier: row.try_get("shadow_tier")?,
                active_approvals: row.try_get("active_approvals")?,
                shadow_approvals: row.try_get("shadow_approvals")?,
                active_denied: row.try_get("active_denied")?,
                shadow_denied: row.try_get("shadow_denied")?,
                shadow_reasons: serde_json::from_str(&reasons)
                    .map_err(|_| StoreError::Corrupt("policy_shadow_differences.shadow_reasons".into()))?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// Asks every replica to re-read its policy file (`countersign policy reload`).
pub async fn request_reload(tx: &mut Tx, by: &str, now_ms: i64) -> StoreResult<()> {
    sqlx::query("INSERT INTO policy_reload_requests (requested_at, requested_by) VALUES ($1, $2)")
        .bind(now_ms)
        .bind(by)
        .execute_in(tx)
        .await?;
    Ok(())
}

/// The newest reload request's id (0 when there was none).
pub async fn last_reload_request(pool: &AnyPool) -> StoreResult<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS last FROM policy_reload_requests").fetch_one(pool).await?;
    Ok(row.try_get("last")?)
}
