//! Backtest: replay stored requests against two policies and count what would change: tiers up
//! and down, refusals, and the approvals people would have been asked for (the attention a policy
//! costs). Pure: the history comes in, oldest first, with each request's state as stored now.

use super::window::Recent;
use super::{Assessment, Facts, Policy, Tier};
use crate::domain::intent::{AchClass, Network, TransferType};
use crate::domain::Money;

/// One stored request, as the backtest needs it.
#[derive(Debug, Clone)]
pub struct Past {
    pub id: String,
    pub agent_id: String,
    pub item_id: String,
    pub account_id: String,
    pub direction: TransferType,
    pub network: Network,
    pub ach_class: Option<AchClass>,
    pub amount: Money,
    pub created_at_ms: i64,
    /// Its state's name now (`submitted`, `rejected`, …).
    pub state: String,
    /// Whether it counts toward later windows (see `store::policy::COUNTED`).
    pub counts: bool,
}

/// Totals under one policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests per tier, index = tier number.
    pub tiers: [u32; 4],
    pub denied: u32,
    /// Approvals people would be asked for (tier 2 and 3, not denied).
    pub approvals: u32,
}

impl Totals {
    fn add(&mut self, a: &Assessment) {
        if a.denied.is_some() {
            self.denied += 1;
            return;
        }
        self.tiers[a.tier.number() as usize] += 1;
        self.approvals += a.approvals_required;
    }
}

/// One request whose outcome differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: String,
    pub amount: Money,
    pub active: Assessment,
    pub candidate: Assessment,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub requests: u32,
    pub active: Totals,
    pub candidate: Totals,
    pub tier_up: u32,
    pub tier_down: u32,
    pub newly_denied: u32,
    pub no_longer_denied: u32,
    pub changes: Vec<Change>,
}

/// Replays `history` (oldest first) under `active` and `candidate`.
pub fn run(history: &[Past], active: &Policy, candidate: &Policy, label_of: impl Fn(&Past) -> String) -> Report {
    let lookback_ms = active.lookback_secs().max(candidate.lookback_secs()) * 1000;
    let mut report = Report::default();
    for (i, past) in history.iter().enumerate() {
        let earlier = &history[..i];
        let recent: Vec<Recent> = earlier
            .iter()
            .filter(|e| e.counts && e.created_at_ms >= past.created_at_ms - lookback_ms)
            .map(|e| Recent {
                agent_id: e.agent_id.clone(),
                item_id: e.item_id.clone(),
                account_id: e.account_id.clone(),
                direction: e.direction,
                amount: e.amount,
                created_at_ms: e.created_at_ms,
            })
            .collect();
        let submitted_before = earlier
            .iter()
            .any(|e| e.state == "submitted" && e.item_id == past.item_id && e.account_id == past.account_id);
        let label = label_of(past);
        let facts = Facts {
            direction: past.direction,
            network: past.network,
            ach_class: past.ach_class,
            amount: past.amount,
            agent_id: &past.agent_id,
            item_id: &past.item_id,
            account_id: &past.account_id,
            account_label: &label,
            submitted_before,
            at_ms: past.created_at_ms,
            recent: &recent,
        };
        let (a, c) = (active.assess(&facts), candidate.assess(&facts));
        report.requests += 1;
        report.active.add(&a);
        report.candidate.add(&c);
        match (a.denied.is_some(), c.denied.is_some()) {
            (false, true) => report.newly_denied += 1,
            (true, false) => report.no_longer_denied += 1,
            (false, false) if c.tier > a.tier => report.tier_up += 1,
            (false, false) if c.tier < a.tier => report.tier_down += 1,
            _ => {}
        }
        let differs = a.tier != c.tier
            || a.denied.is_some() != c.denied.is_some()
            || a.approvals_required != c.approvals_required;
        if differs {
            report.changes.push(Change { id: past.id.clone(), amount: past.amount, active: a, candidate: c });
        }
    }
    report
}

fn outcome(a: &Assessment) -> String {
    match (&a.denied, a.tier) {
        (Some(_), _) => "denied".into(),
        (None, Tier::Notify) => "tier 1".into(),
        (None, tier) => format!(
            "tier {} ({} approval{})",
            tier.number(),
            a.approvals_required,
            if a.approvals_required == 1 { "" } else { "s" }
        ),
    }
}

impl Report {
    /// The table `countersign policy backtest` prints.
    pub fn to_table(&self, active: &str, candidate: &str) -> String {
        let mut out = format!("{} requests replayed\n\n", self.requests);
        out.push_str(&format!("{:<36} {:>12} {:>12}\n", "", "active", "candidate"));
        let rows: [(&str, u32, u32); 6] = [
            ("tier 1 (executes, reviewed later)", self.active.tiers[1], self.candidate.tiers[1]),
            ("tier 2 (one approver)", self.active.tiers[2], self.candidate.tiers[2]),
            ("tier 3 (several approvers)", self.active.tiers[3], self.candidate.tiers[3]),
            ("denied", self.active.denied, self.candidate.denied),
            ("approvals asked of people", self.active.approvals, self.candidate.approvals),
            ("requests", self.requests, self.requests),
        ];
        for (what, a, c) in rows {
            out.push_str(&format!("{what:<36} {a:>12} {c:>12}\n"));
        }
        out.push_str(&format!(
            "\nactive:    {active}\ncandidate: {candidate}\ntier up: {}, tier down: {}, newly denied: {}, no longer denied: {}\n",
            self.tier_up, self.tier_down, self.newly_denied, self.no_longer_denied
        ));
        if !self.changes.is_empty() {
            out.push_str("\nrequests that would change:\n");
            for change in &self.changes {
                let why = change
                    .candidate
                    .denied
                    .clone()
                    .or_else(|| change.candidate.reasons.first().cloned())
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  {}  {:>14}  {} -> {}  {}\n",
                    change.id,
                    change.amount.to_human(),
                    outcome(&change.active),
                    outcome(&change.candidate),
                    why
                ));
            }
        }
        out
    }
}
