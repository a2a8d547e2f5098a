//! What an alert says, and its shape on each channel: a Slack Block Kit message, an email (plain
//! text and HTML), a signed webhook's JSON, a console line.
//!
//! Never in an alert: a secret, an access token, a full account number or the counterparty's
//! legal name, nor the agent's free-text reason (it may name people) — the amount, the account's name and last four digits, the agent, the time left,
//! the tier and its policy reasons, and a link to the request page are enough to act.

use super::alerts::{Channel, ESCALATION, NEEDS_APPROVAL, REMINDER_15, REMINDER_5};
use crate::domain::Money;
use crate::store::items::{AccountRecord, ItemRecord};
use crate::store::requests::RequestRecord;
use serde_json::{json, Value};

/// An alert before it takes a channel's shape.
#[derive(Debug, Clone)]
pub struct Alert {
    pub subject: String,
    pub headline: String,
    pub details: Vec<String>,
    pub link: Option<String>,
    /// Facts for the webhook's JSON.
    pub facts: Value,
}

/// What an alert about a request may say.
pub struct RequestFacts<'a> {
    pub record: &'a RequestRecord,
    pub agent_name: &'a str,
    pub account: Option<&'a AccountRecord>,
    pub public_url: &'a str,
    pub now: i64,
}

pub fn for_request(event_type: &str, facts: &RequestFacts<'_>) -> Alert {
    let r = facts.record;
    let amount = Money::from_cents(r.amount_cents).map(Money::to_human).unwrap_or_default();
    let direction = r.intent["type"].as_str().unwrap_or("debit");
    let preposition = if direction == "credit" { "to" } else { "from" };
    let mask = facts.account.and_then(|a| a.mask.clone()).unwrap_or_else(|| last_four(&r.account_id));
    let account_name = facts.account.map_or("account", |a| a.name.as_str());
    let account = format!("{account_name} ••{mask}");
    let minutes_left = r.expires_at.map(|at| ((at - facts.now).max(0)) / 60_000);
    let left = minutes_left.map(|m| format!(" — {m} min left")).unwrap_or_default();
    // A recurring transfer is approved whole: the alert says the whole schedule, count and total.
    let schedule = crate::domain::TransferIntent::from_json(&r.intent).ok().and_then(|i| i.schedule_in_words(&mask));
    let wants = match &schedule {
        Some(words) => format!("Agent {} wants a recurring transfer: {words}", facts.agent_name),
        None => format!("Agent {} wants to {direction} {amount} {preposition} {account}", facts.agent_name),
    };
    let headline = match event_type {
        NEEDS_APPROVAL => format!("{wants}{left}"),
        REMINDER_15 | REMINDER_5 => format!("Reminder: {wants}{left}"),
        ESCALATION => format!("Nobody has acted yet: {wants}{left}"),
        "transfer.returned" => format!(
            "Transfer returned{}: {direction} of {amount} {preposition} {account} (agent {})",
            code(r),
            facts.agent_name
        ),
        "transfer.failed" => format!(
            "Transfer failed{}: {direction} of {amount} {preposition} {account} (agent {})",
            code(r),
            facts.agent_name
        ),
        other => format!("{other}: {direction} of {amount} {preposition} {account} (agent {})", facts.agent_name),
    };
    let mut details = vec![format!("Tier {}{}", r.tier.number(), approvals_line(r))];
    details.extend(r.policy_reasons.iter().cloned());
    let link = format!("{}/ui/requests/{}", facts.public_url.trim_end_matches('/'), r.id);
    let facts_json = json!({
        "request_id": r.id.to_string(),
        "agent": facts.agent_name,
        "direction": direction,
        "amount": Money::from_cents(r.amount_cents).map(|m| m.to_string()),
        "account_name": account_name,
        "account_mask": mask,
        "minutes_left": minutes_left,
        "tier": r.tier.number(),
        "reasons": r.policy_reasons,
        "state": r.state.as_str(),
        "transfer_status": r.transfer_status,
        "return_code": r.transfer_failure_code,
        "schedule": schedule,
    });
    Alert { subject: headline.clone(), headline, details, link: Some(link), facts: facts_json }
}

/// A notice with nothing but its headline (`alerts::enqueue_notice`).
pub fn notice(headline: &str) -> Alert {
    Alert {
        subject: headline.to_owned(),
        headline: headline.to_owned(),
        details: Vec::new(),
        link: None,
        facts: json!({}),
    }
}

pub fn item_broken(item: &ItemRecord) -> Alert {
    let bank = item.institution_name.clone().unwrap_or_else(|| "the bank".into());
    let reason = item.health_reason.clone().unwrap_or_else(|| item.health.clone());
    Alert {
        subject: format!("Bank connection broken at {bank}"),
        headline: format!(
            "Bank connection broken at {bank} ({reason}): transfers through it wait until the user re-links"
        ),
        details: vec![format!("Item {}", item.id)],
        link: None,
        facts: json!({ "item_id": item.id.to_string(), "institution": bank, "health": item.health, "reason": reason }),
    }
}

fn code(r: &RequestRecord) -> String {
    r.transfer_failure_code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
}

fn approvals_line(r: &RequestRecord) -> String {
    match (r.approvals_required, r.step_up) {
        (n, true) if n > 1 => format!(": needs {n} approvers, each with a fresh code"),
        (n, false) if n > 1 => format!(": needs {n} approvers"),
        (_, true) => ": needs a fresh code to approve".into(),
        _ => String::new(),
    }
}

fn last_four(account_id: &str) -> String {
    let chars: Vec<char> = account_id.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

impl Alert {
    /// The message body for `channel` (email: a JSON envelope the email sender reads).
    pub fn payload_for(&self, channel: &Channel, event_type: &str, now: i64) -> String {
        let value = match channel {
            Channel::Slack(_) => self.slack(),
            Channel::Email(to) => json!({
                "to": to, "subject": self.subject, "text": self.plain_text(), "html": self.html(),
            }),
            Channel::Webhook(_) => json!({
                "type": event_type,
                "created_at": crate::service::format_ms(now),
                "data": { "headline": self.headline, "details": self.details, "link": self.link, "facts": self.facts },
            }),
            Channel::Console => json!({ "text": self.plain_text().replace('\n', " | ") }),
        };
        value.to_string()
    }

    fn plain_text(&self) -> String {
        let mut text = self.headline.clone();
        for line in &self.details {
            text.push('\n');
            text.push_str(line);
        }
        if let Some(link) = &self.link {
            text.push_str(&format!("\nReview: {link}"));
        }
        text
    }

    fn html(&self) -> String {
        let mut html = format!("<p><strong>{}</strong></p><ul>", escape(&self.headline));
        for line in &self.details {
            html.push_str(&format!("<li>{}</li>", escape(line)));
        }
        html.push_str("</ul>");
        if let Some(link) = &self.link {
            html.push_str(&format!("<p><a href=\"{0}\">Review the request</a></p>", escape(link)));
        }
        html
    }

    /// Block Kit: the headline, the details as context, and a button to the request page.
    fn slack(&self) -> Value {
        let mut blocks = vec![
            json!({ "type": "section", "text": { "type": "mrkdwn", "text": slack_escape(&self.headline) } }),
            json!({ "type": "context", "elements": self.details.iter().take(10)
                .map(|d| json!({ "type": "mrkdwn", "text": slack_escape(d) })).collect::<Vec<_>>() }),
        ];
        if let Some(link) = &self.link {
            blocks.push(json!({ "type": "actions", "elements": [{
                "type": "button", "text": { "type": "plain_text", "text": "Review" }, "url": link, "style": "primary",
            }]}));
        }
        json!({ "text": self.headline, "blocks": blocks })
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_and_slack_text_are_escaped() {
        assert_eq!(escape("<b>\"x\" & 'y'</b>"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;");
        assert_eq!(slack_escape("<!channel> & co"), "&lt;!channel&gt; &amp; co");
    }
}
