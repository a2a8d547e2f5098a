//! /transfer/recurring/create, /get, /cancel, /list and the sandbox's test clocks.
//!
//! A recurring transfer is decided like an authorization when created (approved, or declined with
//! no `recurring_transfer` in the answer). It originates an ordinary transfer (`recurring_transfer_id` set, a
//! `pending` event, TRANSFER_EVENTS_UPDATE and RECURRING_NEW_TRANSFER webhooks) for each scheduled
//! date its clock passes: its test clock's virtual time, or — without one — the simulator's
//! recurring date (`POST /sim/recurring/advance`), else today. Dates are the scheduled ones (the
//! simulator has no bank holidays). After the last date of a schedule with an end it is `expired`.
//! `idempotency_key` is required: the same key with the same body returns the same recurring
//! transfer; with another body it is refused.

use axum::http::StatusCode;
use serde_json::{json, Value};
use time::{Date, OffsetDateTime};

use super::super::errors::PlaidError;
use super::super::money::format_cents;
use super::super::state::{rfc3339, Decision, RecurringTransfer, State, Transfer};
use super::authorization::{decide, legal_name, positive_amount, transfer_account, user_in_response};
use super::{opt_str, str_field, Body, Ctx};
use crate::domain::schedule::{RawSchedule, Schedule};

fn schedule_of(value: Option<&Value>) -> Result<Schedule, PlaidError> {
    let value = value.ok_or_else(|| PlaidError::missing_fields(&["schedule"]))?;
    Schedule::parse(&RawSchedule::from_json(value), Date::MIN)
        .map_err(|e| PlaidError::invalid_field(format!("schedule: {}", e.message)))
}

/// The date a recurring transfer's clock reads.
fn today(state: &State, test_clock_id: Option<&str>, now: OffsetDateTime) -> Date {
    match test_clock_id.and_then(|id| state.test_clocks.get(id)) {
        Some(virtual_time) => virtual_time.date(),
        None => state.recurring_date.unwrap_or(now.date()),
    }
}

pub fn create(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let key = str_field(body, "idempotency_key")?;
    if key.chars().count() > 50 {
        return Err(PlaidError::invalid_field("idempotency_key must be at most 50 characters"));
    }
    let mut fingerprint_body = body.clone();
    fingerprint_body.remove("client_id");
    fingerprint_body.remove("secret");
    let fingerprint = Value::Object(fingerprint_body).to_string();
    if let Some(existing) = ctx.state.recurring_keys.get(key).and_then(|id| ctx.state.recurring.get(id)) {
        if existing.fingerprint != fingerprint {
            return Err(PlaidError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "INVALID_FIELD",
                "idempotency_key was already used with a different request",
            ));
        }
        return Ok(json!({"recurring_transfer": recurring_json(existing), "decision": "approved",
            "decision_rationale": null}));
    }
    let transfer_type = str_field(body, "type")?;
    let network = str_field(body, "network")?;
    if !matches!(network, "ach" | "same-day-ach" | "rtp") {
        return Err(PlaidError::invalid_field("network must be ach, same-day-ach or rtp for a recurring transfer"));
    }
    if network == "rtp" && transfer_type != "credit" {
        return Err(PlaidError::invalid_field("network rtp only supports credit transfers"));
    }
    let ach_class = opt_str(body, "ach_class");
    if network != "rtp" && ach_class.is_none() {
        return Err(PlaidError::missing_fields(&["ach_class"]));
    }
    let amount_cents = positive_amount(str_field(body, "amount")?)?;
    let schedule = schedule_of(body.get("schedule"))?;
    let test_clock_id = opt_str(body, "test_clock_id");
    if test_clock_id.is_some_and(|id| !ctx.state.test_clocks.contains_key(id)) {
        return Err(PlaidError::invalid_field("test_clock_id does not match any test clock"));
    }
    if schedule.start_date < today(ctx.state, test_clock_id, ctx.now) {
        return Err(PlaidError::invalid_field("schedule.start_date must not be in the past"));
    }
    let legal_name = legal_name(body)?;
    let (item, account) = transfer_account(ctx.state, body)?;
    let (decision, rationale) = decide(&ctx.sim.settings, item, account, transfer_type, amount_cents);
    let rationale = rationale.map(|(code, description)| json!({"code": code, "description": description}));
    if decision != Decision::Approved {
        // No recurring transfer exists: the key is left out (plaid-python 46 refuses a null one).
        return Ok(json!({"decision": decision.as_str(), "decision_rationale": rationale}));
    }
    let recurring = RecurringTransfer {
        id: uuid::Uuid::new_v4().to_string(),
        created: ctx.now,
        item_id: item.item_id.clone(),
        account_id: account.account_id.clone(),
        transfer_type: transfer_type.to_owned(),
        network: network.to_owned(),
        ach_class: ach_class.filter(|_| network != "rtp").map(str::to_owned),
        amount_cents,
        iso_currency_code: opt_str(body, "iso_currency_code").unwrap_or("USD").to_owned(),
        user: user_in_response(legal_name, body.get("user")),
        description: str_field(body, "description")?.to_owned(),
        schedule: schedule.to_json(),
        test_clock_id: test_clock_id.map(str::to_owned),
        status: "active".to_owned(),
        transfer_ids: Vec::new(),
        originated: 0,
        fingerprint,
    };
    ctx.state.recurring_keys.insert(key.to_owned(), recurring.id.clone());
    let id = recurring.id.clone();
    ctx.state.recurring.insert(id.clone(), recurring);
    originate_due(ctx);
    let created = ctx.state.recurring.get(&id).map(recurring_json).unwrap_or(Value::Null);
    Ok(json!({"recurring_transfer": created, "decision": "approved", "decision_rationale": null}))
}

fn find<'a>(state: &'a State, body: &Body) -> Result<&'a RecurringTransfer, PlaidError> {
    let id = str_field(body, "recurring_transfer_id")?;
    state
        .recurring
        .get(id)
        .ok_or_else(|| PlaidError::invalid_field("recurring_transfer_id does not match any recurring transfer"))
}

pub fn get(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    Ok(json!({"recurring_transfer": recurring_json(find(ctx.state, body)?)}))
}

/// Stops future originations of an active recurring transfer; Plaid refuses to cancel one that
/// is cancelled or expired already.
pub fn cancel(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let id = find(ctx.state, body)?.id.clone();
    let Some(recurring) = ctx.state.recurring.get_mut(&id) else { return Err(PlaidError::internal()) };
    if recurring.status != "active" {
        return Err(PlaidError::new(
            StatusCode::BAD_REQUEST,
            "TRANSFER_ERROR",
            "TRANSFER_RECURRING_CANCELLED",
            format!("the recurring transfer is {} and cannot be cancelled", recurring.status),
        ));
    }
    recurring.status = "cancelled".to_owned();
    send_webhook(ctx, "RECURRING_CANCELLED", &id, None);
    Ok(json!({}))
}

pub fn list(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let count = body.get("count").and_then(Value::as_u64).unwrap_or(25);
    let offset = body.get("offset").and_then(Value::as_u64).unwrap_or(0);
    let mut all: Vec<&RecurringTransfer> = ctx.state.recurring.values().collect();
    all.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    let page: Vec<Value> = all
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(count).unwrap_or(25))
        .map(recurring_json)
        .collect();
    Ok(json!({"recurring_transfers": page}))
}

fn parse_time(body: &Body, field: &str) -> Result<OffsetDateTime, PlaidError> {
    let text = str_field(body, field)?;
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| PlaidError::invalid_field(format!("{field} must be an RFC 3339 date-time")))
}

pub fn test_clock_create(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let virtual_time = match opt_str(body, "virtual_time") {
        Some(_) => parse_time(body, "virtual_time")?,
        None => ctx.now,
    };
    let id = uuid::Uuid::new_v4().to_string();
    ctx.state.test_clocks.insert(id.clone(), virtual_time);
    Ok(json!({"test_clock": {"test_clock_id": id, "virtual_time": rfc3339(virtual_time)}}))
}

/// Moves a test clock forward (never back) and originates what its recurring transfers owe by then.
pub fn test_clock_advance(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let id = str_field(body, "test_clock_id")?.to_owned();
    let new_time = parse_time(body, "new_virtual_time")?;
    let current = *ctx
        .state
        .test_clocks
        .get(&id)
        .ok_or_else(|| PlaidError::invalid_field("test_clock_id does not match any test clock"))?;
    if new_time < current {
        return Err(PlaidError::invalid_field("new_virtual_time must not be before the clock's virtual_time"));
    }
    ctx.state.test_clocks.insert(id, new_time);
    originate_due(ctx);
    Ok(json!({}))
}

pub fn test_clock_get(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let id = str_field(body, "test_clock_id")?;
    let time = ctx
        .state
        .test_clocks
        .get(id)
        .ok_or_else(|| PlaidError::invalid_field("test_clock_id does not match any test clock"))?;
    Ok(json!({"test_clock": {"test_clock_id": id, "virtual_time": rfc3339(*time)}}))
}

pub fn test_clock_list(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let count = body.get("count").and_then(Value::as_u64).unwrap_or(25);
    let offset = body.get("offset").and_then(Value::as_u64).unwrap_or(0);
    let mut clocks: Vec<(&String, &OffsetDateTime)> = ctx.state.test_clocks.iter().collect();
    clocks.sort();
    let page: Vec<Value> = clocks
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(count).unwrap_or(25))
        .map(|(id, time)| json!({"test_clock_id": id, "virtual_time": rfc3339(*time)}))
        .collect();
    Ok(json!({"test_clocks": page}))
}

/// Originates every transfer whose scheduled date its recurring transfer's clock has reached,
/// and expires schedules that are done. Called whenever a clock moves or a schedule is created.
pub fn originate_due(ctx: &mut Ctx<'_>) {
    let ids: Vec<String> = ctx.state.recurring.keys().cloned().collect();
    for id in ids {
        let Some(recurring) = ctx.state.recurring.get(&id) else { continue };
        if recurring.status != "active" {
            continue;
        }
        let Ok(schedule) = Schedule::from_json(&recurring.schedule) else { continue };
        let today = today(ctx.state, recurring.test_clock_id.as_deref(), ctx.now);
        let dates = schedule.dates();
        let due = dates.iter().filter(|date| **date <= today).count();
        for _ in recurring.originated..due {
            originate(ctx, &id);
        }
        let finished = schedule.end_date.is_some() && due >= dates.len();
        if let Some(recurring) = ctx.state.recurring.get_mut(&id) {
            recurring.originated = recurring.originated.max(due);
            if finished {
                recurring.status = "expired".to_owned();
            }
        }
    }
}

fn originate(ctx: &mut Ctx<'_>, id: &str) {
    let Some(recurring) = ctx.state.recurring.get(id) else { return };
    let transfer = Transfer {
        id: uuid::Uuid::new_v4().to_string(),
        authorization_id: uuid::Uuid::new_v4().to_string(),
        account_id: recurring.account_id.clone(),
        transfer_type: recurring.transfer_type.clone(),
        network: recurring.network.clone(),
        ach_class: recurring.ach_class.clone(),
        amount_cents: recurring.amount_cents,
        description: recurring.description.clone(),
        created: ctx.now,
        status: "pending".to_owned(),
        failure_reason: Value::Null,
        metadata: Value::Null,
        user: recurring.user.clone(),
        iso_currency_code: recurring.iso_currency_code.clone(),
        wire_details: Value::Null,
        recurring_transfer_id: Some(id.to_owned()),
    };
    ctx.state.push_event(&transfer, "pending", Value::Null, ctx.now);
    let transfer_id = transfer.id.clone();
    ctx.state.transfers.insert(transfer_id.clone(), transfer);
    if let Some(recurring) = ctx.state.recurring.get_mut(id) {
        recurring.transfer_ids.push(transfer_id.clone());
    }
    if let Some(url) = ctx.sim.webhook_url(item_webhook(ctx.state, id).as_deref()) {
        ctx.sim.signer.send(&url, &super::super::webhooks::transfer_events_update());
    }
    send_webhook(ctx, "RECURRING_NEW_TRANSFER", id, Some(&transfer_id));
}

/// The webhook of the item a recurring transfer belongs to, if it set one (else the simulator's).
fn item_webhook(state: &State, recurring_transfer_id: &str) -> Option<String> {
    let item_id = &state.recurring.get(recurring_transfer_id)?.item_id;
    state.items.values().find(|item| &item.item_id == item_id)?.webhook.clone()
}

/// Plaid's RECURRING_* webhooks (webhook_type TRANSFER).
fn send_webhook(ctx: &Ctx<'_>, code: &str, recurring_transfer_id: &str, transfer_id: Option<&str>) {
    let Some(url) = ctx.sim.webhook_url(item_webhook(ctx.state, recurring_transfer_id).as_deref()) else { return };
    let mut body = json!({"webhook_type": "TRANSFER", "webhook_code": code,
        "recurring_transfer_id": recurring_transfer_id, "environment": "sandbox"});
    if let Some(transfer_id) = transfer_id {
        body["transfer_id"] = json!(transfer_id);
    }
    ctx.sim.signer.send(&url, &body);
}

/// The `RecurringTransfer` schema object (every required key; nullable ones null).
pub fn recurring_json(r: &RecurringTransfer) -> Value {
    let next = Schedule::from_json(&r.schedule)
        .ok()
        .filter(|_| r.status == "active")
        .and_then(|schedule| schedule.dates().get(r.originated).map(ToString::to_string));
    let mut value = json!({
        "recurring_transfer_id": r.id,
        "created": rfc3339(r.created),
        "next_origination_date": next,
        "test_clock_id": r.test_clock_id,
        "type": r.transfer_type,
        "amount": format_cents(r.amount_cents),
        "status": r.status,
        "network": r.network,
        "origination_account_id": "",
        "account_id": r.account_id,
        // Required and not nullable here (unlike on a transfer): the simulator has one funding account.
        "funding_account_id": "",
        "iso_currency_code": r.iso_currency_code,
        "description": r.description,
        "transfer_ids": r.transfer_ids,
        "user": r.user,
        "schedule": r.schedule,
    });
    if let Some(class) = &r.ach_class {
        value["ach_class"] = json!(class);
    }
    value
}
