//! /transfer/authorization/create and /transfer/authorization/cancel.
//!
//! Decisions follow the Sandbox rules in Plaid's spec text: a debit is approved when the account's
//! available balance covers it, declined NSF when it does not, declined RISK when the balance is
//! exactly zero; credits are checked against the ledger balance; amounts above the per-transfer
//! limit are declined TRANSFER_LIMIT_REACHED; an Item needing login gets the legacy
//! `user_action_required`. This module must never move money: authorizing changes no balance.

use axum::http::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use super::super::errors::PlaidError;
use super::super::money::{format_cents, parse_cents};
use super::super::state::{rfc3339, Authorization, Decision};
use super::{opt_str, str_field, Body, Ctx};

/// Idempotency keys are honoured for 48 hours, then the key may be reused (NOTES §3).
const IDEMPOTENCY_WINDOW: Duration = Duration::hours(48);

/// Per-network maximum per transfer, in cents (NOTES §2, TRANSFER_NETWORK_LIMIT_EXCEEDED).
fn network_max_cents(network: &str) -> Option<i64> {
    match network {
        "ach" => Some(1_000_000_000),
        "same-day-ach" | "rtp" => Some(100_000_000),
        "wire" => Some(99_999_999),
        "rfp" => Some(350_000),
        _ => None,
    }
}

fn is_ach(network: &str) -> bool {
    matches!(network, "ach" | "same-day-ach")
}

/// Parses a transfer amount that must be `^\d+\.\d{2}$` and positive.
pub fn positive_amount(raw: &str) -> Result<i64, PlaidError> {
    match parse_cents(raw) {
        Some(cents) if cents > 0 => Ok(cents),
        _ => Err(PlaidError::invalid_field(
            "amount must be a positive decimal string with exactly two decimal places, e.g. \"10.00\"",
        )),
    }
}

fn transfer_error(code: &'static str, message: impl Into<String>) -> PlaidError {
    PlaidError::new(StatusCode::BAD_REQUEST, "TRANSFER_ERROR", code, message)
}

pub fn create(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let idempotency_key = opt_str(body, "idempotency_key");
    if let Some(key) = idempotency_key {
        let original = ctx
            .state
            .idempotency
            .get(key)
            .and_then(|id| ctx.state.authorizations.get(id))
            .filter(|a| ctx.now - a.created < IDEMPOTENCY_WINDOW);
        if let Some(original) = original {
            // Plaid returns the original authorization, even if this body differs.
            return Ok(json!({"authorization": authorization_json(original)}));
        }
    }

    let transfer_type = str_field(body, "type")?;
    let network = str_field(body, "network")?;
    let amount_cents = positive_amount(str_field(body, "amount")?)?;
    let ach_class = opt_str(body, "ach_class");
    if is_ach(network) {
        let Some(class) = ach_class else {
            return Err(PlaidError::missing_fields(&["ach_class"]));
        };
        let allowed: &[&str] = if transfer_type == "credit" { &["ccd", "ppd"] } else { &["ccd", "tel", "web"] };
        if !allowed.contains(&class) {
            return Err(transfer_error(
                "TRANSFER_FORBIDDEN_ACH_CLASS",
                format!("ach_class {class} is not allowed for {transfer_type} transfers"),
            ));
        }
    } else if network == "rfp" {
        // Request for Payment (newer specs, closed beta) asks the user to pay: debits only.
        if transfer_type != "debit" {
            return Err(PlaidError::invalid_field("network rfp only supports debit transfers"));
        }
    } else if transfer_type != "credit" {
        return Err(PlaidError::invalid_field(format!("network {network} only supports credit transfers")));
    }
    if network_max_cents(network).is_some_and(|max| amount_cents > max) {
        return Err(transfer_error(
            "TRANSFER_NETWORK_LIMIT_EXCEEDED",
            format!("amount exceeds the maximum for network {network}"),
        ));
    }
    let legal_name = legal_name(body)?;

    let (item, account) = transfer_account(ctx.state, body)?;
    let (decision, rationale) = decide(&ctx.sim.settings, item, account, transfer_type, amount_cents);

    let authorization = Authorization {
        id: uuid::Uuid::new_v4().to_string(),
        created: ctx.now,
        item_id: item.item_id.clone(),
        account_id: account.account_id.clone(),
        transfer_type: transfer_type.to_owned(),
        network: network.to_owned(),
        ach_class: ach_class.filter(|_| is_ach(network)).map(str::to_owned),
        amount_cents,
        iso_currency_code: opt_str(body, "iso_currency_code").unwrap_or("USD").to_owned(),
        user: user_in_response(legal_name, body.get("user")),
        wire_details: body.get("wire_details").cloned().unwrap_or(Value::Null),
        decision,
        rationale: rationale.map(|(code, description)| (code.into(), description)),
        cancelled: false,
        transfer_id: None,
    };
    let response = json!({"authorization": authorization_json(&authorization)});
    // Idempotency does not apply to user_action_required: after the user fixes the Item, a
    // retry with the same key must get a fresh decision (NOTES §3).
    if let Some(key) = idempotency_key.filter(|_| decision != Decision::UserActionRequired) {
        ctx.state.idempotency.insert(key.to_owned(), authorization.id.clone());
    }
    ctx.state.authorizations.insert(authorization.id.clone(), authorization);
    Ok(response)
}

/// Plaid's risk decision on moving `amount_cents` in or out of `account`, as the sandbox makes it
/// (also for each recurring transfer's creation).
pub(super) fn decide(
    settings: &super::super::Settings,
    item: &super::super::state::Item,
    account: &super::super::state::Account,
    transfer_type: &str,
    amount_cents: i64,
) -> (Decision, Option<(&'static str, String)>) {
    if item.login_required {
        // Legacy Sandbox behaviour for reset_login Items; rationale stays null.
        (Decision::UserActionRequired, None)
    } else if amount_cents > settings.per_transfer_limit_cents {
        let limit = format_cents(settings.per_transfer_limit_cents);
        let description = format!("Transfer amount exceeds the per-transfer limit of {limit}.");
        (Decision::Declined, Some(("TRANSFER_LIMIT_REACHED", description)))
    } else if transfer_type == "credit" {
        if amount_cents > settings.ledger_available_cents {
            (Decision::Declined, Some(("NSF", nsf_description())))
        } else {
            (Decision::Approved, None)
        }
    } else if account.available_cents == 0 {
        let description = "Risk of return is too high for this transfer.".to_owned();
        (Decision::Declined, Some(("RISK", description)))
    } else if account.available_cents < amount_cents {
        (Decision::Declined, Some(("NSF", nsf_description())))
    } else {
        (Decision::Approved, None)
    }
}

/// The item and account a transfer request names: an account of that item, and of a type Plaid
/// moves money with.
pub(super) fn transfer_account<'s>(
    state: &'s super::super::state::State,
    body: &Body,
) -> Result<(&'s super::super::state::Item, &'s super::super::state::Account), PlaidError> {
    let item = state.item(str_field(body, "access_token")?)?;
    let account = state.account_on_item(item, str_field(body, "account_id")?)?;
    if !matches!(account.subtype.as_str(), "checking" | "savings" | "cash management") {
        return Err(transfer_error(
            "TRANSFER_UNSUPPORTED_ACCOUNT_TYPE",
            "only checking, savings and cash management accounts can be used for transfers",
        ));
    }
    Ok((item, account))
}

/// `user.legal_name`, required by every transfer request.
pub(super) fn legal_name(body: &Body) -> Result<&str, PlaidError> {
    body.get("user")
        .and_then(|u| u.get("legal_name"))
        .and_then(Value::as_str)
        .ok_or_else(|| PlaidError::missing_fields(&["user.legal_name"]))
}

fn nsf_description() -> String {
    "Transaction failed due to insufficient funds".to_owned()
}

/// `TransferUserInResponse`: every key present, the optional ones null when not sent.
pub(super) fn user_in_response(legal_name: &str, user: Option<&Value>) -> Value {
    let field = |name: &str| user.and_then(|u| u.get(name)).cloned().unwrap_or(Value::Null);
    let address = user.and_then(|u| u.get("address")).filter(|a| a.is_object());
    let address = address.map(|a| {
        let part = |name: &str| a.get(name).cloned().unwrap_or(Value::Null);
        json!({
            "street": part("street"),
            "city": part("city"),
            "region": part("region"),
            "postal_code": part("postal_code"),
            "country": part("country"),
        })
    });
    json!({
        "legal_name": legal_name,
        "phone_number": field("phone_number"),
        "email_address": field("email_address"),
        "address": address,
    })
}

/// The `TransferAuthorization` schema object.
pub fn authorization_json(a: &Authorization) -> Value {
    let mut proposed = json!({
        "account_id": a.account_id,
        "funding_account_id": null,
        "ledger_id": null,
        "type": a.transfer_type,
        "user": a.user,
        "amount": format_cents(a.amount_cents),
        // Required by plaid-python 46 / npm plaid 47: what the client asked for. The simulator
        // authorizes exactly the requested amount.
        "requested_amount": format_cents(a.amount_cents),
        "network": a.network,
        "wire_details": a.wire_details,
        "origination_account_id": "",
        "iso_currency_code": a.iso_currency_code,
        "originator_client_id": null,
        "credit_funds_source": null,
    });
    if let Some(class) = &a.ach_class {
        proposed["ach_class"] = json!(class);
    }
    let rationale = a.rationale.as_ref().map(|(code, description)| json!({"code": code, "description": description}));
    json!({
        "id": a.id,
        "created": rfc3339(a.created),
        "decision": a.decision.as_str(),
        "decision_rationale": rationale,
        "guarantee_decision": null,
        "guarantee_decision_rationale": null,
        // Newer specs: null unless the client uses Plaid's Guarantee.
        "guarantee_details": null,
        "payment_risk": null,
        "proposed_transfer": proposed,
    })
}

pub fn cancel(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let id = str_field(body, "authorization_id")?;
    // Plaid documents neither error below; INVALID_FIELD naming the field is our guess.
    let authorization = ctx
        .state
        .authorizations
        .get_mut(id)
        .ok_or_else(|| PlaidError::invalid_field("authorization_id does not match any authorization"))?;
    if authorization.transfer_id.is_some() {
        return Err(PlaidError::invalid_field(
            "authorization_id has already been used to create a transfer and cannot be cancelled",
        ));
    }
    // Cancelling twice is accepted, so a retried cancel is harmless.
    authorization.cancelled = true;
    Ok(json!({}))
}
