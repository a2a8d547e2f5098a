//! Reading requests: one (optionally long-polling), or a page of the agent's own.

use super::view::RequestView;
use super::Context;
use crate::domain::{RequestId, RequestState, TransferStatus};
use crate::error::{Error, Result};
use crate::store::admin::{self, KeyLookup};
use crate::store::agents::AgentRecord;
use crate::store::requests::{self, RequestRecord};
use crate::store::transfer_events;
use std::time::Duration;
use tokio::time::Instant;

pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// Other replicas' changes are seen by re-reading at least this often.
const POLL: Duration = Duration::from_millis(250);

/// States in which the request waits on Plaid, humans or execution rather than on the agent.
fn in_progress(state: RequestState) -> bool {
    matches!(
        state,
        RequestState::Proposed | RequestState::PendingApproval | RequestState::Approved | RequestState::Executing
    )
}

async fn load(ctx: &Context, agent: &AgentRecord, id: &RequestId) -> Result<RequestRecord> {
    requests::find(ctx.store.reader(), id)
        .await?
        .filter(|r| r.agent_id == agent.id)
        .ok_or_else(|| Error::not_found("transfer request"))
}

/// The agent a presented API key's hash belongs to (or why it is refused) and, when `id` is given
/// and is that agent's, the request: one read.
pub async fn with_key(
    ctx: &Context,
    key_hash: &str,
    id: Option<&RequestId>,
) -> Result<(KeyLookup, Option<RequestRecord>)> {
    let now = super::now_ms();
    Ok(match id {
        Some(id) => requests::find_with_key(ctx.store.reader(), key_hash, id, now).await?,
        None => (admin::agent_by_key(ctx.store.reader(), key_hash, now).await?, None),
    })
}

/// Returns the request; with `wait`, holds the call (no database connection held) until the
/// request leaves the in-progress states — or, given `changed_from`, until its transfer status is
/// no longer that one — or `wait` runs out. `found` is the agent's request as [`with_key`] read it
/// (None: not the agent's, or missing).
pub async fn get(
    ctx: &Context,
    agent: &AgentRecord,
    id: &RequestId,
    found: Option<RequestRecord>,
    wait: Duration,
    changed_from: Option<TransferStatus>,
) -> Result<RequestView> {
    let deadline = Instant::now() + wait.min(MAX_WAIT);
    let mut changes = ctx.changes.subscribe();
    let mut found = Some(found.ok_or_else(|| Error::not_found("transfer request"))?);
    loop {
        let record = match found.take() {
            Some(record) => record,
            None => load(ctx, agent, id).await?,
        };
        let settled = match (record.state, changed_from) {
            (state, _) if in_progress(state) => false,
            (RequestState::Submitted, Some(seen)) => record.transfer_status.as_deref() != Some(seen.as_str()),
            _ => true,
        };
        let now = Instant::now();
        if settled || now >= deadline {
            return view_with_details(ctx, &record).await;
        }
        let nap = POLL.min(deadline - now);
        let _ = tokio::time::timeout(nap, changes.changed()).await;
    }
}

/// The request as `GET` shows it: with its transfer's events and its item's health.
async fn view_with_details(ctx: &Context, record: &RequestRecord) -> Result<RequestView> {
    let mut view = RequestView::from(record);
    if let Some(transfer_id) = &record.transfer_id {
        let events = transfer_events::for_transfer(ctx.store.reader(), transfer_id).await?;
        view.transfer_events = Some(events.iter().map(Into::into).collect());
    }
    view.item_health.clone_from(&record.item_health);
    view.recurring = super::recurring::view(ctx, record).await?;
    Ok(view)
}

pub struct Page {
    pub items: Vec<RequestView>,
    pub next_cursor: Option<String>,
}

pub async fn list(
    ctx: &Context,
    agent: &AgentRecord,
    (state, transfer_status): (Option<RequestState>, Option<TransferStatus>),
    cursor: Option<&RequestId>,
    limit: i64,
) -> Result<Page> {
    let limit = limit.clamp(1, 100);
    let filter = requests::ListFilter { state, transfer_status: transfer_status.map(TransferStatus::as_str) };
    let mut records = requests::list_for_agent(ctx.store.reader(), &agent.id, filter, cursor, limit + 1).await?;
    let more = records.len() as i64 > limit;
    records.truncate(limit as usize);
    let next_cursor = if more { records.last().map(|r| r.id.to_string()) } else { None };
    Ok(Page { items: records.iter().map(RequestView::from).collect(), next_cursor })
}
