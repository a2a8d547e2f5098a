//! /transfer/create, /transfer/get, /transfer/cancel and /transfer/event/sync.
//!
//! /transfer/create is idempotent on `authorization_id`: a repeat returns the transfer the first
//! call made and creates nothing. This module must never create a second transfer for one
//! authorization, nor use a declined, cancelled or expired authorization.

use axum::http::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use super::super::errors::PlaidError;
use super::super::money::format_cents;
use super::super::state::{rfc3339, Decision, Transfer, TransferEvent};
use super::authorization::positive_amount;
use super::{opt_str, str_field, Body, Ctx};

pub fn create(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let authorization_id = str_field(body, "authorization_id")?;
    let item = ctx.state.item(str_field(body, "access_token")?)?;
    let account = ctx.state.account_on_item(item, str_field(body, "account_id")?)?;
    let authorization = ctx
        .state
        .authorizations
        .get(authorization_id)
        .filter(|a| a.item_id == item.item_id)
        // Plaid does not document the unknown-authorization error; INVALID_FIELD is our guess.
        .ok_or_else(|| {
            PlaidError::invalid_field("authorization_id does not match any authorization for this access_token")
        })?;
    if authorization.account_id != account.account_id {
        return Err(PlaidError::invalid_field("account_id does not match the account of the authorization"));
    }
    // Idempotency comes before every state check, so a retry after a lost answer still gets the
    // transfer even if the authorization has expired since.
    if let Some(existing) = authorization.transfer_id.as_ref().and_then(|id| ctx.state.transfers.get(id)) {
        return Ok(json!({"transfer": transfer_json(existing)}));
    }
    if item.login_required {
        return Err(PlaidError::item_login_required());
    }
    if authorization.decision != Decision::Approved {
        // Documented: a declined authorization_id is INVALID_FIELD.
        return Err(PlaidError::invalid_field(format!(
            "authorization_id refers to an authorization whose decision is {}; only approved authorizations can be used",
            authorization.decision.as_str()
        )));
    }
    // Plaid does not document the errors for cancelled or expired authorizations; we answer
    // INVALID_FIELD like the documented declined case.
    if authorization.cancelled {
        return Err(PlaidError::invalid_field("authorization_id refers to a cancelled authorization"));
    }
    let ttl = Duration::try_from(ctx.sim.settings.authorization_ttl).unwrap_or(Duration::MAX);
    if ctx.now - authorization.created > ttl {
        return Err(PlaidError::invalid_field(
            "authorization_id refers to an expired authorization; create a new authorization",
        ));
    }
    let amount_cents = match opt_str(body, "amount") {
        Some(raw) => positive_amount(raw)?,
        None => authorization.amount_cents,
    };
    if amount_cents > authorization.amount_cents {
        return Err(PlaidError::invalid_field("amount must not exceed the authorized amount"));
    }
    let description = str_field(body, "description")?;
    let max_description = if matches!(authorization.network.as_str(), "ach" | "same-day-ach") { 10 } else { 15 };
    if description.chars().count() > max_description {
        return Err(PlaidError::invalid_field(format!(
            "description must be at most {max_description} characters for network {}",
            authorization.network
        )));
    }

    let transfer = Transfer {
        id: uuid::Uuid::new_v4().to_string(),
        authorization_id: authorization.id.clone(),
        account_id: authorization.account_id.clone(),
        transfer_type: authorization.transfer_type.clone(),
        network: authorization.network.clone(),
        ach_class: authorization.ach_class.clone(),
        amount_cents,
        description: description.to_owned(),
        created: ctx.now,
        status: "pending".to_owned(),
        failure_reason: Value::Null,
        metadata: body.get("metadata").cloned().unwrap_or(Value::Null),
        user: authorization.user.clone(),
        iso_currency_code: authorization.iso_currency_code.clone(),
        wire_details: authorization.wire_details.clone(),
        recurring_transfer_id: None,
    };
    let response = json!({"transfer": transfer_json(&transfer)});
    ctx.state.push_event(&transfer, "pending", Value::Null, ctx.now);
    if let Some(a) = ctx.state.authorizations.get_mut(authorization_id) {
        a.transfer_id = Some(transfer.id.clone());
    }
    ctx.state.transfers.insert(transfer.id.clone(), transfer);
    Ok(response)
}

pub fn get(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let transfer_id = match (opt_str(body, "transfer_id"), opt_str(body, "authorization_id")) {
        (Some(id), None) => Some(id),
        (None, Some(authorization_id)) => {
            ctx.state.authorizations.get(authorization_id).and_then(|a| a.transfer_id.as_deref())
        }
        _ => return Err(PlaidError::invalid_field("exactly one of transfer_id or authorization_id must be provided")),
    };
    // Plaid does not document the not-found error; INVALID_FIELD is our guess.
    let transfer = transfer_id
        .and_then(|id| ctx.state.transfers.get(id))
        .ok_or_else(|| PlaidError::invalid_field("no transfer matches the given id"))?;
    Ok(json!({"transfer": transfer_json(transfer)}))
}

/// `/transfer/cancel`: only while the transfer is `cancellable` (still `pending` here), else
/// TRANSFER_NOT_CANCELLABLE as Plaid documents. A cancelled transfer gets a `cancelled` event.
pub fn cancel(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let transfer = ctx.state.transfer_mut(str_field(body, "transfer_id")?)?;
    if transfer.status != "pending" {
        return Err(PlaidError::new(
            StatusCode::BAD_REQUEST,
            "TRANSFER_ERROR",
            "TRANSFER_NOT_CANCELLABLE",
            "transfer is not cancellable",
        ));
    }
    transfer.status = "cancelled".to_owned();
    let transfer = transfer.clone();
    ctx.state.push_event(&transfer, "cancelled", Value::Null, ctx.now);
    if let Some(url) = ctx.sim.webhook_url(None) {
        ctx.sim.signer.send(&url, &super::super::webhooks::transfer_events_update());
    }
    Ok(json!({}))
}

const DEFAULT_SYNC_COUNT: u64 = 100;

pub fn event_sync(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    // Type and bounds (after_id >= 0, count 1..=500) are checked against the schema already.
    let after_id = body.get("after_id").and_then(Value::as_u64).unwrap_or(0);
    let count = body.get("count").and_then(Value::as_u64).unwrap_or(DEFAULT_SYNC_COUNT);
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let newer: Vec<&TransferEvent> = ctx.state.events.iter().filter(|e| e.event_id > after_id).collect();
    let page: Vec<Value> = newer.iter().take(count).map(|e| event_json(e)).collect();
    Ok(json!({
        "transfer_events": page,
        "has_more": newer.len() > count,
    }))
}

/// The `Transfer` schema object (every required key; nullable ones null).
pub fn transfer_json(t: &Transfer) -> Value {
    let mut value = json!({
        "id": t.id,
        "authorization_id": t.authorization_id,
        "account_id": t.account_id,
        "type": t.transfer_type,
        "user": t.user,
        "amount": format_cents(t.amount_cents),
        "description": t.description,
        "created": rfc3339(t.created),
        "status": t.status,
        "network": t.network,
        // Only a pending transfer can still be cancelled.
        "cancellable": t.status == "pending",
        "failure_reason": t.failure_reason,
        "metadata": t.metadata,
        "origination_account_id": "",
        "guarantee_decision": null,
        "guarantee_decision_rationale": null,
        "guarantee_details": null,
        "iso_currency_code": t.iso_currency_code,
        "standard_return_window": null,
        "unauthorized_return_window": null,
        "expected_settlement_date": null,
        "originator_client_id": null,
        "refunds": [],
        "recurring_transfer_id": t.recurring_transfer_id,
        "funding_account_id": null,
        "credit_funds_source": null,
        "ledger_id": null,
        "sweep_status": null,
        "wire_details": t.wire_details,
        "network_trace_id": null,
    });
    if let Some(class) = &t.ach_class {
        value["ach_class"] = json!(class);
    }
    value
}

/// The `TransferEvent` schema object.
pub(super) fn event_json(e: &TransferEvent) -> Value {
    json!({
        "event_id": e.event_id,
        "timestamp": rfc3339(e.timestamp),
        "event_type": e.event_type,
        "account_id": e.account_id,
        "transfer_id": e.transfer_id,
        "origination_account_id": null,
        "transfer_type": e.transfer_type,
        "transfer_amount": format_cents(e.amount_cents),
        "event_amount": event_amount(e),
        "failure_reason": e.failure_reason,
        "sweep_id": null,
        "sweep_amount": null,
        "refund_id": null,
        "originator_client_id": null,
        "funding_account_id": null,
    })
}

/// `event_amount` (newer specs: "a signed amount associated with this event"). Plaid does not
/// document the sign; the simulator's choice is the ledger's side: a debit brings money in (+),
/// a credit sends it out (-), and a return reverses the transfer's sign.
fn event_amount(e: &TransferEvent) -> String {
    let inbound = e.transfer_type == "debit";
    let positive = if e.event_type == "returned" { !inbound } else { inbound };
    let amount = format_cents(e.amount_cents);
    if positive {
        amount
    } else {
        format!("-{amount}")
    }
}
