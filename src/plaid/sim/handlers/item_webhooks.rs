//! /sandbox/item/fire_webhook and the ITEM webhooks the simulator sends.
//!
//! Plaid's endpoint takes the codes of its `webhook_code` enum (the schema check refuses others
//! with INVALID_FIELD before this module runs). The simulator fires the ones an item used for
//! Transfer can meet — NEW_ACCOUNTS_AVAILABLE, PENDING_DISCONNECT, LOGIN_REPAIRED and, as its
//! own stand-in for reset_login, ERROR — and refuses the rest with SANDBOX_ERROR. PENDING_EXPIRATION
//! (UK/EU items only) is not in Plaid's enum, so it is fired through `POST /sim/items/fire_webhook`.
//! Bodies follow the spec's webhook schemas. This module must never fire a webhook for an item
//! that has no webhook URL (Plaid answers SANDBOX_WEBHOOK_INVALID) and never move money.

use axum::http::StatusCode;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use super::super::errors::PlaidError;
use super::super::state::{rfc3339, Item};
use super::super::webhooks::item_webhook;
use super::super::Inner;
use super::sandbox::send_item_error;
use super::{opt_str, str_field, Body, Ctx};

/// Plaid announces PENDING_EXPIRATION and PENDING_DISCONNECT seven days ahead.
const NOTICE: Duration = Duration::days(7);

/// The codes the simulator fires, on either path.
pub const SIMULATED_ITEM_WEBHOOKS: &[&str] =
    &["NEW_ACCOUNTS_AVAILABLE", "PENDING_EXPIRATION", "PENDING_DISCONNECT", "LOGIN_REPAIRED", "ERROR"];

pub fn item_fire_webhook(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let code = str_field(body, "webhook_code")?;
    // Our reading: the ITEM codes belong to webhook_type ITEM; another type names another webhook.
    if let Some(webhook_type) = opt_str(body, "webhook_type").filter(|t| *t != "ITEM") {
        return Err(PlaidError::invalid_field(format!(
            "webhook_code {code} is an ITEM webhook; webhook_type {webhook_type} does not fire it"
        )));
    }
    let access_token = str_field(body, "access_token")?;
    fire(ctx.sim, ctx.state.item_mut(access_token)?, code, ctx.now)?;
    Ok(json!({"webhook_fired": true}))
}

/// Fires `code` for `item` (moving it into the state the webhook announces) or says why not.
pub fn fire(sim: &Inner, item: &mut Item, code: &str, now: OffsetDateTime) -> Result<(), PlaidError> {
    if !SIMULATED_ITEM_WEBHOOKS.contains(&code) {
        return Err(PlaidError::new(
            StatusCode::BAD_REQUEST,
            "SANDBOX_ERROR",
            "SANDBOX_WEBHOOK_INVALID",
            format!("webhook_code {code} is not simulated; fired: {}", SIMULATED_ITEM_WEBHOOKS.join(", ")),
        ));
    }
    let Some(url) = sim.webhook_url(item.webhook.as_deref()) else {
        return Err(PlaidError::new(
            StatusCode::BAD_REQUEST,
            "SANDBOX_ERROR",
            "SANDBOX_WEBHOOK_INVALID",
            "the Item has no webhook URL; set options.webhook when creating it",
        ));
    };
    match code {
        "LOGIN_REPAIRED" => item.login_required = false,
        // Plaid's sandbox does not fire ERROR for a transfer-only item; the simulator treats it as
        // /sandbox/item/reset_login: the item enters ITEM_LOGIN_REQUIRED and ITEM/ERROR says so.
        "ERROR" => {
            item.login_required = true;
            send_item_error(sim, item);
            return Ok(());
        }
        _ => {}
    }
    let mut body = item_webhook(code, &item.item_id, None);
    let notice = rfc3339(now + NOTICE);
    match code {
        "NEW_ACCOUNTS_AVAILABLE" => body["error"] = Value::Null,
        "PENDING_EXPIRATION" => body["consent_expiration_time"] = json!(notice),
        "PENDING_DISCONNECT" => {
            // US/CA items (all of the sandbox's institutions): a token expiring at the bank.
            body["reason"] = json!("INSTITUTION_TOKEN_EXPIRATION");
            body["disconnect_time"] = json!(notice);
        }
        _ => {}
    }
    sim.signer.send(&url, &body);
    Ok(())
}

pub fn send_login_repaired(sim: &Inner, item: &Item) {
    if let Some(url) = &sim.webhook_url(item.webhook.as_deref()) {
        sim.signer.send(url, &item_webhook("LOGIN_REPAIRED", &item.item_id, None));
    }
}
