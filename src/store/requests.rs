//! Transfer requests: insert, read, and compare-and-set state transitions.
//!
//! `transition` is the only way a request's state changes: `UPDATE … WHERE id = $ AND state IN (…)`.
//! It reports whether this caller won; a loser must not perform the transition's side effects.

use super::{StoreError, StoreResult, Tx};
use crate::domain::{AgentId, ItemId, RequestId, RequestState, Tier};
use crate::store::InTx;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// A request row as stored.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub id: RequestId,
    pub agent_id: AgentId,
    pub item_id: ItemId,
    /// Plaid's id of the item (read from `items`), for audit records.
    pub plaid_item_id: Option<String>,
    /// The item's health as read with the request (`items.health`), for what the agent is told.
    pub item_health: Option<String>,
    /// The owner of the agent that proposed it (`agents.owner`, read with the request): whoever
    /// it names may not approve it.
    pub agent_owner: Option<String>,
    pub account_id: String,
    pub state: RequestState,
    pub tier: Tier,
    pub step_up: bool,
    pub approvals_required: i64,
    pub policy_version: String,
    pub policy_reasons: Vec<String>,
    pub intent: serde_json::Value,
    pub amount_cents: i64,
    pub plaid_idempotency_key: String,
    pub authorization_id: Option<String>,
    pub decision: Option<String>,
    pub decision_rationale_code: Option<String>,
    pub decision_rationale_description: Option<String>,
    pub authorized_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub payload_hash: Option<String>,
    pub transfer_id: Option<String>,
    pub transfer_status: Option<String>,
    pub link_token: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub rejection_reason: Option<String>,
    pub supersedes: Option<RequestId>,
    pub renews: Option<RequestId>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Reconciliation passes that failed to settle the request in its current state.
    pub reconcile_attempts: i64,
    /// Plaid's reason for a failed or returned transfer: (ACH return code, description).
    pub transfer_failure_code: Option<String>,
    pub transfer_failure_description: Option<String>,
    /// The groups its approvals must come from: one per approval, or one for all (policy).
    pub approver_groups: Vec<String>,
    /// Approvers get at most this long after the authorization (policy), if shorter than Plaid's window.
    pub approval_ttl_secs: Option<i64>,
}

/// The fields of a new request; state starts at `proposed`.
pub struct NewRequest<'a> {
    pub id: &'a RequestId,
    pub agent_id: &'a AgentId,
    pub item_id: &'a ItemId,
    pub account_id: &'a str,
    pub tier: Tier,
    pub step_up: bool,
    pub approvals_required: i64,
    pub policy_version: &'a str,
    pub policy_reasons: &'a [String],
    pub approver_groups: &'a [String],
    pub approval_ttl_secs: Option<i64>,
    pub intent: &'a serde_json::Value,
    pub amount_cents: i64,
    pub plaid_idempotency_key: &'a str,
    pub supersedes: Option<&'a RequestId>,
    pub renews: Option<&'a RequestId>,
    pub version: i64,
    pub now_ms: i64,
    /// What a read of the row takes from the item and the agent (the caller has just read them).
    pub joined: Joined,
}

/// The columns a request row shows from its item and its agent ([`COLUMNS`]' subqueries).
#[derive(Debug, Clone, Default)]
pub struct Joined {
    pub plaid_item_id: Option<String>,
    pub item_health: Option<String>,
    pub agent_owner: Option<String>,
}

/// Stores a new request and returns it as stored, without reading it back: on SQLite a fresh
/// request's INSERT waits in the writer's batch for the transaction's next hand-off. (A test reads
/// the row back and compares.)
pub async fn insert(tx: &mut Tx, new: NewRequest<'_>) -> StoreResult<RequestRecord> {
    let values = insert_values(&new)?;
    let placeholders: Vec<String> = (1..=values.len()).map(|n| format!("${n}")).collect();
    let sql = format!("INSERT INTO transfer_requests ({INSERT_COLUMNS}) VALUES ({})", placeholders.join(", "));
    let query = bind_all(sqlx::query(&sql), values);
    if new.renews.is_some() || new.supersedes.is_some() {
        // One renewal and one successor per request (unique indexes): the caller answers a
        // second one by the error, so it must come from this statement, not from the commit.
        tx.execute(query).await?;
    } else {
        tx.write(query).await?;
    }
    Ok(new.as_stored())
}

/// A new request's INSERT for a whole transition (`store::transitions`): its values appended to
/// `binds`, the row written only where the transition's guard (`{won}`) holds.
pub(super) fn insert_guarded(new: &NewRequest<'_>, binds: &mut Vec<Bind>) -> StoreResult<String> {
    let mut placeholders = Vec::new();
    for value in insert_values(new)? {
        binds.push(value);
        placeholders.push(format!("${}", binds.len()));
    }
    Ok(format!("INSERT INTO transfer_requests ({INSERT_COLUMNS}) SELECT {} WHERE {{won}}", placeholders.join(", ")))
}

const INSERT_COLUMNS: &str = "id, agent_id, item_id, account_id, state, tier, step_up, approvals_required, \
    policy_version, policy_reasons, intent, amount_cents, plaid_idempotency_key, supersedes, renews, version, \
    created_at, updated_at, approver_groups, approval_ttl_secs";

/// A new request's values, in [`INSERT_COLUMNS`]' order.
fn insert_values(new: &NewRequest<'_>) -> StoreResult<Vec<Bind>> {
    let json = |value: &[String]| serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()));
    Ok(vec![
        Bind::Text(new.id.as_str().to_owned()),
        Bind::Text(new.agent_id.as_str().to_owned()),
        Bind::Text(new.item_id.as_str().to_owned()),
        Bind::Text(new.account_id.to_owned()),
        Bind::Text(RequestState::Proposed.as_str().to_owned()),
        Bind::Int(new.tier.number()),
        Bind::Int(i64::from(new.step_up)),
        Bind::Int(new.approvals_required),
        Bind::Text(new.policy_version.to_owned()),
        Bind::Text(json(new.policy_reasons)?),
        Bind::Text(new.intent.to_string()),
        Bind::Int(new.amount_cents),
        Bind::Text(new.plaid_idempotency_key.to_owned()),
        Bind::MaybeText(new.supersedes.map(|id| id.as_str().to_owned())),
        Bind::MaybeText(new.renews.map(|id| id.as_str().to_owned())),
        Bind::Int(new.version),
        Bind::Int(new.now_ms),
        Bind::Int(new.now_ms),
        Bind::Text(json(new.approver_groups)?),
        Bind::MaybeInt(new.approval_ttl_secs),
    ])
}

impl NewRequest<'_> {
    /// The row [`insert`] stores, as a read of it returns it.
    pub fn as_stored(&self) -> RequestRecord {
        RequestRecord {
            id: self.id.clone(),
            agent_id: self.agent_id.clone(),
            item_id: self.item_id.clone(),
            plaid_item_id: self.joined.plaid_item_id.clone(),
            item_health: self.joined.item_health.clone(),
            agent_owner: self.joined.agent_owner.clone(),
            account_id: self.account_id.to_owned(),
            state: RequestState::Proposed,
            tier: self.tier,
            step_up: self.step_up,
            approvals_required: self.approvals_required,
            policy_version: self.policy_version.to_owned(),
            policy_reasons: self.policy_reasons.to_vec(),
            intent: self.intent.clone(),
            amount_cents: self.amount_cents,
            plaid_idempotency_key: self.plaid_idempotency_key.to_owned(),
            authorization_id: None,
            decision: None,
            decision_rationale_code: None,
            decision_rationale_description: None,
            authorized_at: None,
            expires_at: None,
            payload_hash: None,
            transfer_id: None,
            transfer_status: None,
            link_token: None,
            error_code: None,
            error_message: None,
            rejection_reason: None,
            supersedes: self.supersedes.cloned(),
            renews: self.renews.cloned(),
            version: self.version,
            created_at: self.now_ms,
            updated_at: self.now_ms,
            reconcile_attempts: 0,
            transfer_failure_code: None,
            transfer_failure_description: None,
            approver_groups: self.approver_groups.to_vec(),
            approval_ttl_secs: self.approval_ttl_secs,
        }
    }
}

/// Columns a transition may set besides `state`. `None` leaves a column as it is.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub authorization_id: Option<String>,
    pub decision: Option<String>,
    pub decision_rationale_code: Option<String>,
    pub decision_rationale_description: Option<String>,
    pub authorized_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub payload_hash: Option<String>,
    pub transfer_id: Option<String>,
    pub transfer_status: Option<String>,
    pub link_token: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub rejection_reason: Option<String>,
}

#[derive(Clone)]
pub(super) enum Bind {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
    MaybeInt(Option<i64>),
}

impl Changes {
    /// `record` as [`transition`] to `to` at `now_ms` with these changes leaves it (what a caller
    /// that read `record` computes a transition's records and messages from).
    pub fn applied_to(&self, record: &RequestRecord, to: RequestState, now_ms: i64) -> RequestRecord {
        let mut after = record.clone();
        after.state = to;
        after.updated_at = now_ms;
        after.reconcile_attempts = 0;
        let set = |column: &mut Option<String>, value: &Option<String>| {
            if value.is_some() {
                column.clone_from(value);
            }
        };
        set(&mut after.authorization_id, &self.authorization_id);
        set(&mut after.decision, &self.decision);
        set(&mut after.decision_rationale_code, &self.decision_rationale_code);
        set(&mut after.decision_rationale_description, &self.decision_rationale_description);
        after.authorized_at = self.authorized_at.or(after.authorized_at);
        after.expires_at = self.expires_at.or(after.expires_at);
        set(&mut after.payload_hash, &self.payload_hash);
        set(&mut after.transfer_id, &self.transfer_id);
        set(&mut after.transfer_status, &self.transfer_status);
        set(&mut after.link_token, &self.link_token);
        set(&mut after.error_code, &self.error_code);
        set(&mut after.error_message, &self.error_message);
        set(&mut after.rejection_reason, &self.rejection_reason);
        after
    }

    fn assignments(&self) -> Vec<(&'static str, Bind)> {
        let text = |column, value: &Option<String>| value.clone().map(|v| (column, Bind::Text(v)));
        let int = |column, value: Option<i64>| value.map(|v| (column, Bind::Int(v)));
        [
            text("authorization_id", &self.authorization_id),
            text("decision", &self.decision),
            text("decision_rationale_code", &self.decision_rationale_code),
            text("decision_rationale_description", &self.decision_rationale_description),
            int("authorized_at", self.authorized_at),
            int("expires_at", self.expires_at),
            text("payload_hash", &self.payload_hash),
            text("transfer_id", &self.transfer_id),
            text("transfer_status", &self.transfer_status),
            text("link_token", &self.link_token),
            text("error_code", &self.error_code),
            text("error_message", &self.error_message),
            text("rejection_reason", &self.rejection_reason),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Compare-and-set: moves the request to `to` only if it is currently in one of `from`.
/// Returns whether this call made the change.
pub async fn transition(
    tx: &mut Tx,
    id: &RequestId,
    from: &[RequestState],
    to: RequestState,
    changes: &Changes,
    now_ms: i64,
) -> StoreResult<bool> {
    Ok(transition_returning(tx, id, from, to, changes, now_ms).await?.is_some())
}

/// [`transition`], returning the request as changed when this call made the change.
pub async fn transition_returning(
    tx: &mut Tx,
    id: &RequestId,
    from: &[RequestState],
    to: RequestState,
    changes: &Changes,
    now_ms: i64,
) -> StoreResult<Option<RequestRecord>> {
    let (mut sql, binds) = transition_update(id, from, None, to, changes, now_ms);
    sql.push_str(&format!(" RETURNING {COLUMNS}"));
    let row = bind_all(sqlx::query(&sql), binds).fetch_optional_in(tx).await?;
    row.as_ref().map(from_row).transpose()
}

/// The compare-and-set UPDATE of a transition (no RETURNING), its parameters numbered from $1,
/// and their values. With `unchanged_since`, it also requires `updated_at` to be that.
pub(super) fn transition_update(
    id: &RequestId,
    from: &[RequestState],
    unchanged_since: Option<i64>,
    to: RequestState,
    changes: &Changes,
    now_ms: i64,
) -> (String, Vec<Bind>) {
    let mut binds = vec![Bind::Text(to.as_str().to_owned()), Bind::Int(now_ms)];
    // A new state starts with a clean slate for the reconciler's backoff.
    let mut sql = String::from(
        "UPDATE transfer_requests SET state = $1, updated_at = $2, reconcile_attempts = 0, \
         reconcile_next_at = NULL, unresolved_since = NULL",
    );
    for (column, value) in changes.assignments() {
        binds.push(value);
        sql.push_str(&format!(", {column} = ${}", binds.len()));
    }
    binds.push(Bind::Text(id.as_str().to_owned()));
    sql.push_str(&format!(" WHERE id = ${} AND state IN (", binds.len()));
    for (i, state) in from.iter().enumerate() {
        binds.push(Bind::Text(state.as_str().to_owned()));
        sql.push_str(&format!("{}${}", if i > 0 { ", " } else { "" }, binds.len()));
    }
    sql.push(')');
    if let Some(updated_at) = unchanged_since {
        binds.push(Bind::Int(updated_at));
        sql.push_str(&format!(" AND updated_at = ${}", binds.len()));
    }
    (sql, binds)
}

pub(super) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for value in binds {
        query = match value {
            Bind::Text(text) => query.bind(text),
            Bind::MaybeText(text) => query.bind(text),
            Bind::Int(int) => query.bind(int),
            Bind::MaybeInt(int) => query.bind(int),
        };
    }
    query
}

/// An item's requests in `state`, oldest first.
pub async fn for_item_in_state(pool: &AnyPool, item: &ItemId, state: RequestState) -> StoreResult<Vec<RequestRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM transfer_requests WHERE item_id = $1 AND state = $2 ORDER BY id");
    let rows = sqlx::query(&sql).bind(item.as_str()).bind(state.as_str()).fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

/// The request whose transfer this is, if Countersign created it.
pub async fn find_by_transfer_in(tx: &mut Tx, transfer_id: &str) -> StoreResult<Option<RequestRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM transfer_requests WHERE transfer_id = $1");
    let row = sqlx::query(&sql).bind(transfer_id).fetch_optional_in(tx).await?;
    row.as_ref().map(from_row).transpose()
}

/// Compare-and-set on a submitted request's transfer status: moves it from `from` to `to` (with
/// the failure or return reason, if any) only if it still is `from`. Returns whether it moved.
pub async fn advance_transfer_status(
    tx: &mut Tx,
    id: &RequestId,
    from: &str,
    to: &str,
    failure: (Option<&str>, Option<&str>),
    now_ms: i64,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE transfer_requests SET transfer_status = $1, transfer_failure_code = COALESCE($2, transfer_failure_code), \
         transfer_failure_description = COALESCE($3, transfer_failure_description), updated_at = $4 \
         WHERE id = $5 AND state = $6 AND transfer_status = $7",
    )
    .bind(to)
    .bind(failure.0)
    .bind(failure.1)
    .bind(now_ms)
    .bind(id.as_str())
    .bind(RequestState::Submitted.as_str())
    .bind(from)
    .execute_in(tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Updates Plaid's transfer status on a submitted request (not a state transition).
pub async fn set_transfer_status(tx: &mut Tx, id: &RequestId, status: &str, now_ms: i64) -> StoreResult<()> {
    sqlx::query("UPDATE transfer_requests SET transfer_status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now_ms)
        .bind(id.as_str())
        .execute_in(tx)
        .await?;
    Ok(())
}

pub(super) const COLUMNS: &str =
    "id, agent_id, item_id, account_id, state, tier, step_up, approvals_required, policy_version, \
    policy_reasons, intent, amount_cents, plaid_idempotency_key, authorization_id, decision, decision_rationale_code, \
    decision_rationale_description, authorized_at, expires_at, payload_hash, transfer_id, transfer_status, link_token, \
    error_code, error_message, rejection_reason, supersedes, renews, version, created_at, updated_at, \
    reconcile_attempts, transfer_failure_code, transfer_failure_description, approver_groups, approval_ttl_secs, \
    (SELECT items.plaid_item_id FROM items WHERE items.id = transfer_requests.item_id) AS plaid_item_id, \
    (SELECT items.health FROM items WHERE items.id = transfer_requests.item_id) AS item_health, \
    (SELECT agents.owner FROM agents WHERE agents.id = transfer_requests.agent_id) AS agent_owner";

pub(super) fn from_row(row: &AnyRow) -> StoreResult<RequestRecord> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("transfer_requests.{what}"));
    let state: String = row.try_get("state")?;
    let intent: String = row.try_get("intent")?;
    let reasons: String = row.try_get("policy_reasons")?;
    let groups: String = row.try_get("approver_groups")?;
    let optional_id = |column: &str| -> StoreResult<Option<RequestId>> {
        Ok(row.try_get::<Option<String>, _>(column)?.map(RequestId::from_trusted))
    };
    Ok(RequestRecord {
        id: RequestId::from_trusted(row.try_get("id")?),
        agent_id: AgentId::from_trusted(row.try_get("agent_id")?),
        item_id: ItemId::from_trusted(row.try_get("item_id")?),
        plaid_item_id: row.try_get("plaid_item_id")?,
        item_health: row.try_get("item_health")?,
        agent_owner: row.try_get("agent_owner")?,
        account_id: row.try_get("account_id")?,
        state: RequestState::parse(&state).ok_or_else(|| corrupt("state"))?,
        tier: Tier::from_number(row.try_get("tier")?).ok_or_else(|| corrupt("tier"))?,
        step_up: super::flag(row.try_get("step_up")?),
        approvals_required: row.try_get("approvals_required")?,
        policy_version: row.try_get("policy_version")?,
        policy_reasons: serde_json::from_str(&reasons).map_err(|_| corrupt("policy_reasons"))?,
        intent: serde_json::from_str(&intent).map_err(|_| corrupt("intent"))?,
        amount_cents: row.try_get("amount_cents")?,
        plaid_idempotency_key: row.try_get("plaid_idempotency_key")?,
        authorization_id: row.try_get("authorization_id")?,
        decision: row.try_get("decision")?,
        decision_rationale_code: row.try_get("decision_rationale_code")?,
        decision_rationale_description: row.try_get("decision_rationale_description")?,
        authorized_at: row.try_get("authorized_at")?,
        expires_at: row.try_get("expires_at")?,
        payload_hash: row.try_get("payload_hash")?,
        transfer_id: row.try_get("transfer_id")?,
        transfer_status: row.try_get("transfer_status")?,
        link_token: row.try_get("link_token")?,
        error_code: row.try_get("error_code")?,
        error_message: row.try_get("error_message")?,
        rejection_reason: row.try_get("rejection_reason")?,
        supersedes: optional_id("supersedes")?,
        renews: optional_id("renews")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        reconcile_attempts: row.try_get("reconcile_attempts")?,
        transfer_failure_code: row.try_get("transfer_failure_code")?,
        transfer_failure_description: row.try_get("transfer_failure_description")?,
        approver_groups: serde_json::from_str(&groups).map_err(|_| corrupt("approver_groups"))?,
        approval_ttl_secs: row.try_get("approval_ttl_secs")?,
    })
}

pub async fn find(pool: &AnyPool, id: &RequestId) -> StoreResult<Option<RequestRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM transfer_requests WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The presented key's agent and, when it is that agent's, the request `id`, in one round trip:
/// `GET /v1/transfers/{id}` is an agent's most frequent call, and the key is judged first (the
/// caller learns nothing of the request without a valid key).
pub async fn find_with_key(
    pool: &AnyPool,
    key_hash: &str,
    id: &RequestId,
    now: i64,
) -> StoreResult<(super::admin::KeyLookup, Option<RequestRecord>)> {
    const KEY: &str = "key_";
    let row = sqlx::query(&format!(
        "SELECT {}, r.* FROM agents a \
         LEFT JOIN (SELECT {COLUMNS} FROM transfer_requests WHERE id = $2) r ON r.agent_id = a.id \
         WHERE a.api_key_hash = $1 OR a.previous_key_hash = $1",
        super::admin::key_columns(KEY)
    ))
    .bind(key_hash)
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok((super::admin::KeyLookup::Unknown, None)) };
    let lookup = super::admin::lookup_of_columns(&row, KEY, key_hash, now)?;
    let record = match row.try_get::<Option<String>, _>("id")? {
        Some(_) => Some(from_row(&row)?),
        None => None,
    };
    Ok((lookup, record))
}

/// Reads a request inside a write transaction (sees the transaction's own changes).
pub async fn find_in(tx: &mut Tx, id: &RequestId) -> StoreResult<Option<RequestRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM transfer_requests WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional_in(tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// One page of an agent's requests, newest first, strictly older than `before` when given.
/// What an agent's list may be narrowed to.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter<'a> {
    pub state: Option<RequestState>,
    pub transfer_status: Option<&'a str>,
}

pub async fn list_for_agent(
    pool: &AnyPool,
    agent: &AgentId,
    filter: ListFilter<'_>,
    before: Option<&RequestId>,
    limit: i64,
) -> StoreResult<Vec<RequestRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM transfer_requests WHERE agent_id = $1 AND ($2 = '' OR state = $2) \
         AND ($3 = '' OR id < $3) AND ($5 = '' OR transfer_status = $5) ORDER BY id DESC LIMIT $4"
    ))
    .bind(agent.as_str())
    .bind(filter.state.map(RequestState::as_str).unwrap_or(""))
    .bind(before.map(RequestId::as_str).unwrap_or(""))
    .bind(limit)
    .bind(filter.transfer_status.unwrap_or(""))
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Requests whose authorization window has passed while it was still live.
pub async fn past_window(pool: &AnyPool, now_ms: i64, limit: i64) -> StoreResult<Vec<RequestId>> {
    let rows = sqlx::query(
        "SELECT id FROM transfer_requests WHERE state IN ($1, $2, $3) AND expires_at <= $4 ORDER BY expires_at LIMIT $5",
    )
    .bind(RequestState::PendingApproval.as_str())
    .bind(RequestState::Approved.as_str())
    .bind(RequestState::ReauthRequired.as_str())
    .bind(now_ms)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|row| Ok(RequestId::from_trusted(row.try_get("id")?))).collect()
}

/// Takes the request's row lock (PostgreSQL) by touching it while it is in `state`, so decisions
/// on one request serialize: two approvers racing both see each other's approval when counting.
/// Returns the request as locked, or `None` when it is not (or no longer) in `state`.
pub async fn lock_in_state(
    tx: &mut Tx,
    id: &RequestId,
    state: RequestState,
    now_ms: i64,
) -> StoreResult<Option<RequestRecord>> {
    let sql = format!("UPDATE transfer_requests SET updated_at = $1 WHERE id = $2 AND state = $3 RETURNING {COLUMNS}");
    let row = sqlx::query(&sql).bind(now_ms).bind(id.as_str()).bind(state.as_str()).fetch_optional_in(tx).await?;
    row.as_ref().map(from_row).transpose()
}

/// Requests sitting in `state` untouched since before `older_than` (work some process started
/// and may not have finished), oldest first.
pub async fn stale(
    pool: &AnyPool,
    state: RequestState,
    older_than: i64,
    now_ms: i64,
    limit: i64,
) -> StoreResult<Vec<(RequestId, i64)>> {
    let rows = sqlx::query(
        "SELECT id, updated_at FROM transfer_requests WHERE state = $1 AND updated_at < $2 \
         AND (reconcile_next_at IS NULL OR reconcile_next_at <= $3) ORDER BY updated_at LIMIT $4",
    )
    .bind(state.as_str())
    .bind(older_than)
    .bind(now_ms)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|row| Ok((RequestId::from_trusted(row.try_get("id")?), row.try_get("updated_at")?))).collect()
}

/// What the reconciler remembers of a request it could not settle in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deferred {
    /// Failed passes so far, this one included.
    pub attempts: i64,
    /// When the first of them failed.
    pub unresolved_since: i64,
}

/// Records a reconciliation pass that could not settle the request (still in `state`): one more
/// attempt, the next one not before `next_at`. `None` when the request has moved on meanwhile.
pub async fn defer_reconcile(
    tx: &mut Tx,
    id: &RequestId,
    state: RequestState,
    now_ms: i64,
    next_at: i64,
) -> StoreResult<Option<Deferred>> {
    let row = sqlx::query(
        "UPDATE transfer_requests SET reconcile_attempts = reconcile_attempts + 1, reconcile_next_at = $1, \
         unresolved_since = COALESCE(unresolved_since, $2), updated_at = $2 WHERE id = $3 AND state = $4 \
         RETURNING reconcile_attempts, unresolved_since",
    )
    .bind(next_at)
    .bind(now_ms)
    .bind(id.as_str())
    .bind(state.as_str())
    .fetch_optional_in(tx)
    .await?;
    row.map(|row| Ok(Deferred { attempts: row.try_get(0)?, unresolved_since: row.try_get(1)? })).transpose()
}

/// How many requests in `state` have been unresolved since before `since` (the alert's gauge).
pub async fn count_unresolved(pool: &AnyPool, state: RequestState, since: i64) -> StoreResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM transfer_requests WHERE state = $1 AND unresolved_since IS NOT NULL \
         AND unresolved_since <= $2",
    )
    .bind(state.as_str())
    .bind(since)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get(0)?)
}

/// Compare-and-set on `updated_at`: one process takes over a stale request.
pub async fn take_lease(
    tx: &mut Tx,
    id: &RequestId,
    state: RequestState,
    seen_updated_at: i64,
    now_ms: i64,
) -> StoreResult<bool> {
    let result =
        sqlx::query("UPDATE transfer_requests SET updated_at = $1 WHERE id = $2 AND state = $3 AND updated_at = $4")
            .bind(now_ms)
            .bind(id.as_str())
            .bind(state.as_str())
            .bind(seen_updated_at)
            .execute_in(tx)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// Requests waiting for approvals whose window is still open, soonest expiry first.
pub async fn pending(pool: &AnyPool, now_ms: i64, limit: i64) -> StoreResult<Vec<RequestRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM transfer_requests WHERE state = $1 AND expires_at > $2 ORDER BY expires_at, id LIMIT $3"
    ))
    .bind(RequestState::PendingApproval.as_str())
    .bind(now_ms)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Requests no longer waiting on anyone's approval (or left behind by an edit), most recently
/// changed first; optionally in one state.
pub async fn decided(pool: &AnyPool, states: &[RequestState], limit: i64) -> StoreResult<Vec<RequestRecord>> {
    let placeholders: Vec<String> = (0..states.len()).map(|i| format!("${}", i + 1)).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM transfer_requests WHERE state IN ({}) ORDER BY updated_at DESC, id DESC LIMIT ${}",
        placeholders.join(", "),
        states.len() + 1
    );
    let mut query = sqlx::query(&sql);
    for state in states {
        query = query.bind(state.as_str());
    }
    let rows = query.bind(limit).fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

/// Whether any request other than `except` (the request and the versions it replaces) was made
/// to this account before `before_ms`: a first-time account is worth a second look.
pub async fn earlier_to_account(
    pool: &AnyPool,
    account_id: &str,
    before_ms: i64,
    except: &[&str],
) -> StoreResult<bool> {
    let rows = sqlx::query("SELECT id FROM transfer_requests WHERE account_id = $1 AND created_at <= $2")
        .bind(account_id)
        .bind(before_ms)
        .fetch_all(pool)
        .await?;
    for row in &rows {
        let id: String = row.try_get("id")?;
        if !except.contains(&id.as_str()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The newest requests of one tier (the Digest lists tier 1), newest first.
pub async fn of_tier(pool: &AnyPool, tier: Tier, limit: i64) -> StoreResult<Vec<RequestRecord>> {
    let sql =
        format!("SELECT {COLUMNS} FROM transfer_requests WHERE tier = $1 ORDER BY created_at DESC, id DESC LIMIT $2");
    let rows = sqlx::query(&sql).bind(tier.number()).bind(limit).fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

/// Whether a transfer was ever created at Plaid on this account (some request of it has a transfer
/// id): the policy's "counterparty seen before" and the inbox's "first transfer" flag. Proposals,
/// declines and rejections do not count — only money Plaid was actually asked to move.
pub async fn transfer_created_to_account<'e, E>(executor: E, item_id: &str, account_id: &str) -> StoreResult<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(
        "SELECT id FROM transfer_requests WHERE item_id = $1 AND account_id = $2 AND transfer_id IS NOT NULL LIMIT 1",
    )
    .bind(item_id)
    .bind(account_id)
    .fetch_optional(executor)
    .await?;
    Ok(row.is_some())
}
