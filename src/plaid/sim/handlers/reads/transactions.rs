//! /transactions/sync over a deterministic change log per item.
//!
//! Each depository account has `PER_ACCOUNT` transactions, one every day or so back from the
//! item's creation date. The item's log lists them as `added` (oldest first), then the most recent
//! few — added as pending — again as `modified` (now posted), then a handful as `removed`. A cursor
//! is a position in that log, so paging with `count` and `has_more` walks it exactly once, and a
//! sync at the end returns nothing new.

use serde_json::{json, Value};
use time::{Date, Duration};

use super::super::super::errors::PlaidError;
use super::super::super::money::cents_to_json_number;
use super::super::super::state::Item;
use super::super::item::accounts;
use super::super::{opt_str, Body, Ctx};
use super::{derived_id, digits, usable_item};

/// Transactions per depository account.
const PER_ACCOUNT: usize = 150;
/// The most recent this many per account start pending and are modified (posted) later.
const PENDING: usize = 5;
/// Plaid's default page size.
const DEFAULT_COUNT: usize = 100;
const CURSOR_PREFIX: &str = "cs-sim-";

/// (merchant, payment channel, personal finance category primary, detailed, outflow?)
const MERCHANTS: [(&str, &str, &str, &str, bool); 8] = [
    ("Uber", "online", "TRANSPORTATION", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES", true),
    ("Starbucks", "in store", "FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE", true),
    ("United Airlines", "online", "TRAVEL", "TRAVEL_FLIGHTS", true),
    ("McDonald's", "in store", "FOOD_AND_DRINK", "FOOD_AND_DRINK_FAST_FOOD", true),
    ("Touchstone Climbing", "in store", "PERSONAL_CARE", "PERSONAL_CARE_GYMS_AND_FITNESS_CENTERS", true),
    ("SparkFun", "online", "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_ELECTRONICS", true),
    ("Madison Bicycle Shop", "in store", "GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_SPORTING_GOODS", true),
    ("ACME Payroll", "other", "INCOME", "INCOME_WAGES", false),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Added,
    Modified,
    Removed,
}

/// One entry of an item's log: which change, to which account (by position) and which of its
/// transactions (0 = most recent).
#[derive(Debug, Clone, Copy)]
struct Entry {
    change: Change,
    account: usize,
    index: usize,
}

fn is_removed(index: usize) -> bool {
    index >= PENDING && index % 37 == 20
}

/// The item's whole log, in order.
fn log(accounts: usize) -> Vec<Entry> {
    let mut entries = Vec::with_capacity(accounts * (PER_ACCOUNT + PENDING + 5));
    for index in (0..PER_ACCOUNT).rev() {
        for account in 0..accounts {
            entries.push(Entry { change: Change::Added, account, index });
        }
    }
    for index in (0..PENDING).rev() {
        for account in 0..accounts {
            entries.push(Entry { change: Change::Modified, account, index });
        }
    }
    for index in (0..PER_ACCOUNT).filter(|i| is_removed(*i)) {
        for account in 0..accounts {
            entries.push(Entry { change: Change::Removed, account, index });
        }
    }
    entries
}

fn transaction_id(account_id: &str, index: usize) -> String {
    derived_id(&format!("txn:{account_id}:{index}"))
}

fn transaction(item: &Item, account_id: &str, index: usize, pending: bool) -> Value {
    let seed = format!("{account_id}:{index}");
    let pick: usize = digits(&seed, 3).parse().unwrap_or(0);
    let (merchant, channel, primary, detailed, outflow) = MERCHANTS[pick % MERCHANTS.len()];
    let cents: i64 = digits(&format!("amount:{seed}"), 5).parse::<i64>().unwrap_or(1234) % 25_000 + 150;
    let cents = if outflow { cents } else { -(cents * 10) };
    let created: Date = item.created_at.date();
    let offset = i64::try_from(index * 6 / 5).unwrap_or(0);
    let date = (created - Duration::days(offset)).to_string();
    json!({
        "transaction_id": transaction_id(account_id, index),
        "account_id": account_id,
        "amount": cents_to_json_number(cents),
        "iso_currency_code": "USD",
        "unofficial_currency_code": null,
        "date": date,
        "authorized_date": date,
        "authorized_datetime": null,
        "datetime": null,
        "pending": pending,
        "pending_transaction_id": null,
        "payment_channel": channel,
        "payment_meta": {
            "reference_number": null, "ppd_id": null, "payee": null, "by_order_of": null,
            "payer": null, "payment_method": null, "payment_processor": null, "reason": null,
        },
        "name": merchant,
        "merchant_name": merchant,
        "location": {
            "address": null, "city": null, "region": null, "postal_code": null, "country": null,
            "lat": null, "lon": null, "store_number": null,
        },
        "account_owner": null,
        "transaction_code": null,
        "personal_finance_category": {"primary": primary, "detailed": detailed, "confidence_level": "VERY_HIGH"},
        "logo_url": null,
        "website": null,
        "check_number": null,
        "merchant_entity_id": null,
        "counterparties": [],
    })
}

fn parse_cursor(cursor: Option<&str>) -> Result<usize, PlaidError> {
    match cursor {
        None | Some("") => Ok(0),
        Some(text) => text
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|n| usize::from_str_radix(n, 16).ok())
            .ok_or_else(|| PlaidError::invalid_field("cursor is not a cursor this endpoint returned")),
    }
}

pub fn transactions_sync(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let item = usable_item(ctx, body)?.clone();
    let start = parse_cursor(opt_str(body, "cursor"))?;
    let count = body.get("count").and_then(Value::as_u64).map_or(DEFAULT_COUNT, |c| c as usize);
    let only_account = body.get("options").and_then(|o| o.get("account_id")).and_then(Value::as_str);
    if let Some(id) = only_account {
        ctx.state.account_on_item(&item, id)?;
    }
    let entries = log(item.account_ids.len());
    if start > entries.len() {
        return Err(PlaidError::invalid_field("cursor is not a cursor this endpoint returned"));
    }
    let (mut added, mut modified, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    let mut position = start;
    let mut taken = 0;
    while position < entries.len() && taken < count {
        let entry = entries[position];
        position += 1;
        let account_id = &item.account_ids[entry.account];
        if only_account.is_some_and(|wanted| wanted != account_id) {
            continue;
        }
        taken += 1;
        match entry.change {
            Change::Added => added.push(transaction(&item, account_id, entry.index, entry.index < PENDING)),
            Change::Modified => modified.push(transaction(&item, account_id, entry.index, false)),
            Change::Removed => removed.push(json!({
                "transaction_id": transaction_id(account_id, entry.index),
                "account_id": account_id,
            })),
        }
    }
    let mut account_filter = body.clone();
    account_filter.remove("options");
    if let Some(id) = only_account {
        account_filter.insert("options".into(), json!({"account_ids": [id]}));
    }
    let listed = accounts(ctx.state, &account_filter, None)?;
    Ok(json!({
        "accounts": listed["accounts"],
        "added": added,
        "modified": modified,
        "removed": removed,
        "next_cursor": format!("{CURSOR_PREFIX}{position:x}"),
        "has_more": position < entries.len(),
        "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_adds_every_transaction_then_modifies_and_removes_a_few() {
        let entries = log(2);
        let count = |change| entries.iter().filter(|e| e.change == change).count();
        assert_eq!(count(Change::Added), 2 * PER_ACCOUNT);
        assert_eq!(count(Change::Modified), 2 * PENDING);
        assert!(count(Change::Removed) >= 2);
    }

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        assert_eq!(parse_cursor(Some(&format!("{CURSOR_PREFIX}{:x}", 300))).ok(), Some(300));
        assert_eq!(parse_cursor(None).ok(), Some(0));
        assert!(parse_cursor(Some("nonsense")).is_err());
    }
}
