//! Risk policy: which tier a transfer falls in, whether approving needs a fresh TOTP code
//! (step-up), and how many distinct approvers it takes. Pure rules; the reasons it gives are
//! shown to approvers, so every rule that fires says why.

use super::money::Money;
use serde::Serialize;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Recorded on every request so an auditor knows which rules applied.
    pub version: String,
    pub step_up_amount: Money,
    pub tier3_amount: Money,
    pub tier3_approvers: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            version: "builtin-1".into(),
            step_up_amount: Money::from_cents(100_000).unwrap_or(Money::ZERO),
            tier3_amount: Money::from_cents(1_000_000).unwrap_or(Money::ZERO),
            tier3_approvers: 2,
        }
    }
}

/// What the policy requires for one transfer, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub tier: Tier,
    pub step_up: bool,
    pub approvals_required: u32,
    pub reasons: Vec<String>,
}

impl Policy {
    pub fn assess_transfer(&self, amount: Money) -> Assessment {
        let mut reasons = Vec::new();
        let tier = if amount >= self.tier3_amount {
            reasons.push(format!(
                "amount {} is at or above the multi-party threshold {}",
                amount.to_human(),
                self.tier3_amount.to_human()
            ));
            Tier::MultiParty
        } else {
            reasons.push("every transfer needs a human approval".to_owned());
            Tier::Approve
        };
        let step_up = tier == Tier::MultiParty || amount >= self.step_up_amount;
        if step_up && amount >= self.step_up_amount {
            reasons.push(format!(
                "amount is at or above the step-up threshold {}: approving needs a fresh TOTP code",
                self.step_up_amount.to_human()
            ));
        }
        let approvals_required = if tier == Tier::MultiParty { self.tier3_approvers.max(1) } else { 1 };
        Assessment { tier, step_up, approvals_required, reasons }
    }
}

impl Assessment {
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
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(text: &str) -> Money {
        Money::parse(text).expect("valid amount")
    }

    #[test]
    fn small_transfers_need_one_approver_without_step_up() {
        let a = Policy::default().assess_transfer(money("999.99"));
        assert_eq!((a.tier, a.step_up, a.approvals_required), (Tier::Approve, false, 1));
    }

    #[test]
    fn step_up_starts_exactly_at_the_threshold() {
        let a = Policy::default().assess_transfer(money("1000.00"));
        assert_eq!((a.tier, a.step_up, a.approvals_required), (Tier::Approve, true, 1));
        assert!(a.reasons.iter().any(|r| r.contains("$1,000.00")));
    }

    #[test]
    fn tier_three_starts_at_its_threshold_and_needs_quorum_with_step_up() {
        let a = Policy::default().assess_transfer(money("10000.00"));
        assert_eq!((a.tier, a.step_up, a.approvals_required), (Tier::MultiParty, true, 2));
        let below = Policy::default().assess_transfer(money("9999.99"));
        assert_eq!(below.tier, Tier::Approve);
    }

    #[test]
    fn tier_three_always_steps_up_even_with_a_higher_step_up_amount() {
        let policy = Policy { step_up_amount: money("50000.00"), ..Policy::default() };
        assert!(policy.assess_transfer(money("10000.00")).step_up);
    }

    #[test]
    fn an_edit_keeps_the_tier_step_up_and_quorum_of_the_version_it_replaces() {
        let policy = Policy::default();
        let replaced = policy.assess_transfer(money("12000.00"));
        let edited = policy.assess_transfer(money("9999.99")).at_least(&replaced);
        assert_eq!((edited.tier, edited.step_up, edited.approvals_required), (Tier::MultiParty, true, 2));
        assert!(edited.reasons.iter().any(|r| r.contains("an edit keeps")));
        let raised = policy.assess_transfer(money("20000.00")).at_least(&policy.assess_transfer(money("5.00")));
        assert_eq!((raised.tier, raised.approvals_required), (Tier::MultiParty, 2), "an edit may raise it");
    }

    #[test]
    fn tiers_round_trip_through_numbers() {
        for tier in [Tier::Auto, Tier::Notify, Tier::Approve, Tier::MultiParty] {
            assert_eq!(Tier::from_number(tier.number()), Some(tier));
        }
        assert_eq!(Tier::from_number(4), None);
    }
}
