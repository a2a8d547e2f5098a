//! Approver alerts. A transition that people must hear of writes one `fan_out` message in its own
//! transaction; the delivery worker expands it, in one transaction of its own, into a message per
//! channel, judged at that moment: approvers allowed on the item who have not decided the request
//! (and not the agent's owner, who may not approve it), and nobody once it stopped waiting.
//! Reminders (15 and 5 minutes left) and the escalation to the team channel (10 minutes left and
//! nobody acted) are fan-outs too, written once per request by whichever replica gets there first
//! (a dedup key).
//!
//! The team channel (`COUNTERSIGN_ALERT_TEAM_CHANNEL`) hears escalations, returned and failed
//! transfers and broken items. When it is `console` (the embedded default) it stands in for the
//! approvers' own channels too, and prints every alert.

use super::worker::Worker;
use super::{content, ssrf, Envelope, CONSOLE, EMAIL, SLACK, WEBHOOK};
use crate::domain::{ItemId, RequestId, RequestState};
use crate::store::outbox::Message;
use crate::store::{channels, requests, StoreResult, Tx};

/// The channel of a message the worker expands into alerts.
pub use crate::store::outbox::FAN_OUT;
use crate::store::outbox::FAN_OUT_DESTINATION;
use crate::store::transitions::Outgoing;

pub const NEEDS_APPROVAL: &str = "transfer.pending_approval";
pub const REMINDER_15: &str = "transfer.reminder_15";
pub const REMINDER_5: &str = "transfer.reminder_5";
pub const ESCALATION: &str = "transfer.escalation";
pub const ITEM_BROKEN: &str = "item.broken";

/// Event types (of transitions) that alert people.
pub fn wanted(event_type: &str) -> bool {
    matches!(event_type, NEEDS_APPROVAL | "transfer.returned" | "transfer.failed" | ITEM_BROKEN)
}

/// Where alerts go: a kind of channel and its destination. `Debug` shows a Slack or webhook URL's
/// host only: the URL itself is a secret (whoever holds it can post).
#[derive(Clone, PartialEq, Eq)]
pub enum Channel {
    Console,
    Slack(String),
    Email(String),
    Webhook(String),
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Channel::Slack(url) | Channel::Webhook(url) => {
                let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
                write!(f, "{}(https://{host}/…)", self.kind())
            }
            Channel::Email(address) => write!(f, "email({address})"),
            Channel::Console => f.write_str("console"),
        }
    }
}

impl Channel {
    /// `console`, `slack`/`webhook` with an allowed URL, or `email` with an address.
    pub fn new(kind: &str, destination: &str, policy: ssrf::DestinationPolicy) -> Result<Channel, String> {
        let destination = destination.trim();
        match kind {
            CONSOLE => Ok(Channel::Console),
            SLACK | WEBHOOK => {
                let url = ssrf::parse(destination, policy).map_err(|e| format!("{kind} URL refused: {e}"))?;
                Ok(if kind == SLACK { Channel::Slack(url.to_string()) } else { Channel::Webhook(url.to_string()) })
            }
            EMAIL => {
                let valid = destination.len() <= 254
                    && destination
                        .split_once('@')
                        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
                    && !destination.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
                if valid {
                    Ok(Channel::Email(destination.to_owned()))
                } else {
                    Err("not an email address".into())
                }
            }
            other => Err(format!("unknown channel {other:?}: console, slack, email or webhook")),
        }
    }

    /// `console`, `slack:URL`, `email:ADDRESS` or `webhook:URL` (the team channel setting).
    pub fn parse(text: &str, policy: ssrf::DestinationPolicy) -> Result<Channel, String> {
        let (kind, destination) = text.trim().split_once(':').unwrap_or((text.trim(), ""));
        Channel::new(kind, destination, policy)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Console => CONSOLE,
            Channel::Slack(_) => SLACK,
            Channel::Email(_) => EMAIL,
            Channel::Webhook(_) => WEBHOOK,
        }
    }

    pub fn destination(&self) -> &str {
        match self {
            Channel::Console => "stdout",
            Channel::Slack(d) | Channel::Email(d) | Channel::Webhook(d) => d,
        }
    }
}

/// Writes the fan-out of `event_type` about `subject` (a request or an item id).
pub async fn enqueue_fan_out(tx: &mut Tx, subject: &str, event_type: &str, now: i64) -> StoreResult<()> {
    enqueue_fan_out_once(tx, subject, event_type, None, now).await.map(|_| ())
}

async fn enqueue_fan_out_once(
    tx: &mut Tx,
    subject: &str,
    event_type: &str,
    dedup_key: Option<&str>,
    now: i64,
) -> StoreResult<bool> {
    let payload = fan_out_payload(subject);
    let envelope = Envelope {
        channel: FAN_OUT,
        destination: FAN_OUT_DESTINATION,
        agent_id: None,
        approver_id: None,
        request_id: subject.starts_with("tr_").then_some(subject),
        event_type,
        payload: &payload,
        dedup_key,
    };
    Ok(super::enqueue(tx, envelope, now).await?.is_some())
}

fn fan_out_payload(subject: &str) -> String {
    serde_json::json!({ "subject": subject }).to_string()
}

/// The fan-out of `event_type` about request `subject` as part of a whole transition
/// (`store::transitions`): written there only if `team_channel` is set or an approver has a
/// channel, as [`enqueue_fan_out`]'s callers decide.
pub fn fan_out_of_transition(subject: &str, event_type: &str, team_channel: bool) -> Outgoing {
    Outgoing::FanOut {
        id: super::new_message_id(),
        event_type: event_type.to_owned(),
        payload: fan_out_payload(subject),
        team_channel,
    }
}

/// Writes a notice for the team channel in `tx` (sent if and only if `tx` commits): e.g. the
/// policy's tier 1, "execute, notify and audit", telling people an agent read PII through the
/// gateway. `headline` is what people read: no secrets, no legal names.
pub async fn enqueue_notice(tx: &mut Tx, event_type: &str, headline: &str, now: i64) -> StoreResult<()> {
    let payload = serde_json::json!({ "notice": headline }).to_string();
    let envelope = Envelope {
        channel: FAN_OUT,
        destination: "team",
        agent_id: None,
        approver_id: None,
        request_id: None,
        event_type,
        payload: &payload,
        dedup_key: None,
    };
    super::enqueue(tx, envelope, now).await.map(|_| ())
}

/// Writes the reminders and escalations now due for requests still waiting (once each).
pub async fn schedule_reminders(worker: &Worker, now: i64) -> StoreResult<usize> {
    const MINUTE: i64 = 60_000;
    let mut written = 0;
    let waiting = requests::pending(worker.store.reader(), now, 500).await?;
    let due: Vec<(String, &str)> = waiting
        .iter()
        .filter_map(|r| r.expires_at.map(|at| (r.id.to_string(), at - now)))
        .flat_map(|(id, left)| {
            let mut kinds = Vec::new();
            if left <= 15 * MINUTE && left > 5 * MINUTE {
                kinds.push((id.clone(), REMINDER_15));
            }
            if left <= 10 * MINUTE {
                kinds.push((id.clone(), ESCALATION));
            }
            if left <= 5 * MINUTE {
                kinds.push((id, REMINDER_5));
            }
            kinds
        })
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let mut tx = worker.store.begin().await?;
    for (id, kind) in due {
        let key = format!("{id}:{kind}");
        if enqueue_fan_out_once(&mut tx, &id, kind, Some(&key), now).await? {
            written += 1;
        }
    }
    worker.store.commit(tx).await?;
    Ok(written)
}

/// Expands a fan-out message into one message per channel to alert (one transaction; each
/// child's dedup key makes a repeated expansion — after a crash — write nothing twice).
pub async fn expand(worker: &Worker, message: &Message) -> Result<u16, String> {
    expand_inner(worker, message).await.map_err(|e| format!("expanding alerts: {e}"))?;
    Ok(200)
}

async fn expand_inner(worker: &Worker, message: &Message) -> anyhow::Result<()> {
    let payload: serde_json::Value = serde_json::from_str(&message.payload)?;
    let subject = payload["subject"].as_str().unwrap_or_default();
    let reader = worker.store.reader();
    let team = worker.outbound.team_channel.clone();
    let now = crate::service::now_ms();
    let (alert, recipients) = if let Some(notice) = payload["notice"].as_str() {
        (content::notice(notice), Vec::new())
    } else if message.event_type == ITEM_BROKEN {
        let item = crate::store::items::find(reader, &ItemId::from_trusted(subject.to_owned())).await?;
        let Some(item) = item else { return Ok(()) };
        (content::item_broken(&item), Vec::new())
    } else {
        let id = RequestId::from_trusted(subject.to_owned());
        let Some(record) = requests::find(reader, &id).await? else { return Ok(()) };
        let for_approval =
            matches!(message.event_type.as_str(), NEEDS_APPROVAL | REMINDER_15 | REMINDER_5 | ESCALATION);
        if for_approval && record.state != RequestState::PendingApproval {
            return Ok(());
        }
        let agent = crate::store::agents::find(reader, &record.agent_id).await?;
        let owner = agent.as_ref().map(|a| a.owner.clone()).unwrap_or_default();
        let recipients = match message.event_type.as_str() {
            ESCALATION => {
                if !crate::store::approvals::for_request(reader, &id).await?.is_empty() {
                    return Ok(()); // somebody acted
                }
                Vec::new()
            }
            NEEDS_APPROVAL | REMINDER_15 | REMINDER_5 => {
                channels::for_request(reader, &record.item_id, record.id.as_str(), &owner, true).await?
            }
            _ => channels::for_request(reader, &record.item_id, record.id.as_str(), &owner, false).await?,
        };
        let accounts = crate::store::items::accounts(reader, &record.item_id).await?;
        let account = accounts.iter().find(|a| a.account_id == record.account_id);
        let facts = content::RequestFacts {
            record: &record,
            agent_name: agent.as_ref().map_or("an agent", |a| a.name.as_str()),
            account,
            public_url: &worker.outbound.public_url,
            now,
        };
        (content::for_request(&message.event_type, &facts), recipients)
    };
    let team_hears = match (&team, message.event_type.as_str()) {
        (Some(Channel::Console), _) => true,
        (Some(_), NEEDS_APPROVAL | REMINDER_15 | REMINDER_5) => false,
        (Some(_), _) => true,
        (None, _) => false,
    };
    let mut tx = worker.store.begin().await?;
    for recipient in recipients {
        let destination = worker.master_key.decrypt(&recipient.destination_enc)?;
        let Ok(channel) = Channel::new(&recipient.channel, &destination, worker.outbound.policy) else {
            continue; // a destination that is no longer allowed: the worker would refuse it anyway
        };
        let key = format!("{}:{}:{}", message.id, recipient.approver_id, channel.kind());
        write(&mut tx, worker, message, &alert, &channel, Some(&recipient.approver_id), &key, now).await?;
    }
    if let (Some(channel), true) = (&team, team_hears) {
        let key = format!("{}:team:{}", message.id, channel.kind());
        write(&mut tx, worker, message, &alert, channel, None, &key, now).await?;
    }
    worker.store.commit(tx).await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn write(
    tx: &mut Tx,
    worker: &Worker,
    parent: &Message,
    alert: &content::Alert,
    channel: &Channel,
    approver_id: Option<&str>,
    dedup_key: &str,
    now: i64,
) -> anyhow::Result<()> {
    let payload = alert.payload_for(channel, &parent.event_type, now);
    // Slack and webhook URLs are secrets: stored encrypted here too.
    let destination = match channel {
        Channel::Slack(url) | Channel::Webhook(url) => format!("enc:{}", worker.master_key.encrypt(url)?),
        other => other.destination().to_owned(),
    };
    let envelope = Envelope {
        channel: channel.kind(),
        destination: &destination,
        agent_id: None,
        approver_id,
        request_id: parent.request_id.as_deref(),
        event_type: &parent.event_type,
        payload: &payload,
        dedup_key: Some(dedup_key),
    };
    super::enqueue(tx, envelope, now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: ssrf::DestinationPolicy = ssrf::DestinationPolicy { allow_private: false, allow_http: false };

    #[test]
    fn debug_shows_no_slack_url() {
        let channel = Channel::parse("slack:https://hooks.slack.com/services/T0/B0/secret-token", STRICT).expect("ok");
        let shown = format!("{channel:?}");
        assert!(!shown.contains("secret-token") && shown.contains("hooks.slack.com"), "{shown}");
    }

    #[test]
    fn team_channels_parse_and_refuse_bad_destinations() {
        assert_eq!(Channel::parse("console", STRICT), Ok(Channel::Console));
        assert_eq!(Channel::parse("email:ops@example.com", STRICT), Ok(Channel::Email("ops@example.com".into())));
        assert!(matches!(
            Channel::parse("slack:https://hooks.slack.com/services/T/B/x", STRICT),
            Ok(Channel::Slack(_))
        ));
        assert!(Channel::parse("slack:http://hooks.slack.com/x", STRICT).is_err());
        assert!(Channel::parse("webhook:https://10.0.0.1/x", STRICT).is_err());
        assert!(Channel::parse("email:not-an-address", STRICT).is_err());
        assert!(Channel::parse("pager:123", STRICT).is_err());
    }
}
