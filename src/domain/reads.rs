//! The read gateway's rules, pure: which Plaid read products exist, the tier each is read at
//! (DESIGN §5: tier 0 for balance, accounts, transactions, investments and liabilities; tier 1 for
//! identity and auth, whose answers carry PII), the per-agent rate, and how PII is masked.
//!
//! `ReadsPolicy` deserialises from a `[reads]` table (`COUNTERSIGN_READS_FILE`), so the policy
//! file can absorb it unchanged:
//! ```toml
//! [reads]
//! per_agent_per_minute = 600
//! [reads.tiers]
//! identity = 2
//! ```

use super::Tier;
use serde::Deserialize;

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

/// Tier per product; unset products take DESIGN §5's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadTiers {
    pub accounts: Option<u8>,
    pub balance: Option<u8>,
    pub transactions: Option<u8>,
    pub investments: Option<u8>,
    pub liabilities: Option<u8>,
    pub identity: Option<u8>,
    pub auth: Option<u8>,
}

/// The `[reads]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadsPolicy {
    #[serde(default)]
    pub tiers: ReadTiers,
    /// Gateway calls per agent per minute, on each replica (see README, the read gateway).
    #[serde(default = "default_per_minute")]
    pub per_agent_per_minute: u32,
}

fn default_per_minute() -> u32 {
    600
}

impl Default for ReadsPolicy {
    fn default() -> Self {
        Self { tiers: ReadTiers::default(), per_agent_per_minute: default_per_minute() }
    }
}

#[derive(Debug, Deserialize)]
struct ReadsFile {
    reads: ReadsPolicy,
}

impl ReadsPolicy {
    /// Parses a TOML document's `[reads]` table; tiers above 2 are refused (tier 3 is for money).
    pub fn from_toml(text: &str) -> Result<ReadsPolicy, String> {
        let file: ReadsFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for product in ReadProduct::ALL {
            if file.reads.configured(product).is_some_and(|t| t > 2) {
                return Err(format!("reads.tiers.{}: a read's tier is 0, 1 or 2", product.as_str()));
            }
        }
        Ok(file.reads)
    }

    fn configured(&self, product: ReadProduct) -> Option<u8> {
        let t = &self.tiers;
        match product {
            ReadProduct::Accounts => t.accounts,
            ReadProduct::Balance => t.balance,
            ReadProduct::Transactions => t.transactions,
            ReadProduct::Investments => t.investments,
            ReadProduct::Liabilities => t.liabilities,
            ReadProduct::Identity => t.identity,
            ReadProduct::Auth => t.auth,
        }
    }

    pub fn tier(&self, product: ReadProduct) -> Tier {
        let default = if product.is_redacted() { Tier::Notify } else { Tier::Auto };
        self.configured(product).and_then(|n| Tier::from_number(i64::from(n))).unwrap_or(default)
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
    fn a_reads_table_raises_a_tier_and_refuses_tier_three() {
        let policy = ReadsPolicy::from_toml("[reads]\nper_agent_per_minute = 5\n[reads.tiers]\nauth = 2\n").unwrap();
        assert_eq!(policy.tier(ReadProduct::Auth), Tier::Approve);
        assert_eq!(policy.per_agent_per_minute, 5);
        assert!(ReadsPolicy::from_toml("[reads.tiers]\nauth = 3\n").is_err());
        assert!(ReadsPolicy::from_toml("[reads.tiers]\nbogus = 1\n").is_err());
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
