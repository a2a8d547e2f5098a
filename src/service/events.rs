//! What a transition tells the outside world, written into the outbox inside the transition's own
//! transaction (so it is sent if and only if the change commits): a callback to the request's
//! agent, when it has a callback URL, and for the events people must hear of, an alert that the
//! delivery worker fans out to approvers' channels (`notify::alerts`).
//!
//! Event types: `transfer.<state>` when the request enters a state (`pending_approval`,
//! `approved`, `rejected`, `expired`, `cancelled`, `submitted`, `reauth_required`, `failed`,
//! `declined`, `action_required`, `superseded`), and `transfer.<status>` when a submitted
//! transfer's status changes (`posted`, `settled`, `funds_available`, `returned`, `failed`,
//! `cancelled`). The body is `{"type", "created_at", "data"}`: `data` is the request exactly as
//! `GET /v1/transfers/{id}` shows it at that moment.

use super::view::RequestView;
use super::{format_ms, Context};
use crate::domain::RequestId;
use crate::notify::{self, Envelope};
use crate::store::requests::{self, RequestRecord};
use crate::store::transfer_events::StoredEvent;
use crate::store::transitions::Outgoing;
use crate::store::{agents, items, transfer_events, StoreError, StoreResult, Tx};
use serde_json::json;

/// The request entered the state it is in now: `transfer.<state>`.
pub(crate) async fn request_changed(ctx: &Context, tx: &mut Tx, id: &RequestId, now: i64) -> StoreResult<()> {
    let record = load(tx, id).await?;
    let event_type = format!("transfer.{}", record.state);
    emit(ctx, tx, &record, &event_type, now).await
}

/// An event named by the caller, e.g. a transfer status change (`transfer.returned`).
pub(crate) async fn request_event(
    ctx: &Context,
    tx: &mut Tx,
    id: &RequestId,
    event_type: &str,
    now: i64,
) -> StoreResult<()> {
    let record = load(tx, id).await?;
    emit(ctx, tx, &record, event_type, now).await
}

/// What [`approved`] writes, for a whole transition: computed from `after`, the request as the
/// approval leaves it.
pub(crate) fn whole_approved(after: &RequestRecord, now: i64) -> StoreResult<Vec<Outgoing>> {
    let event_type = "transfer.approved";
    Ok(vec![Outgoing::AgentCallback {
        id: notify::new_message_id(),
        payload: body_of(after, event_type, now, None, after.item_health.clone())?,
        event_type: event_type.to_owned(),
    }])
}

/// `transfer.approved`: the quorum was met and the request moves on to execution in the same
/// transaction. Only the agent hears of it (no alert).
pub(crate) async fn approved(tx: &mut Tx, id: &RequestId, now: i64) -> StoreResult<()> {
    let event_type = "transfer.approved";
    if let Some(callback) = agents::callback_for_request_in(tx, id.as_str()).await? {
        let record = load(tx, id).await?;
        call_back(tx, &record, &callback, event_type, now).await?;
    }
    Ok(())
}

async fn load(tx: &mut Tx, id: &RequestId) -> StoreResult<RequestRecord> {
    requests::find_in(tx, id).await?.ok_or_else(|| StoreError::Corrupt(format!("request {id} vanished")))
}

async fn emit(ctx: &Context, tx: &mut Tx, record: &RequestRecord, event_type: &str, now: i64) -> StoreResult<()> {
    if let Some(callback) = agents::callback_in(tx, record.agent_id.as_str()).await? {
        call_back(tx, record, &callback, event_type, now).await?;
    }
    // A fan-out nobody would hear costs the worker two write transactions: skip it.
    if notify::alerts::wanted(event_type)
        && (ctx.outbound.team_channel.is_some() || crate::store::channels::any(tx).await?)
    {
        notify::alerts::enqueue_fan_out(tx, record.id.as_str(), event_type, now).await?;
    }
    Ok(())
}

async fn call_back(
    tx: &mut Tx,
    record: &RequestRecord,
    callback: &agents::Callback,
    event_type: &str,
    now: i64,
) -> StoreResult<()> {
    let body = callback_body(tx, record, event_type, now).await?;
    let envelope = Envelope {
        channel: notify::AGENT_CALLBACK,
        destination: &callback.url,
        agent_id: Some(record.agent_id.as_str()),
        approver_id: None,
        request_id: Some(record.id.as_str()),
        event_type,
        payload: &body,
        dedup_key: None,
    };
    notify::enqueue(tx, envelope, now).await.map(|_| ())
}

/// `{"type", "created_at", "data"}` with `data` as `GET /v1/transfers/{id}` shows the request.
async fn callback_body(tx: &mut Tx, record: &RequestRecord, event_type: &str, now: i64) -> StoreResult<String> {
    let events = match &record.transfer_id {
        Some(transfer_id) => Some(transfer_events::for_transfer(tx.conn().await?, transfer_id).await?),
        None => None,
    };
    let health = items::find_by_id_in(tx, &record.item_id).await?.map(|item| item.health);
    body_of(record, event_type, now, events.as_deref(), health)
}

fn body_of(
    record: &RequestRecord,
    event_type: &str,
    now: i64,
    events: Option<&[StoredEvent]>,
    item_health: Option<String>,
) -> StoreResult<String> {
    let mut view = RequestView::from(record);
    view.transfer_events = events.map(|events| events.iter().map(Into::into).collect());
    view.item_health = item_health;
    let body = json!({ "type": event_type, "created_at": format_ms(now), "data": view });
    serde_json::to_string(&body).map_err(|e| StoreError::Corrupt(format!("callback body: {e}")))
}

/// What [`request_changed`] writes, for a whole transition (`store::transitions`): computed from
/// `after` (the request as the transition leaves it), the item's health and the transfer's events
/// as the caller read them, with no reads of its own. The store writes the callback only if the
/// agent has one, and the fan-out only if someone would hear it.
pub(crate) fn whole_request_changed(
    ctx: &Context,
    after: &RequestRecord,
    events: Option<&[StoredEvent]>,
    item_health: &str,
    now: i64,
) -> StoreResult<Vec<Outgoing>> {
    let event_type = format!("transfer.{}", after.state);
    let mut messages = vec![Outgoing::AgentCallback {
        id: notify::new_message_id(),
        payload: body_of(after, &event_type, now, events, Some(item_health.to_owned()))?,
        event_type: event_type.clone(),
    }];
    if notify::alerts::wanted(&event_type) {
        let team_channel = ctx.outbound.team_channel.is_some();
        messages.push(notify::alerts::fan_out_of_transition(after.id.as_str(), &event_type, team_channel));
    }
    Ok(messages)
}
