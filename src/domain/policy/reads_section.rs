//! The policy file's `[reads]` section: the read gateway's tier per Plaid product and the
//! per-agent rate. A section of its own rather than `[[rule]]`s: a read has no amount, direction,
//! counterparty or window to match on, only its product, so a table keyed by product says it in
//! one line each and cannot hold a condition that would never apply.
//!
//! ```toml
//! [reads]
//! per_agent_per_minute = 600
//! tiers = { identity = 2, auth = 2 }
//! ```

use super::file::Locator;
use super::{PolicyError, Tier};
use crate::domain::reads::{ReadProduct, ReadsPolicy};
use serde::Deserialize;
use toml::Spanned;

/// Enough for any replica; the benchmark lifts the limit this high to measure the service.
const MAX_PER_MINUTE: i64 = 1_000_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReads {
    per_agent_per_minute: Option<Spanned<i64>>,
    #[serde(default)]
    tiers: RawReadTiers,
}

/// One field per product, so an unknown product is refused at its line and column.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReadTiers {
    accounts: Option<Spanned<i64>>,
    balance: Option<Spanned<i64>>,
    transactions: Option<Spanned<i64>>,
    investments: Option<Spanned<i64>>,
    liabilities: Option<Spanned<i64>>,
    identity: Option<Spanned<i64>>,
    auth: Option<Spanned<i64>>,
}

impl RawReadTiers {
    fn of(&self, product: ReadProduct) -> Option<&Spanned<i64>> {
        match product {
            ReadProduct::Accounts => self.accounts.as_ref(),
            ReadProduct::Balance => self.balance.as_ref(),
            ReadProduct::Transactions => self.transactions.as_ref(),
            ReadProduct::Investments => self.investments.as_ref(),
            ReadProduct::Liabilities => self.liabilities.as_ref(),
            ReadProduct::Identity => self.identity.as_ref(),
            ReadProduct::Auth => self.auth.as_ref(),
        }
    }
}

/// Checks the section: tiers 0 to 2 (tier 3 is for moving money; identity and auth at least 1),
/// a rate of at least one call a minute.
pub(super) fn parse(here: &Locator<'_>, raw: Option<&RawReads>) -> Result<ReadsPolicy, PolicyError> {
    let Some(raw) = raw else { return Ok(ReadsPolicy::default()) };
    let mut tiers = Vec::new();
    for product in ReadProduct::ALL {
        let Some(number) = raw.tiers.of(product) else { continue };
        // Identity and auth answers hand PII to an agent: someone is always told (tier 1 at least).
        let min = ReadsPolicy::default_tier(product);
        let message = || {
            let name = product.as_str();
            match min {
                Tier::Auto => format!("reads.tiers.{name}: a read's tier is 0, 1 or 2 (tier 3 is for moving money)"),
                _ => format!("reads.tiers.{name}: {name} reads carry PII, so their tier is 1 or 2"),
            }
        };
        let tier = Tier::from_number(*number.get_ref())
            .filter(|t| (min..=ReadsPolicy::MAX_TIER).contains(t))
            .ok_or_else(|| here.error(Some(number.span()), &message()))?;
        tiers.push((product, tier));
    }
    let per_agent_per_minute = match &raw.per_agent_per_minute {
        None => ReadsPolicy::DEFAULT_PER_MINUTE,
        Some(n) => here.count(n, 1, MAX_PER_MINUTE, "reads.per_agent_per_minute")?,
    };
    Ok(ReadsPolicy { tiers, per_agent_per_minute })
}
