//! Rolling windows: totals and counts over an agent's or an account's recent live requests,
//! this one included. A window rule only escalates: splitting a transfer never lowers its tier.

use super::rules::Facts;
use crate::domain::intent::TransferType;
use crate::domain::Money;

/// An earlier request that still counts (proposed, pending, approved, executing or submitted;
/// never declined, rejected, expired, cancelled, superseded or failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recent {
    pub agent_id: String,
    pub item_id: String,
    pub account_id: String,
    pub direction: TransferType,
    pub amount: Money,
    pub created_at_ms: i64,
}

/// Whose requests a window adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Agent,
    Account,
    AgentAccount,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "agent" => Some(Scope::Agent),
            "account" => Some(Scope::Account),
            "agent_account" => Some(Scope::AgentAccount),
            _ => None,
        }
    }

    fn includes(self, facts: &Facts<'_>, earlier: &Recent) -> bool {
        let same_agent = earlier.agent_id == facts.agent_id;
        let same_account = earlier.item_id == facts.item_id && earlier.account_id == facts.account_id;
        match self {
            Scope::Agent => same_agent,
            Scope::Account => same_account,
            Scope::AgentAccount => same_agent && same_account,
        }
    }
}

/// A window condition: over `period_secs`, this transfer and the earlier ones in `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowMatch {
    pub scope: Scope,
    pub period_secs: i64,
    pub total_at_least: Option<Money>,
    pub total_at_most: Option<Money>,
    pub count_at_least: Option<u32>,
}

/// The count and total of a window, this transfer included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub count: u32,
    pub total: Money,
}

impl WindowMatch {
    pub fn tally(&self, facts: &Facts<'_>, direction: Option<TransferType>) -> Tally {
        let since = facts.at_ms.saturating_sub(self.period_secs.saturating_mul(1000));
        let mut count = 1u32;
        let mut cents = facts.amount.cents();
        for earlier in facts.recent {
            // No upper bound: a concurrent proposal that committed first may carry a later clock
            // reading than this one, and must still count.
            if earlier.created_at_ms >= since
                && direction.is_none_or(|d| d == earlier.direction)
                && self.scope.includes(facts, earlier)
            {
                count = count.saturating_add(1);
                cents = cents.saturating_add(earlier.amount.cents());
            }
        }
        Tally { count, total: Money::from_cents(cents).unwrap_or(Money::ZERO) }
    }

    /// The reason this window adds, or `None` when its conditions do not hold.
    pub fn fire(&self, facts: &Facts<'_>, direction: Option<TransferType>) -> Option<String> {
        let tally = self.tally(facts, direction);
        let mut limits = Vec::new();
        if let Some(min) = self.total_at_least {
            if tally.total < min {
                return None;
            }
            limits.push(format!("at or above {}", min.to_human()));
        }
        if let Some(max) = self.total_at_most {
            if tally.total > max {
                return None;
            }
            limits.push(format!("within the cap of {}", max.to_human()));
        }
        if let Some(min) = self.count_at_least {
            if tally.count < min {
                return None;
            }
            limits.push(format!("at least {min} transfers"));
        }
        let what = direction.map_or("transfer", TransferType::as_str);
        let whose = match self.scope {
            Scope::Agent => "by this agent".to_owned(),
            Scope::Account => format!("to {}", facts.account_label),
            Scope::AgentAccount => format!("to {} by this agent", facts.account_label),
        };
        Some(format!(
            "{} {what} {whose} in {}: {} in total, {}",
            crate::domain::words::ordinal(i64::from(tally.count)),
            human_period(self.period_secs),
            tally.total.to_human(),
            limits.join(", ")
        ))
    }
}

/// `3600` → `60 min`, `86400` → `24 h`, `604800` → `7 d`.
pub fn human_period(secs: i64) -> String {
    if secs % 86_400 == 0 && secs >= 2 * 86_400 {
        format!("{} d", secs / 86_400)
    } else if secs % 3600 == 0 && secs > 3600 {
        format!("{} h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// `30s`, `90m`, `1h`, `24h`, `7d`, `30d` → seconds.
pub fn parse_period(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.len().checked_sub(1)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok().filter(|n| *n > 0)?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(unit)
}
