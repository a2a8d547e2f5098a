//! The read gateway's rules, pure: which Plaid read products exist, the tier each is read at
//! (DESIGN §5: tier 0 for balance, accounts, transactions, investments and liabilities; tier 1 for
//! identity and auth, whose answers carry PII), the per-agent rate, and how PII is masked.
//!
//! `ReadsPolicy` is the `[reads]` section of the policy file (`domain::policy::file` parses it,
//! with line and column on errors), so read tiers are versioned, checked and reloaded with the
//! transfer rules:
//! ```toml
//! [reads]
//! per_agent_per_minute = 600
//! tiers = { identity = 2 }
//! ```

use super::Tier;

/// A Plaid read product the gateway serves, one Plaid endpoint each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadProduct {
    Accounts,
    Balance,
    Transactions,
    Investments,
    Liabilities,
    Identity,
    Auth,
}

impl ReadProduct {
    pub const ALL: [ReadProduct; 7] = [
        ReadProduct::Accounts,
        ReadProduct::Balance,
        ReadProduct::Transactions,
        ReadProduct::Investments,
        ReadProduct::Liabilities,
        ReadProduct::Identity,
        ReadProduct::Auth,
    ];

    /// The name used in grants, configuration and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadProduct::Accounts => "accounts",
            ReadProduct::Balance => "balance",
            ReadProduct::Transactions => "transactions",
            ReadProduct::Investments => "investments",
            ReadProduct::Liabilities => "liabilities",
            ReadProduct::Identity => "identity",
            ReadProduct::Auth => "auth",
        }
    }

    pub fn parse(name: &str) -> Option<ReadProduct> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Plaid's path for this product.
    pub fn endpoint(self) -> &'static str {
        match self {
            ReadProduct::Accounts => "/accounts/get",
            ReadProduct::Balance => "/accounts/balance/get",
            ReadProduct::Transactions => "/transactions/sync",
            ReadProduct::Investments => "/investments/holdings/get",
            ReadProduct::Liabilities => "/liabilities/get",
            ReadProduct::Identity => "/identity/get",
            ReadProduct::Auth => "/auth/get",
        }
    }

    /// Whether the answer holds PII that is masked unless the agent holds an unmasked grant.
    pub fn is_redacted(self) -> bool {
        matches!(self, ReadProduct::Identity | ReadProduct::Auth)
    }
}

/// The policy file's `[reads]` section: tiers per product (unset products take DESIGN §5's
/// default) and the per-agent rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadsPolicy {
    /// Products whose tier the policy file sets.
    pub tiers: Vec<(ReadProduct, Tier)>,
    /// Gateway calls per agent per minute, on each replica (see README, the read gateway).
    pub per_agent_per_minute: u32,
}

impl Default for ReadsPolicy {
    fn default() -> Self {
        Self { tiers: Vec::new(), per_agent_per_minute: Self::DEFAULT_PER_MINUTE }
    }
}

impl ReadsPolicy {
    pub const DEFAULT_PER_MINUTE: u32 = 600;
    /// The highest tier a read may have: tier 3 (several approvers) is for moving money.
    pub const MAX_TIER: Tier = Tier::Approve;

    /// DESIGN §5: reads whose answers carry PII are reviewed (tier 1), the others run at once.
    pub fn default_tier(product: ReadProduct) -> Tier {
        if product.is_redacted() {
            Tier::Notify
        } else {
            Tier::Auto
        }
    }

    pub fn tier(&self, product: ReadProduct) -> Tier {
        let set = self.tiers.iter().find(|(p, _)| *p == product).map(|(_, tier)| *tier);
        set.unwrap_or_else(|| Self::default_tier(product))
    }

    /// Every product with its tier, for people (`/ui/policy`).
    pub fn describe(&self) -> Vec<(ReadProduct, Tier)> {
        ReadProduct::ALL.into_iter().map(|p| (p, self.tier(p))).collect()
    }

    /// One line for people (`policy check`): `accounts 0, …, auth 1; 600 per agent per minute`.
    pub fn summary(&self) -> String {
        let tiers: Vec<String> =
            self.describe().into_iter().map(|(p, t)| format!("{} {}", p.as_str(), t.number())).collect();
        format!("{}; {} per agent per minute", tiers.join(", "), self.per_agent_per_minute)
    }
}

/// Everything but the last four characters masked: `••••1111`. Short values are masked whole.
pub fn mask_last4(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 4 {
        return "••••".into();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("••••{tail}")
}

/// An email's mailbox masked, its domain kept: `••••@example.com`.
pub fn mask_email(value: &str) -> String {
    match value.rsplit_once('@') {
        Some((_, domain)) => format!("••••@{domain}"),
        None => "••••".into(),
    }
}

/// A value hidden entirely.
pub fn mask_all(_value: &str) -> String {
    "••••".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design() {
        let policy = ReadsPolicy::default();
        assert_eq!(policy.tier(ReadProduct::Balance), Tier::Auto);
        assert_eq!(policy.tier(ReadProduct::Transactions), Tier::Auto);
        assert_eq!(policy.tier(ReadProduct::Identity), Tier::Notify);
        assert_eq!(policy.tier(ReadProduct::Auth), Tier::Notify);
        assert_eq!(policy.per_agent_per_minute, 600);
    }

    #[test]
    fn a_set_tier_overrides_only_its_product() {
        let policy = ReadsPolicy { tiers: vec![(ReadProduct::Auth, Tier::Approve)], ..ReadsPolicy::default() };
        assert_eq!(policy.tier(ReadProduct::Auth), Tier::Approve);
        assert_eq!(policy.tier(ReadProduct::Identity), Tier::Notify);
        assert_eq!(policy.describe().len(), ReadProduct::ALL.len());
        assert!(policy.summary().starts_with("accounts 0, balance 0,"), "{}", policy.summary());
        assert!(policy.summary().ends_with("identity 1, auth 2; 600 per agent per minute"), "{}", policy.summary());
    }

    #[test]
    fn masks_keep_only_what_they_say() {
        assert_eq!(mask_last4("123456781111"), "••••1111");
        assert_eq!(mask_last4("123"), "••••");
        assert_eq!(mask_email("ada@example.com"), "••••@example.com");
        assert_eq!(ReadProduct::parse("auth"), Some(ReadProduct::Auth));
        assert_eq!(ReadProduct::parse("transfer"), None);
    }
}
