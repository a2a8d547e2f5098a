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

use super::format_ms;
use super::view::RequestView;
use crate::domain::RequestId;
use crate::notify::{self, Envelope};
use crate::store::requests::{self, RequestRecord};
use crate::store::{agents, items, transfer_events, StoreError, StoreResult, Tx};
use serde_json::json;

/// The request entered the state it is in now: `transfer.<state>`.
pub(crate) async fn request_changed(tx: &mut Tx, id: &RequestId, now: i64) -> StoreResult<()> {
    let record = load(tx, id).await?;
    let event_type = format!("transfer.{}", record.state);
    emit(tx, &record, &event_type, now).await
}

/// An event named by the caller: `transfer.approved` (the request moves on to execution in the
/// same transaction) or a transfer status change.
pub(crate) async fn request_event(tx: &mut Tx, id: &RequestId, event_type: &str, now: i64) -> StoreResult<()> {
    let record = load(tx, id).await?;
    emit(tx, &record, event_type, now).await
}

async fn load(tx: &mut Tx, id: &RequestId) -> StoreResult<RequestRecord> {
    requests::find_in(tx, id).await?.ok_or_else(|| StoreError::Corrupt(format!("request {id} vanished")))
}

async fn emit(tx: &mut Tx, record: &RequestRecord, event_type: &str, now: i64) -> StoreResult<()> {
    if let Some(callback) = agents::callback_in(tx, record.agent_id.as_str()).await? {
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
        notify::enqueue(tx, envelope, now).await?;
    }
    if notify::alerts::wanted(event_type) {
        notify::alerts::enqueue_fan_out(tx, record.id.as_str(), event_type, now).await?;
    }
    Ok(())
}

/// `{"type", "created_at", "data"}` with `data` as `GET /v1/transfers/{id}` shows the request.
async fn callback_body(tx: &mut Tx, record: &RequestRecord, event_type: &str, now: i64) -> StoreResult<String> {
    let mut view = RequestView::from(record);
    if let Some(transfer_id) = &record.transfer_id {
        let events = transfer_events::for_transfer(&mut **tx, transfer_id).await?;
        view.transfer_events = Some(events.iter().map(Into::into).collect());
    }
    if let Some(item) = items::find_by_id_in(tx, &record.item_id).await? {
        view.item_health = Some(item.health);
    }
    let body = json!({ "type": event_type, "created_at": format_ms(now), "data": view });
    serde_json::to_string(&body).map_err(|e| StoreError::Corrupt(format!("callback body: {e}")))
}
