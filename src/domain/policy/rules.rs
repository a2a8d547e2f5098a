//! One policy rule: what it matches (`when`) and what it requires (`then`), and the sentence it
//! adds to the request's reasons when it fires. Pure: the facts come in, a verdict goes out.

use super::window::{Recent, Scope, WindowMatch};
use super::Tier;
use crate::domain::intent::{AchClass, Network, TransferType};
use crate::domain::Money;
use time::{UtcOffset, Weekday};

/// Everything a rule may look at for one proposed transfer.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub direction: TransferType,
    pub network: Network,
    pub ach_class: Option<AchClass>,
    pub amount: Money,
    pub agent_id: &'a str,
    pub item_id: &'a str,
    pub account_id: &'a str,
    /// How the account is named to people, e.g. `••0000`.
    pub account_label: &'a str,
    /// Whether a transfer to this account was ever submitted to Plaid (not merely proposed).
    pub submitted_before: bool,
    /// When the transfer is proposed, milliseconds since the epoch (UTC).
    pub at_ms: i64,
    /// Earlier live requests of this agent or to this account (see `window`).
    pub recent: &'a [Recent],
}

/// Whether the counterparty account was paid before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counterparty {
    /// No transfer to this account was ever submitted.
    New,
    Seen,
}

/// Minutes after midnight, `[from, to)`; wraps past midnight when `from > to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub from: u16,
    pub to: u16,
}

impl Hours {
    fn contains(self, minute: u16) -> bool {
        if self.from <= self.to {
            (self.from..self.to).contains(&minute)
        } else {
            minute >= self.from || minute < self.to
        }
    }
}

/// The conditions of a rule; all that are set must hold (an empty list matches anything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    pub direction: Option<TransferType>,
    pub networks: Vec<Network>,
    pub ach_classes: Vec<AchClass>,
    pub amount_at_least: Option<Money>,
    pub amount_at_most: Option<Money>,
    pub agents: Vec<String>,
    pub items: Vec<String>,
    pub accounts: Vec<String>,
    pub counterparty: Option<Counterparty>,
    pub days: Vec<Weekday>,
    pub hours: Option<Hours>,
    pub window: Option<WindowMatch>,
}

/// What a rule requires when it fires. Unset fields leave the decision to other rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub tier: Option<Tier>,
    pub approvals: Option<u32>,
    pub step_up: Option<bool>,
    /// Approver groups, one per approval (`["finance", "ops"]`: one of each), or one group for all.
    pub approver_groups: Vec<String>,
    /// How long approvers have, shorter than Plaid's authorization window.
    pub ttl_secs: Option<u32>,
    /// Refuse the transfer before Plaid is asked, with this reason.
    pub deny: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    /// Said instead of the generated reason, if given.
    pub reason: Option<String>,
    pub when: Match,
    pub then: Outcome,
}

impl Rule {
    /// The reason this rule adds when it fires for `facts`, or `None` when it does not match.
    pub fn fire(&self, facts: &Facts<'_>, offset: UtcOffset) -> Option<String> {
        let when = &self.when;
        let one_of = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        let matched = when.direction.is_none_or(|d| d == facts.direction)
            && (when.networks.is_empty() || when.networks.contains(&facts.network))
            && (when.ach_classes.is_empty() || facts.ach_class.is_some_and(|c| when.ach_classes.contains(&c)))
            && when.amount_at_least.is_none_or(|min| facts.amount >= min)
            && when.amount_at_most.is_none_or(|max| facts.amount <= max)
            && one_of(&when.agents, facts.agent_id)
            && one_of(&when.items, facts.item_id)
            && one_of(&when.accounts, facts.account_id)
            && when.counterparty.is_none_or(|c| (c == Counterparty::Seen) == facts.submitted_before)
            && self.matches_time(facts.at_ms, offset);
        if !matched {
            return None;
        }
        let window_reason = match &when.window {
            None => None,
            Some(window) => Some(window.fire(facts, when.direction)?),
        };
        if let Some(reason) = &self.reason {
            return Some(reason.clone());
        }
        Some(match window_reason {
            Some(text) => format!("{text} (rule \"{}\")", self.name),
            None => format!("rule \"{}\" matched{}", self.name, self.describe(facts)),
        })
    }

    fn matches_time(&self, at_ms: i64, offset: UtcOffset) -> bool {
        if self.when.days.is_empty() && self.when.hours.is_none() {
            return true;
        }
        let Ok(utc) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000) else {
            return false;
        };
        let local = utc.to_offset(offset);
        let minute = u16::from(local.hour()) * 60 + u16::from(local.minute());
        (self.when.days.is_empty() || self.when.days.contains(&local.weekday()))
            && self.when.hours.is_none_or(|hours| hours.contains(minute))
    }

    /// The facts a reader needs to see why the rule applied.
    fn describe(&self, facts: &Facts<'_>) -> String {
        let mut parts = Vec::new();
        if let Some(min) = self.when.amount_at_least {
            parts.push(format!("{} is at or above {}", facts.amount.to_human(), min.to_human()));
        }
        if let Some(max) = self.when.amount_at_most {
            parts.push(format!("{} is at most {}", facts.amount.to_human(), max.to_human()));
        }
        match self.when.counterparty {
            Some(Counterparty::New) => parts.push(format!("first transfer to {}", facts.account_label)),
            Some(Counterparty::Seen) => parts.push(format!("{} was paid before", facts.account_label)),
            None => {}
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(": {}", parts.join("; "))
        }
    }

    /// The windows this rule looks at (the store fetches the history they need).
    pub fn window_scope(&self) -> Option<(Scope, i64)> {
        self.when.window.as_ref().map(|w| (w.scope, w.period_secs))
    }
}
