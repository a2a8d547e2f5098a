//! The policy file (TOML): parsed into a [`Policy`] or refused with the line and column of what is
//! wrong. The version is the SHA-256 of the file's canonical content, so reformatting or
//! reordering keys does not change it and any change of meaning does.

use super::rules::{Counterparty, Hours, Match, Outcome, Rule};
use super::window::{parse_period, Scope, WindowMatch};
use super::{Policy, Tier};
use crate::domain::canonical::{canonical_json, sha256_hex};
use crate::domain::intent::{AchClass, Network, TransferType};
use crate::domain::Money;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// Plaid's authorization lives one hour; a rule's TTL must end before it.
const PLAID_WINDOW_SECS: i64 = 3600;
const MAX_APPROVALS: i64 = 10;

/// What is wrong with a policy file, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct PolicyError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    label: Option<String>,
    timezone: Option<Spanned<String>>,
    step_up_amount: Option<Spanned<String>>,
    tier3_amount: Option<Spanned<String>>,
    tier3_approvers: Option<Spanned<i64>>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    reads: Option<super::reads_section::RawReads>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    reason: Option<String>,
    #[serde(default)]
    when: RawWhen,
    then: RawThen,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    direction: Option<Spanned<String>>,
    #[serde(default)]
    network: Vec<Spanned<String>>,
    #[serde(default)]
    ach_class: Vec<Spanned<String>>,
    amount_at_least: Option<Spanned<String>>,
    amount_at_most: Option<Spanned<String>>,
    #[serde(default)]
    agent: Vec<String>,
    #[serde(default)]
    item: Vec<String>,
    #[serde(default)]
    account: Vec<String>,
    counterparty: Option<Spanned<String>>,
    #[serde(default)]
    days: Vec<Spanned<String>>,
    hours: Option<Spanned<String>>,
    window: Option<RawWindow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    scope: Spanned<String>,
    period: Spanned<String>,
    total_at_least: Option<Spanned<String>>,
    total_at_most: Option<Spanned<String>>,
    count_at_least: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThen {
    tier: Option<Spanned<i64>>,
    approvals: Option<Spanned<i64>>,
    step_up: Option<bool>,
    #[serde(default)]
    approver_groups: Vec<String>,
    ttl: Option<Spanned<String>>,
    deny: Option<Spanned<String>>,
}

/// Reads a policy file's text.
pub fn parse(source: &str) -> Result<Policy, PolicyError> {
    let here = Locator { source };
    let raw: RawPolicy = toml::from_str(source).map_err(|e| here.error(e.span(), e.message()))?;
    let content: toml::Value = toml::from_str(source).map_err(|e| here.error(e.span(), e.message()))?;
    let canonical = serde_json::to_value(&content).map(|v| canonical_json(&v)).unwrap_or_default();

    let money = |value: &Option<Spanned<String>>, default: &str| -> Result<Money, PolicyError> {
        match value {
            None => Money::parse(default).map_err(|e| here.error(None, &e.to_string())),
            Some(text) => here.money(text),
        }
    };
    let step_up_amount = money(&raw.step_up_amount, "1000.00")?;
    let tier3_amount = money(&raw.tier3_amount, "10000.00")?;
    let tier3_approvers = match &raw.tier3_approvers {
        None => 2,
        Some(n) => here.count(n, 1, MAX_APPROVALS, "tier3_approvers")?,
    };
    let utc_offset = match &raw.timezone {
        None => time::UtcOffset::UTC,
        Some(text) => parse_offset(text.get_ref()).ok_or_else(|| {
            here.error(Some(text.span()), "timezone must be \"UTC\" or a fixed offset such as \"+01:00\"")
        })?,
    };
    let mut policy = Policy {
        version: sha256_hex(canonical.as_bytes()),
        label: raw.label.clone(),
        step_up_amount,
        tier3_amount,
        tier3_approvers,
        utc_offset,
        rules: Vec::new(),
        reads: super::reads_section::parse(&here, raw.reads.as_ref())?,
    };
    for spanned in &raw.rule {
        let rule = here.rule(spanned.get_ref(), &policy)?;
        if policy.rules.iter().any(|r| r.name == rule.name) {
            let message = format!("a second rule is named \"{}\"", rule.name);
            return Err(here.error(Some(spanned.get_ref().name.span()), &message));
        }
        policy.rules.push(rule);
    }
    Ok(policy)
}

/// Turns byte spans into lines and columns of the source.
pub(super) struct Locator<'a> {
    source: &'a str,
}

impl Locator<'_> {
    pub(super) fn error(&self, span: Option<Range<usize>>, message: &str) -> PolicyError {
        let offset = span.map_or(0, |s| s.start.min(self.source.len()));
        let before = self.source.get(..offset).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        PolicyError { line, column, message: message.trim().to_owned() }
    }

    fn money(&self, text: &Spanned<String>) -> Result<Money, PolicyError> {
        Money::parse(text.get_ref().trim()).map_err(|e| self.error(Some(text.span()), &format!("amount: {e}")))
    }

    pub(super) fn count(&self, value: &Spanned<i64>, min: i64, max: i64, what: &str) -> Result<u32, PolicyError> {
        let n = *value.get_ref();
        if !(min..=max).contains(&n) {
            return Err(self.error(Some(value.span()), &format!("{what} must be between {min} and {max}")));
        }
        u32::try_from(n).map_err(|_| self.error(Some(value.span()), &format!("{what} is out of range")))
    }

    fn one<T>(
        &self,
        text: &Spanned<String>,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<T, PolicyError> {
        parse(text.get_ref())
            .ok_or_else(|| self.error(Some(text.span()), &format!("{:?} is not one of: {expected}", text.get_ref())))
    }

    fn rule(&self, raw: &RawRule, policy: &Policy) -> Result<Rule, PolicyError> {
        let when = self.when(&raw.when)?;
        let then = self.then(&raw.then)?;
        let rule = Rule { name: raw.name.get_ref().clone(), reason: raw.reason.clone(), when, then };
        self.check_rule(&rule, raw, policy)?;
        Ok(rule)
    }

    fn when(&self, raw: &RawWhen) -> Result<Match, PolicyError> {
        let direction = raw
            .direction
            .as_ref()
            .map(|d| self.one(d, |t| TransferType::parse(t).ok(), "debit, credit"))
            .transpose()?;
        let networks = raw
            .network
            .iter()
            .map(|n| self.one(n, |t| Network::parse(t).ok(), "ach, same-day-ach, rtp, wire"))
            .collect::<Result<_, _>>()?;
        let ach_classes = raw
            .ach_class
            .iter()
            .map(|c| self.one(c, |t| AchClass::parse(t).ok(), "ccd, ppd, tel, web"))
            .collect::<Result<_, _>>()?;
        let counterparty = raw
            .counterparty
            .as_ref()
            .map(|c| {
                let parse = |t: &str| match t {
                    "new" => Some(Counterparty::New),
                    "seen" => Some(Counterparty::Seen),
                    _ => None,
                };
                self.one(c, parse, "new, seen")
            })
            .transpose()?;
        let days: Result<Vec<_>, _> =
            raw.days.iter().map(|d| self.one(d, parse_day, "mon, tue, wed, thu, fri, sat, sun")).collect();
        let hours =
            raw.hours.as_ref().map(|h| self.one(h, parse_hours, "a range such as \"09:00-17:00\"")).transpose()?;
        let window = raw.window.as_ref().map(|w| self.window(w)).transpose()?;
        Ok(Match {
            direction,
            networks,
            ach_classes,
            amount_at_least: raw.amount_at_least.as_ref().map(|m| self.money(m)).transpose()?,
            amount_at_most: raw.amount_at_most.as_ref().map(|m| self.money(m)).transpose()?,
            agents: raw.agent.clone(),
            items: raw.item.clone(),
            accounts: raw.account.clone(),
            counterparty,
            days: days?,
            hours,
            window,
        })
    }

    fn window(&self, raw: &RawWindow) -> Result<WindowMatch, PolicyError> {
        let window = WindowMatch {
            scope: self.one(&raw.scope, Scope::parse, "agent, account, agent_account")?,
            period_secs: self.one(&raw.period, parse_period, "a period such as \"60m\", \"24h\" or \"7d\"")?,
            total_at_least: raw.total_at_least.as_ref().map(|m| self.money(m)).transpose()?,
            total_at_most: raw.total_at_most.as_ref().map(|m| self.money(m)).transpose()?,
            count_at_least: raw
                .count_at_least
                .as_ref()
                .map(|n| self.count(n, 1, 1_000_000, "count_at_least"))
                .transpose()?,
        };
        if window.total_at_least.is_none() && window.total_at_most.is_none() && window.count_at_least.is_none() {
            let message = "a window needs total_at_least, total_at_most or count_at_least";
            return Err(self.error(Some(raw.scope.span()), message));
        }
        Ok(window)
    }

    fn then(&self, raw: &RawThen) -> Result<Outcome, PolicyError> {
        let tier = match &raw.tier {
            None => None,
            Some(n) if *n.get_ref() == 0 => {
                let message = "tier 0 (execute without anyone told) never applies to a transfer; use tier 1 with a cap";
                return Err(self.error(Some(n.span()), message));
            }
            Some(n) => Some(self.count(n, 1, 3, "tier").map(|t| Tier::from_number(i64::from(t)))?),
        }
        .flatten();
        let ttl_secs = match &raw.ttl {
            None => None,
            Some(text) => {
                let secs = self.one(text, parse_period, "a period such as \"30m\"")?;
                if !(60..PLAID_WINDOW_SECS).contains(&secs) {
                    let message = "ttl must be at least 1 minute and shorter than Plaid's 60-minute window";
                    return Err(self.error(Some(text.span()), message));
                }
                u32::try_from(secs).ok()
            }
        };
        let deny = match &raw.deny {
            Some(reason) if reason.get_ref().trim().is_empty() => {
                return Err(self.error(Some(reason.span()), "deny needs a reason people can read"))
            }
            other => other.as_ref().map(|r| r.get_ref().trim().to_owned()),
        };
        Ok(Outcome {
            tier,
            approvals: raw.approvals.as_ref().map(|n| self.count(n, 1, MAX_APPROVALS, "approvals")).transpose()?,
            step_up: raw.step_up,
            approver_groups: raw.approver_groups.clone(),
            ttl_secs,
            deny,
        })
    }

    /// The rules that make tier 1 safe, and outcomes that say something.
    fn check_rule(&self, rule: &Rule, raw: &RawRule, policy: &Policy) -> Result<(), PolicyError> {
        let at = Some(raw.name.span());
        let then = &rule.then;
        if then == &Outcome::default() {
            return Err(
                self.error(at, "`then` must require something: tier, approvals, step_up, approver_groups, ttl or deny")
            );
        }
        if then.approver_groups.len() > 1 {
            if let Some(n) = then.approvals.filter(|n| *n as usize != then.approver_groups.len()) {
                let message = format!(
                    "{n} approvals but {} approver groups: name one group per approval, or one group for all",
                    then.approver_groups.len()
                );
                return Err(self.error(at, &message));
            }
        }
        if then.tier != Some(Tier::Notify) {
            return Ok(());
        }
        let humans = then.approvals.is_some() || then.step_up == Some(true) || !then.approver_groups.is_empty();
        if humans || then.deny.is_some() {
            return Err(self.error(
                at,
                "a tier-1 rule executes without an approver: it cannot also ask for approvals, step-up, groups or deny",
            ));
        }
        let Some(max) = rule.when.amount_at_most else {
            return Err(
                self.error(Some(raw.name.span()), "a tier-1 rule needs when.amount_at_most (the cap per transfer)")
            );
        };
        if max >= policy.step_up_amount || max >= policy.tier3_amount {
            let message = format!("a tier-1 cap must be below the step-up amount {}", policy.step_up_amount.to_human());
            return Err(self.error(Some(raw.name.span()), &message));
        }
        if rule.when.window.as_ref().and_then(|w| w.total_at_most).is_none() {
            return Err(self.error(
                Some(raw.name.span()),
                "a tier-1 rule needs when.window with total_at_most (the cap per period, e.g. per agent per day)",
            ));
        }
        Ok(())
    }
}

fn parse_day(text: &str) -> Option<time::Weekday> {
    use time::Weekday::*;
    Some(match text {
        "mon" => Monday,
        "tue" => Tuesday,
        "wed" => Wednesday,
        "thu" => Thursday,
        "fri" => Friday,
        "sat" => Saturday,
        "sun" => Sunday,
        _ => return None,
    })
}

fn parse_clock(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

fn parse_hours(text: &str) -> Option<Hours> {
    let (from, to) = text.split_once('-')?;
    let hours = Hours { from: parse_clock(from)?, to: parse_clock(to)? };
    (hours.from != hours.to).then_some(hours)
}

fn parse_offset(text: &str) -> Option<time::UtcOffset> {
    if text == "UTC" || text == "Z" {
        return Some(time::UtcOffset::UTC);
    }
    let sign = match text.get(..1)? {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let minutes = i32::from(parse_clock(text.get(1..)?)?);
    time::UtcOffset::from_whole_seconds(sign * minutes * 60).ok()
}
