//! Risk policy: which tier a transfer falls in, whether approving needs a fresh TOTP code
//! (step-up), how many distinct approvers of which groups it takes, how long they have, or that it
//! is refused; and (its `[reads]` section, `reads_section`) the tier of each Plaid read product
//! and the per-agent read rate. Pure rules read from a versioned TOML file (`file`); the reasons
//! it gives are shown to approvers and returned to the agent, so every rule that fires says why.
//!
//! Precedence: the strictest outcome wins (highest tier, most approvals, step-up if any asks,
//! shortest TTL, deny if any denies). Every transfer needs a human (tier 2) unless an explicit,
//! capped tier-1 rule matches and nothing stricter does; a window rule only escalates.

pub mod backtest;
pub mod file;

/// A complete, commented policy file (README; the embedded default writes it to its data dir).
pub const EXAMPLE: &str = include_str!("example.toml");
pub mod groups;
mod reads_section;
pub mod rules;
#[cfg(test)]
mod tests;
pub mod window;

use super::money::Money;
pub use file::PolicyError;
pub use rules::{Facts, Rule};
use serde::Serialize;
pub use window::Recent;

/// Risk tier (DESIGN §5): 0 auto, 1 notify, 2 one approver, 3 several approvers with step-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(into = "u8")]
pub enum Tier {
    Auto = 0,
    Notify = 1,
    Approve = 2,
    MultiParty = 3,
}

impl From<Tier> for u8 {
    fn from(tier: Tier) -> u8 {
        tier as u8
    }
}

impl Tier {
    pub fn from_number(number: i64) -> Option<Tier> {
        match number {
            0 => Some(Tier::Auto),
            1 => Some(Tier::Notify),
            2 => Some(Tier::Approve),
            3 => Some(Tier::MultiParty),
            _ => None,
        }
    }

    pub fn number(self) -> i64 {
        self as i64
    }
}

/// A policy: thresholds and ordered rules, identified by the hash of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// SHA-256 of the file's canonical content; recorded on every request.
    pub version: String,
    /// A human name for the version (`label = "…"` in the file).
    pub label: Option<String>,
    pub step_up_amount: Money,
    pub tier3_amount: Money,
    pub tier3_approvers: u32,
    /// Where `days` and `hours` are read (a fixed offset from UTC).
    pub utc_offset: time::UtcOffset,
    pub rules: Vec<Rule>,
    /// The read gateway's tiers and per-agent rate (the `[reads]` section).
    pub reads: crate::domain::reads::ReadsPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        let amount = |cents| Money::from_cents(cents).unwrap_or(Money::ZERO);
        Policy::builtin(amount(100_000), amount(1_000_000), 2)
    }
}

/// What the policy requires for one transfer, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub tier: Tier,
    pub step_up: bool,
    pub approvals_required: u32,
    pub reasons: Vec<String>,
    /// One group per approval, or one group for all; empty: any approver.
    pub approver_groups: Vec<String>,
    /// Approvers have at most this long (shorter than Plaid's window), if a rule says so.
    pub ttl_secs: Option<u32>,
    /// Refused before Plaid is asked, with this reason.
    pub denied: Option<String>,
}

impl Policy {
    /// The built-in policy: today's thresholds, plus the anti-splitting window (debits by one
    /// agent to one account in the last 24 h count together toward the tier-3 amount).
    pub fn builtin(step_up_amount: Money, tier3_amount: Money, tier3_approvers: u32) -> Policy {
        // The file format's bounds: out-of-range settings must not drop the window with the file.
        let tier3_approvers = tier3_approvers.clamp(1, 10);
        let source = format!(
            "label = \"built-in\"\nstep_up_amount = \"{step_up_amount}\"\ntier3_amount = \"{tier3_amount}\"\n\
             tier3_approvers = {tier3_approvers}\n\n[[rule]]\nname = \"anti-splitting\"\nwhen.direction = \"debit\"\n\
             when.window = {{ scope = \"agent_account\", period = \"24h\", total_at_least = \"{tier3_amount}\" }}\n\
             then.tier = 3\n"
        );
        file::parse(&source).unwrap_or(Policy {
            version: "builtin-thresholds".into(),
            label: None,
            step_up_amount,
            tier3_amount,
            tier3_approvers,
            utc_offset: time::UtcOffset::UTC,
            rules: Vec::new(),
            reads: crate::domain::reads::ReadsPolicy::default(),
        })
    }

    /// Parses a policy file's text (see `file`).
    pub fn from_toml(source: &str) -> Result<Policy, PolicyError> {
        file::parse(source)
    }

    /// The version with its label, for people: `built-in (3f2a…)`.
    pub fn describe(&self) -> String {
        let short = self.version.get(..12).unwrap_or(&self.version);
        match &self.label {
            Some(label) => format!("{label} ({short})"),
            None => short.to_owned(),
        }
    }

    /// The longest window any rule looks back over, in seconds: the history the store must supply.
    pub fn lookback_secs(&self) -> i64 {
        self.rules.iter().filter_map(|r| r.window_scope().map(|(_, period)| period)).max().unwrap_or(0)
    }

    pub fn assess(&self, facts: &Facts<'_>) -> Assessment {
        let mut a = Assessment {
            tier: Tier::Approve,
            step_up: false,
            approvals_required: 1,
            reasons: Vec::new(),
            approver_groups: Vec::new(),
            ttl_secs: None,
            denied: None,
        };
        let mut escalated = Tier::Approve;
        let mut notify_rule = None;
        if facts.amount >= self.tier3_amount {
            a.reasons.push(format!(
                "amount {} is at or above the multi-party threshold {}",
                facts.amount.to_human(),
                self.tier3_amount.to_human()
            ));
            escalated = Tier::MultiParty;
        }
        if facts.amount >= self.step_up_amount {
            a.step_up = true;
            a.reasons.push(format!(
                "amount is at or above the step-up threshold {}: approving needs a fresh TOTP code",
                self.step_up_amount.to_human()
            ));
        }
        let mut needs_a_human = escalated > Tier::Approve || a.step_up;
        for rule in &self.rules {
            let Some(reason) = rule.fire(facts, self.utc_offset) else { continue };
            let then = &rule.then;
            if then.tier == Some(Tier::Notify) {
                notify_rule.get_or_insert(reason);
                continue;
            }
            a.reasons.push(reason);
            if let Some(tier) = then.tier {
                escalated = escalated.max(tier);
            }
            if let Some(n) = then.approvals {
                a.approvals_required = a.approvals_required.max(n);
            }
            a.step_up |= then.step_up == Some(true);
            if a.approver_groups.is_empty() {
                a.approver_groups.clone_from(&then.approver_groups);
            }
            a.ttl_secs = match (a.ttl_secs, then.ttl_secs) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            if a.denied.is_none() {
                a.denied.clone_from(&then.deny);
            }
            needs_a_human = true;
        }
        a.tier = escalated;
        match notify_rule {
            Some(reason) if !needs_a_human => {
                a.tier = Tier::Notify;
                a.approvals_required = 0;
                a.reasons.push(format!("{reason}: executes at once and is reviewed afterwards in the Digest"));
            }
            _ if a.tier == Tier::Approve => a.reasons.insert(0, "every transfer needs a human approval".to_owned()),
            _ => {}
        }
        if a.tier == Tier::MultiParty {
            a.step_up = true;
            a.approvals_required = a.approvals_required.max(self.tier3_approvers.max(1));
        }
        if a.approver_groups.len() > 1 {
            let slots = u32::try_from(a.approver_groups.len()).unwrap_or(u32::MAX);
            a.approvals_required = a.approvals_required.max(slots);
        }
        a
    }
}

impl Assessment {
    /// What a stored request was assessed to require (its reasons are not needed to compare).
    pub fn stored(tier: Tier, step_up: bool, approvals_required: i64, approver_groups: Vec<String>) -> Assessment {
        Assessment {
            tier,
            step_up,
            approvals_required: u32::try_from(approvals_required).unwrap_or(u32::MAX),
            reasons: Vec::new(),
            approver_groups,
            ttl_secs: None,
            denied: None,
        }
    }

    /// An approver's edit must not lower the control over a request: the new version keeps at
    /// least the tier, step-up and quorum of the version it replaces (else editing $12,000.00 down
    /// to $9,999.99 would execute a two-person transfer on the editor's approval alone).
    pub fn at_least(mut self, replaced: &Assessment) -> Assessment {
        if replaced.tier > self.tier || replaced.approvals_required > self.approvals_required {
            self.reasons.push(format!(
                "edited from a tier-{} request needing {} approval(s): an edit keeps the control of the version it replaces",
                replaced.tier.number(),
                replaced.approvals_required
            ));
        }
        self.tier = self.tier.max(replaced.tier);
        self.step_up |= replaced.step_up;
        self.approvals_required = self.approvals_required.max(replaced.approvals_required);
        if self.approver_groups.is_empty() {
            self.approver_groups.clone_from(&replaced.approver_groups);
        }
        self.ttl_secs = match (self.ttl_secs, replaced.ttl_secs) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        self
    }

    /// A recurring transfer commits to every occurrence of its schedule at once (DESIGN §5): tier
    /// 3 whatever the amount, at least two distinct approvers (or the policy's tier-3 quorum), each
    /// with a fresh TOTP code. A deny still denies.
    pub fn for_recurring(mut self, tier3_approvers: u32) -> Assessment {
        self.reasons.push(
            "a recurring transfer approves its whole schedule at once: tier 3, several approvers, each with a TOTP code"
                .into(),
        );
        self.tier = Tier::MultiParty;
        self.step_up = true;
        self.approvals_required = self.approvals_required.max(tier3_approvers).max(2);
        self
    }
}
