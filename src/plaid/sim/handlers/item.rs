//! Items, accounts and link tokens: /link/token/create, /item/get, /accounts/get,
//! /accounts/balance/get and /item/public_token/exchange.
//!
//! These endpoints read the world and never change balances. An Item in ITEM_LOGIN_REQUIRED fails
//! the account endpoints with ITEM_ERROR but still answers /item/get (with `item.error` set), as
//! Plaid does.

use axum::http::StatusCode;
use serde_json::{json, Value};
use time::Duration;

use super::super::errors::PlaidError;
use super::super::money::cents_to_json_number;
use super::super::state::{rfc3339, Account, Item, State};
use super::{opt_str, str_field, Body, Ctx};

/// Sandbox's "First Platypus Bank", the institution the sandbox docs use everywhere.
pub const DEFAULT_INSTITUTION_ID: &str = "ins_109508";

/// Sandbox institutions with the names Plaid gives them; other ids are refused like Plaid's
/// INVALID_INSTITUTION.
pub fn institution_name(institution_id: &str) -> Option<&'static str> {
    match institution_id {
        "ins_109508" => Some("First Platypus Bank"),
        "ins_109509" => Some("First Gingham Credit Union"),
        "ins_109510" => Some("Tattersall Federal Credit Union"),
        "ins_109511" => Some("Tartan Bank"),
        "ins_109512" => Some("Houndstooth Bank"),
        _ => None,
    }
}

/// Link tokens for update mode live 30 minutes, others 4 hours (NOTES §4).
const UPDATE_MODE_LIFETIME: Duration = Duration::minutes(30);
const NEW_ITEM_LIFETIME: Duration = Duration::hours(4);

pub fn link_token_create(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let has_client_user_id =
        body.get("user").and_then(|u| u.get("client_user_id")).and_then(Value::as_str).is_some_and(|id| !id.is_empty());
    if !has_client_user_id && opt_str(body, "user_id").is_none() {
        return Err(PlaidError::missing_fields(&["user.client_user_id"]));
    }
    let update_mode = match opt_str(body, "access_token") {
        Some(token) => {
            ctx.state.item(token)?;
            body.get("products").is_none_or(Value::is_null)
        }
        None => false,
    };
    let lifetime = if update_mode { UPDATE_MODE_LIFETIME } else { NEW_ITEM_LIFETIME };
    Ok(json!({
        "link_token": format!("link-sandbox-{}", uuid::Uuid::new_v4()),
        "expiration": rfc3339(ctx.now + lifetime),
    }))
}

pub fn item_get(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let item = ctx.state.item(str_field(body, "access_token")?)?;
    let mut item_json = item_json(item);
    // ItemWithConsentFields = Item + consent fields.
    item_json["created_at"] = json!(rfc3339(item.created_at));
    item_json["consented_use_cases"] = json!([]);
    item_json["consented_data_scopes"] = json!(["account_balance_info"]);
    Ok(json!({"item": item_json, "status": null}))
}

pub fn accounts_get(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    accounts(ctx.state, body, None)
}

/// Balance is "live" in Plaid; here it is simply now.
pub fn accounts_balance_get(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    accounts(ctx.state, body, Some(rfc3339(ctx.now)))
}

pub(super) fn accounts(state: &State, body: &Body, fetched_at: Option<String>) -> Result<Value, PlaidError> {
    let item = state.item(str_field(body, "access_token")?)?;
    if item.login_required {
        return Err(PlaidError::item_login_required());
    }
    let wanted: Option<Vec<&str>> = body
        .get("options")
        .and_then(|o| o.get("account_ids"))
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect());
    if let Some(wanted) = &wanted {
        for id in wanted {
            state.account_on_item(item, id)?;
        }
    }
    let accounts: Vec<Value> = item
        .account_ids
        .iter()
        .filter(|id| wanted.as_ref().is_none_or(|w| w.contains(&id.as_str())))
        .filter_map(|id| state.accounts.get(id))
        .map(|a| account_json(a, fetched_at.as_deref()))
        .collect();
    Ok(json!({"accounts": accounts, "item": item_json(item)}))
}

pub fn public_token_exchange(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let public_token = str_field(body, "public_token")?;
    // Public tokens are one-time use and live 30 minutes.
    let entry = ctx.state.public_tokens.remove(public_token);
    let access_token = match entry {
        Some((access_token, created)) if ctx.now - created <= Duration::minutes(30) => access_token,
        _ => {
            return Err(PlaidError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                "INVALID_PUBLIC_TOKEN",
                "provided public token is expired or has already been exchanged",
            ))
        }
    };
    let item = ctx.state.item(&access_token)?;
    Ok(json!({"access_token": access_token, "item_id": item.item_id}))
}

/// The `Item` schema object (every required key, nullable ones as null).
pub fn item_json(item: &Item) -> Value {
    let error = if item.login_required { PlaidError::item_login_required().to_item_value() } else { Value::Null };
    json!({
        "item_id": item.item_id,
        "institution_id": item.institution_id,
        "institution_name": institution_name(&item.institution_id),
        "webhook": item.webhook,
        "auth_method": null,
        "error": error,
        "available_products": ["balance", "identity", "transactions"],
        "billed_products": item.products,
        "products": item.products,
        "consented_products": item.products,
        "consent_expiration_time": null,
        "update_type": "background",
    })
}

/// The `AccountBase` schema object; balances are JSON numbers on the wire, cents inside.
fn account_json(account: &Account, last_updated: Option<&str>) -> Value {
    json!({
        "account_id": account.account_id,
        "balances": {
            "available": cents_to_json_number(account.available_cents),
            "current": cents_to_json_number(account.current_cents),
            "limit": null,
            "iso_currency_code": "USD",
            "unofficial_currency_code": null,
            "last_updated_datetime": last_updated,
        },
        "mask": account.mask,
        "name": account.name,
        "official_name": account.official_name,
        "type": "depository",
        "subtype": account.subtype,
    })
}
