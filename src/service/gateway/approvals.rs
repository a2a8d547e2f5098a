//! Tier-2 reads: the read waits for one approver, then the agent fetches it once, within a
//! short window.
//!
//! The stored request is Plaid's request without any credential; the access token is added only
//! when the approved read is fetched. Each step is a compare-and-set with its audit record in one
//! transaction: `pending_approval` → `approved` | `rejected` (an approver, never the agent's
//! owner, before `approve_by`), `approved` → `fetched` (the agent, before `fetch_by`). A Plaid
//! failure on fetch puts the read back to `approved`, so the agent may try again in the window.

use super::{granted, perform, Approval, Call, ReadError};
use crate::audit::{self, AuditFields};
use crate::domain::reads::ReadProduct;
use crate::domain::{username, AgentId, ItemId, Tier};
use crate::error::{Error, Result};
use crate::service::approvers::ApproverSession;
use crate::service::{format_ms, now_ms, Context};
use crate::store::agents::{self, AgentRecord};
use crate::store::read_requests::{self as rows, ReadRequest};
use crate::store::{approvers, items};
use serde_json::{json, Map, Value};

/// How long a tier-2 read waits for an approver.
const APPROVE_WITHIN_MS: i64 = 60 * 60 * 1000;
/// How long the agent has to fetch an approved read.
const FETCH_WITHIN_MS: i64 = 10 * 60 * 1000;

fn view(r: &ReadRequest) -> Value {
    json!({
        "id": r.id,
        "state": r.state,
        "product": r.product,
        "item_id": r.item_id,
        "reason": r.reason,
        "approve_by": format_ms(r.approve_by),
        "fetch_by": r.fetch_by.map(format_ms),
    })
}

fn record(r: &ReadRequest, event_type: &str, outcome: &str, now: i64) -> AuditFields {
    AuditFields {
        occurred_at: now,
        event_type: event_type.into(),
        agent_id: Some(r.agent_id.clone()),
        thread_id: r.thread_id.clone(),
        plaid_product: Some(r.product.clone()),
        plaid_endpoint: ReadProduct::parse(&r.product).map(|p| p.endpoint().into()),
        action_type: Some("read".into()),
        risk_tier: Some(Tier::Approve.number()),
        policy_version: r.policy_version.clone(),
        approval_required: Some(true),
        outcome: outcome.into(),
        ..AuditFields::default()
    }
}

/// Stores a tier-2 read for approval; the answer (202) says where it stands.
pub(super) async fn request(ctx: &Context, call: &Call<'_>, body: &Map<String, Value>) -> Result<Value> {
    let now = now_ms();
    let read = ReadRequest {
        id: format!("rr_{}", uuid::Uuid::now_v7().simple()),
        agent_id: call.agent.to_string(),
        item_id: call.item.id.to_string(),
        product: call.product.as_str().into(),
        request_body: Value::Object(body.clone()).to_string(),
        reason: call.reason.clone().unwrap_or_default(),
        thread_id: call.thread_id.clone(),
        state: rows::PENDING.into(),
        created_at: now,
        approve_by: now + APPROVE_WITHIN_MS,
        decided_by: None,
        decided_at: None,
        fetch_by: None,
        policy_version: Some(call.policy_version.clone()),
    };
    let mut tx = ctx.store.begin().await?;
    rows::insert(&mut tx, &read).await?;
    let mut fields = record(&read, "plaid.read_request", rows::PENDING, now);
    fields.plaid_item_id = Some(call.item.plaid_item_id.clone());
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    Ok(json!({ "read_request": view(&read) }))
}

/// An approver approves or rejects a pending tier-2 read.
pub async fn decide(ctx: &Context, who: &ApproverSession, id: &str, approve: bool) -> Result<Value> {
    let pool = ctx.store.reader();
    let read = rows::find(pool, id).await?.ok_or_else(|| Error::not_found("read request"))?;
    if !who.approver.has_role("approver") {
        return Err(Error::forbidden("not_an_approver", "this account does not have the approver role"));
    }
    let item = ItemId::from_trusted(read.item_id.clone());
    if !approvers::may_approve_for(pool, &who.approver, &item).await? {
        return Err(Error::forbidden("approver_not_allowed", "you may not approve for this item"));
    }
    let agent = agents::find(pool, &AgentId::from_trusted(read.agent_id.clone()))
        .await?
        .ok_or_else(|| anyhow::anyhow!("the read's agent is gone"))?;
    if username::same(&agent.owner, &who.approver.username) {
        return Err(Error::forbidden("owner_cannot_approve", "you own the agent that asked for this read"));
    }
    let now = now_ms();
    let (to, fetch_by) = if approve { (rows::APPROVED, Some(now + FETCH_WITHIN_MS)) } else { (rows::REJECTED, None) };
    let approver = who.approver.id.to_string();
    let mut tx = ctx.store.begin().await?;
    if !rows::decide(&mut tx, id, to, &approver, now, fetch_by).await? {
        return Err(Error::conflict("already_decided", "this read was already decided, or its time to approve passed"));
    }
    let mut fields = record(&read, &format!("plaid.read_request.{to}"), to, now);
    fields.approver_id = Some(approver.clone());
    fields.approval_timestamp = Some(now);
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    let decided = ReadRequest { state: to.into(), decided_by: Some(approver), decided_at: Some(now), fetch_by, ..read };
    Ok(json!({ "read_request": view(&decided) }))
}

/// The agent fetches an approved read: Plaid is called now, once, and its answer returned.
pub async fn fetch(ctx: &Context, agent: &AgentRecord, id: &str) -> std::result::Result<Value, ReadError> {
    let pool = ctx.store.reader();
    let read = rows::find(pool, id)
        .await?
        .filter(|r| r.agent_id == agent.id.as_str())
        .ok_or_else(|| Error::not_found("read request"))?;
    let product = ReadProduct::parse(&read.product).ok_or_else(|| anyhow::anyhow!("stored product unknown"))?;
    let unmasked = granted(ctx, agent, product).await?;
    let now = now_ms();
    match read.state.as_str() {
        rows::PENDING => {
            return Err(Error::conflict("read_not_approved", "no approver has approved this read yet").into())
        }
        rows::REJECTED => return Err(Error::forbidden("read_rejected", "an approver rejected this read").into()),
        rows::FETCHED => return Err(Error::conflict("already_fetched", "this read was already fetched").into()),
        _ => {}
    }
    let item = items::find(pool, &ItemId::from_trusted(read.item_id.clone()))
        .await?
        .ok_or_else(|| anyhow::anyhow!("the read's item is gone"))?;
    if !agents::may_use_item(pool, agent, &item.id).await? {
        return Err(
            Error::forbidden("item_not_allowed", format!("this agent may no longer use item {}", item.id)).into()
        );
    }
    let mut tx = ctx.store.begin().await?;
    let claimed = rows::claim_fetch(&mut tx, id, agent.id.as_str(), now).await?;
    ctx.store.commit(tx).await?;
    if !claimed {
        return Err(Error::conflict("window_passed", "the time to fetch this approved read has passed").into());
    }
    let body: Map<String, Value> = serde_json::from_str(&read.request_body).map_err(anyhow::Error::from)?;
    let approval =
        Approval { approver_id: read.decided_by.clone().unwrap_or_default(), at_ms: read.decided_at.unwrap_or(now) };
    let call = Call {
        agent: &agent.id,
        item: &item,
        product,
        tier: Tier::Approve,
        // The policy that asked for the approval; a row from before versions were stored: today's.
        policy_version: read.policy_version.clone().unwrap_or_else(|| ctx.policies.active().version.clone()),
        unmasked,
        reason: Some(read.reason.clone()),
        thread_id: read.thread_id.clone(),
        approval: Some(approval),
    };
    let answer = perform(ctx, call, body).await;
    if answer.is_err() {
        let mut tx = ctx.store.begin().await?;
        rows::release_fetch(&mut tx, id).await?;
        ctx.store.commit(tx).await?;
    }
    answer
}

/// Tier-2 reads waiting for an approver, oldest first (for the approvers' page).
pub async fn pending(ctx: &Context, limit: i64) -> Result<Vec<ReadRequest>> {
    Ok(rows::pending(ctx.store.reader(), now_ms(), limit).await?)
}
