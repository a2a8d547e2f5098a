//! Plaid's read products, served from deterministic sandbox data: /identity/get, /auth/get
//! (here), /transactions/sync (`transactions`), /investments/holdings/get and /liabilities/get
//! (`holdings`).
//!
//! Nothing here is stored: every value is derived from the item and account ids (and the item's
//! creation date), so the same item answers the same way on every call and after a restart. An
//! Item in ITEM_LOGIN_REQUIRED fails every read with ITEM_ERROR, as Plaid does. Investment and
//! liability accounts are derived the same way and appear only in those two products' answers
//! (the sandbox item's `/accounts/get` lists its two depository accounts, which the transfer
//! tests rely on). These endpoints never change the world.

mod holdings;
mod transactions;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::super::errors::PlaidError;
use super::super::state::Item;
use super::item::accounts;
use super::{str_field, Body, Ctx};

pub use holdings::{investments_holdings_get, liabilities_get};
pub use transactions::transactions_sync;

/// Sandbox's routing numbers (First Platypus Bank in Plaid's docs).
const ROUTING: &str = "011401533";
const WIRE_ROUTING: &str = "021000021";

/// The item behind the access token, refusing an item that needs its login repaired.
fn usable_item<'a>(ctx: &'a Ctx<'_>, body: &Body) -> Result<&'a Item, PlaidError> {
    let item = ctx.state.item(str_field(body, "access_token")?)?;
    if item.login_required {
        return Err(PlaidError::item_login_required());
    }
    Ok(item)
}

/// `count` digits derived from `seed` (stable across calls and processes).
fn digits(seed: &str, count: usize) -> String {
    let hash = Sha256::digest(seed.as_bytes());
    hash.iter().cycle().take(count).map(|b| char::from(b'0' + b % 10)).collect()
}

/// A Plaid-looking 37-character id derived from `seed`.
fn derived_id(seed: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let hash = Sha256::digest(seed.as_bytes());
    let second = Sha256::digest(hash);
    hash.iter().chain(second.iter()).take(37).map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
}

/// The full (unmasked) account number of a depository account: ends in its mask, as the sandbox's do.
pub fn account_number(account_id: &str, mask: &str) -> String {
    format!("9{}{mask}", digits(account_id, 7))
}

/// The sandbox's one identity ("Alberta Bobbeth Charleson" in Plaid's docs).
fn owner() -> Value {
    json!({
        "names": ["Alberta Bobbeth Charleson"],
        "addresses": [{
            "data": {
                "street": "2992 Cameron Road",
                "city": "Malakoff",
                "region": "NY",
                "postal_code": "14236",
                "country": "US",
            },
            "primary": true,
        }],
        "emails": [
            {"data": "accountholder0@example.com", "primary": true, "type": "primary"},
            {"data": "extraordinarily.long.email.username.123456@reallylonghostname.com", "primary": false, "type": "other"},
        ],
        "phone_numbers": [
            {"data": "+1 111-555-3333", "primary": false, "type": "home"},
            {"data": "+1 111-555-4444", "primary": false, "type": "work"},
            {"data": "+1 111-555-5555", "primary": false, "type": "mobile"},
        ],
    })
}

pub fn identity_get(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let mut answer = accounts(ctx.state, body, None)?;
    if let Some(list) = answer["accounts"].as_array_mut() {
        for account in list {
            account["owners"] = json!([owner()]);
        }
    }
    Ok(answer)
}

pub fn auth_get(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let answer = accounts(ctx.state, body, None)?;
    let ach: Vec<Value> = answer["accounts"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|account| {
                    let id = account["account_id"].as_str().unwrap_or_default();
                    let mask = account["mask"].as_str().unwrap_or("0000");
                    json!({
                        "account_id": id,
                        "account": account_number(id, mask),
                        "routing": ROUTING,
                        "wire_routing": WIRE_ROUTING,
                        "can_transfer_in": true,
                        "can_transfer_out": true,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut answer = answer;
    answer["numbers"] = json!({"ach": ach, "eft": [], "international": [], "bacs": []});
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_values_are_stable_and_shaped_like_plaids() {
        assert_eq!(derived_id("a"), derived_id("a"));
        assert_ne!(derived_id("a"), derived_id("b"));
        assert_eq!(derived_id("a").len(), 37);
        let number = account_number("acc", "0000");
        assert_eq!(number.len(), 12);
        assert!(number.ends_with("0000") && number.chars().all(|c| c.is_ascii_digit()));
    }
}
