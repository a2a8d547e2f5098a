//! Live available balances for the approval page, cached briefly per item so a page refresh
//! doesn't call Plaid every time. A cache, not a lock: two replicas may both call Plaid.

use super::Context;
use crate::domain::{ItemId, Money};
use crate::store::items;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Each account's available balance, by account id.
type Balances = HashMap<String, Option<Money>>;

/// Per item: when fetched, and the balances.
#[derive(Default)]
pub struct BalanceCache {
    entries: Mutex<HashMap<String, (Instant, Balances)>>,
}

/// How long a fetched balance is shown before asking Plaid again.
pub const TTL: Duration = Duration::from_secs(30);

impl BalanceCache {
    fn get(&self, item: &ItemId) -> Option<Balances> {
        let entries = self.entries.lock().ok()?;
        entries.get(item.as_str()).filter(|(at, _)| at.elapsed() < TTL).map(|(_, balances)| balances.clone())
    }

    fn put(&self, item: &ItemId, balances: Balances) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            entries.insert(item.as_str().to_owned(), (Instant::now(), balances));
        }
    }
}

/// The account's available balance from Plaid `/accounts/balance/get`, or `None` when Plaid
/// doesn't say (or doesn't answer: the page says so rather than failing).
pub async fn available(ctx: &Context, item_id: &ItemId, account_id: &str) -> Option<Money> {
    if let Some(cached) = ctx.balances.get(item_id) {
        return cached.get(account_id).copied().flatten();
    }
    let item = items::find(ctx.store.reader(), item_id).await.ok().flatten()?;
    let access_token = ctx.master_key.decrypt(&item.access_token_enc).ok()?;
    let response = match ctx.plaid.get_balances(&access_token).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(item = %item_id, error = %error, "balance unavailable for the approval page");
            return None;
        }
    };
    let balances: Balances = response
        .accounts
        .iter()
        .map(|a| (a.account_id.clone(), a.balances.available.as_ref().and_then(Money::from_balance_number)))
        .collect();
    let found = balances.get(account_id).copied().flatten();
    ctx.balances.put(item_id, balances);
    found
}
