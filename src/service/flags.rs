//! The warnings an approver sees beside a request, in the inbox and on its page: the first
//! transfer to this account, a look-alike of another request, most of the balance, a broken bank
//! login. Hints for a person, not rules: none of them refuses anything.

use super::Context;
use crate::domain::Money;
use crate::error::Result;
use crate::store::desk;
use crate::store::items::{self, HEALTHY};
use crate::store::requests::{self, RequestRecord};

/// How far apart two requests may be created and still look like one asked twice.
pub const DUPLICATE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Which warnings apply to one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// No transfer was ever created on this account (proposals and approvals don't count).
    pub first_to_account: bool,
    /// Another request by the same agent, on the same account, for the same amount, within 24 h
    /// (versions of one request — edits and renewals — are one request).
    pub possible_duplicate: bool,
    /// A debit of at least 90% of the account's available balance.
    pub most_of_balance: bool,
    /// The item's health and Plaid's reason, when it is not healthy.
    pub item_unhealthy: Option<(String, Option<String>)>,
}

impl Flags {
    /// The flags' short names, as the inbox filter spells them.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.first_to_account {
            names.push(FIRST);
        }
        if self.possible_duplicate {
            names.push(DUPLICATE);
        }
        if self.most_of_balance {
            names.push(BALANCE);
        }
        if self.item_unhealthy.is_some() {
            names.push(UNHEALTHY);
        }
        names
    }
}

pub const FIRST: &str = "first";
pub const DUPLICATE: &str = "duplicate";
pub const BALANCE: &str = "balance";
pub const UNHEALTHY: &str = "unhealthy";
/// Every flag name with its words, in the order the inbox shows them.
pub const ALL: [(&str, &str); 4] = [
    (FIRST, "First transfer to this account"),
    (DUPLICATE, "Looks like a duplicate"),
    (BALANCE, "90% or more of the balance"),
    (UNHEALTHY, "Bank connection needs attention"),
];

/// Whether `amount` is at least 90% of `available` (integer cents: no rounding).
pub fn is_most_of(amount: Money, available: Money) -> bool {
    i128::from(amount.cents()) * 10 >= i128::from(available.cents()) * 9
}

/// Whether `other` is an earlier or later version of `record` (an edit or a renewal of it).
fn same_request(record: &RequestRecord, other: &RequestRecord) -> bool {
    other.id == record.id
        || record.supersedes.as_ref() == Some(&other.id)
        || record.renews.as_ref() == Some(&other.id)
        || other.supersedes.as_ref() == Some(&record.id)
        || other.renews.as_ref() == Some(&record.id)
}

/// The flags of `record`, given the account's available balance when known.
pub async fn of(ctx: &Context, record: &RequestRecord, available: Option<Money>) -> Result<Flags> {
    let pool = ctx.store.reader();
    let first_to_account =
        !requests::transfer_created_to_account(pool, record.item_id.as_str(), &record.account_id).await?;
    let look_alikes = desk::same_agent_account_amount(
        pool,
        &record.agent_id,
        &record.account_id,
        record.amount_cents,
        record.created_at - DUPLICATE_WINDOW_MS,
        record.created_at + DUPLICATE_WINDOW_MS,
    )
    .await?;
    let possible_duplicate = look_alikes.iter().any(|other| !same_request(record, other));
    let debit = record.intent.get("type").and_then(|t| t.as_str()) == Some("debit");
    let amount = Money::from_cents(record.amount_cents).unwrap_or(Money::ZERO);
    let most_of_balance = debit && available.is_some_and(|available| is_most_of(amount, available));
    let item_unhealthy = items::find(pool, &record.item_id)
        .await?
        .filter(|item| item.health != HEALTHY)
        .map(|item| (item.health, item.health_reason));
    Ok(Flags { first_to_account, possible_duplicate, most_of_balance, item_unhealthy })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ninety_percent_of_the_balance_is_counted_in_exact_cents() {
        let money = |text: &str| Money::parse(text).expect("money");
        assert!(is_most_of(money("900.00"), money("1000.00")));
        assert!(!is_most_of(money("899.99"), money("1000.00")));
        assert!(is_most_of(money("0.01"), Money::ZERO));
    }
}
