//! Sandbox-only endpoints and the webhook key: /sandbox/public_token/create,
//! /sandbox/item/reset_login, /sandbox/transfer/simulate,
//! /sandbox/transfer/fire_webhook and /webhook_verification_key/get.
//!
//! These are how tests steer the world. They must never allow a transfer status change that the
//! Sandbox refuses (NOTES §6), and never move balances.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::super::errors::PlaidError;
use super::super::state::{plaid_id, Account, Item};
use super::super::webhooks::{item_webhook, transfer_events_update};
use super::super::Inner;
use super::item::institution_name;
use super::{opt_str, str_field, Body, Ctx};

/// The two accounts every sandbox Item gets: (name, official name, subtype, mask).
const SANDBOX_ACCOUNTS: [(&str, &str, &str, &str); 2] = [
    ("Plaid Checking", "Plaid Gold Standard 0% Interest Checking", "checking", "0000"),
    ("Plaid Saving", "Plaid Silver Standard 0.1% Interest Saving", "savings", "1111"),
];

pub fn public_token_create(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let institution_id = str_field(body, "institution_id")?;
    if institution_name(institution_id).is_none() {
        return Err(PlaidError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "INVALID_INSTITUTION",
            "invalid institution_id provided",
        ));
    }
    let products: Vec<String> = body
        .get("initial_products")
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if products.is_empty() {
        return Err(PlaidError::invalid_field("initial_products must contain at least one product"));
    }
    let webhook = body.get("options").and_then(|o| o.get("webhook")).and_then(Value::as_str).map(str::to_owned);

    let item_id = plaid_id();
    let mut account_ids = Vec::new();
    for (name, official_name, subtype, mask) in SANDBOX_ACCOUNTS {
        let account_id = plaid_id();
        account_ids.push(account_id.clone());
        ctx.state.accounts.insert(
            account_id.clone(),
            Account {
                account_id,
                item_id: item_id.clone(),
                name: name.into(),
                official_name: Some(official_name.into()),
                mask: mask.into(),
                subtype: subtype.into(),
                available_cents: ctx.sim.settings.initial_available_cents,
                current_cents: ctx.sim.settings.initial_available_cents,
            },
        );
    }
    // The item exists from now on; the access token is handed out at exchange time.
    let access_token = format!("access-sandbox-{}", uuid::Uuid::new_v4());
    ctx.state.items.insert(
        access_token.clone(),
        Item {
            item_id,
            institution_id: institution_id.to_owned(),
            webhook,
            products,
            created_at: ctx.now,
            login_required: false,
            account_ids,
        },
    );
    let public_token = format!("public-sandbox-{}", uuid::Uuid::new_v4());
    ctx.state.public_tokens.insert(public_token.clone(), (access_token, ctx.now));
    Ok(json!({"public_token": public_token}))
}

pub fn reset_login(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let item = ctx.state.item_mut(str_field(body, "access_token")?)?;
    item.login_required = true;
    let item = item.clone();
    send_item_error(ctx.sim, &item);
    Ok(json!({"reset_login": true}))
}

pub fn send_item_error(sim: &Inner, item: &Item) {
    if let Some(url) = &sim.webhook_url(item.webhook.as_deref()) {
        let error = PlaidError::item_login_required().to_webhook_value();
        sim.signer.send(url, &item_webhook("ERROR", &item.item_id, Some(error)));
    }
}

/// Legal transitions in the Sandbox (NOTES §6); `funds_available` only for ACH debits.
fn may_move(from: &str, to: &str, network: &str, transfer_type: &str) -> bool {
    match (from, to) {
        ("pending", "posted" | "failed") => true,
        ("posted", "settled" | "returned") => true,
        ("settled", "funds_available") => transfer_type == "debit" && matches!(network, "ach" | "same-day-ach"),
        _ => false,
    }
}

pub fn transfer_simulate(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let event_type = str_field(body, "event_type")?;
    if !matches!(event_type, "posted" | "settled" | "failed" | "funds_available" | "returned") {
        return Err(PlaidError::invalid_field(
            "event_type must be one of: posted, settled, failed, funds_available, returned",
        ));
    }
    let transfer = ctx.state.transfer_mut(str_field(body, "transfer_id")?)?;
    if !may_move(&transfer.status, event_type, &transfer.network, &transfer.transfer_type) {
        return Err(PlaidError::invalid_field(format!(
            "event_type {event_type} cannot be simulated for a transfer in status {}",
            transfer.status
        )));
    }
    let failure_reason = if matches!(event_type, "failed" | "returned") {
        let given = body.get("failure_reason").filter(|f| f.is_object());
        let code = given
            .and_then(|f| f.get("failure_code"))
            .cloned()
            // A return without a code is reported as R01 (insufficient funds), Sandbox's default.
            .unwrap_or_else(|| if event_type == "returned" { json!("R01") } else { Value::Null });
        let description = given
            .and_then(|f| f.get("description"))
            .cloned()
            .unwrap_or_else(|| json!(format!("simulated {event_type} transfer")));
        json!({"failure_code": code, "ach_return_code": code, "description": description})
    } else {
        Value::Null
    };
    transfer.status = event_type.to_owned();
    transfer.failure_reason = failure_reason.clone();
    let transfer = transfer.clone();
    ctx.state.push_event(&transfer, event_type, failure_reason, ctx.now);
    if let Some(url) = ctx.sim.webhook_url(opt_str(body, "webhook")) {
        ctx.sim.signer.send(&url, &transfer_events_update());
    }
    Ok(json!({}))
}

pub fn transfer_fire_webhook(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    ctx.sim.signer.send(str_field(body, "webhook")?, &transfer_events_update());
    Ok(json!({}))
}

pub fn webhook_verification_key_get(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    if str_field(body, "key_id")? != ctx.sim.signer.kid() {
        return Err(PlaidError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
            "invalid key_id provided",
        ));
    }
    Ok(json!({"key": ctx.sim.signer.jwk()}))
}
