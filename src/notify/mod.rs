//! Telling people: the transactional outbox and what reads it.
//!
//! A transition writes its messages into the outbox in its own transaction (`enqueue`), so a
//! committed change always notifies and a rolled-back one never does. The delivery worker
//! (`worker`) on every replica sends them: agent callbacks and alert webhooks signed the Standard
//! Webhooks way (`signing`), Slack, email and the console (`channels`), only to destinations the
//! SSRF guard allows (`ssrf`, `send`). Nothing here decides *whether* to tell someone — the service
//! layer does — and nothing here ever logs a secret, a signature or a destination URL.

pub mod alerts;
pub mod channels;
pub mod content;
pub mod email;
pub mod send;
pub mod signing;
pub mod ssrf;
pub mod worker;

use crate::store::outbox;
use crate::store::{StoreResult, Tx};
use std::time::Duration;

/// Outbound delivery settings (from `Settings`).
#[derive(Debug, Clone)]
pub struct Outbound {
    pub policy: ssrf::DestinationPolicy,
    /// Per attempt: connect, send and read the answer.
    pub timeout: Duration,
    /// The wait before each retry; once spent, the message is failed.
    pub backoff: Vec<Duration>,
    /// How often each replica looks for due messages.
    pub poll: Duration,
    /// Signs the alert webhook channel (`COUNTERSIGN_ALERT_WEBHOOK_SECRET`, a `whsec_` secret).
    pub alert_webhook_secret: Option<secrecy::SecretString>,
    /// Where escalations, returned/failed transfers and broken items go
    /// (`COUNTERSIGN_ALERT_TEAM_CHANNEL`; `console` in the embedded default).
    pub team_channel: Option<alerts::Channel>,
    /// The base of links in alerts (`COUNTERSIGN_PUBLIC_URL`).
    pub public_url: String,
    /// The relay for email alerts (`COUNTERSIGN_SMTP_*`).
    pub smtp: Option<email::Smtp>,
}

impl Default for Outbound {
    fn default() -> Self {
        Self {
            policy: ssrf::DestinationPolicy::default(),
            timeout: Duration::from_secs(10),
            backoff: default_backoff(),
            poll: Duration::from_millis(500),
            alert_webhook_secret: None,
            team_channel: None,
            public_url: "http://127.0.0.1:8080".into(),
            smtp: None,
        }
    }
}

/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 28 hours.
pub fn default_backoff() -> Vec<Duration> {
    [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000].into_iter().map(Duration::from_secs).collect()
}

/// Parses a backoff schedule such as `5s,5m,30m,2h` (units ms, s, m, h).
pub fn parse_backoff(text: &str) -> Option<Vec<Duration>> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let split = part.find(|c: char| !c.is_ascii_digit())?;
            let (number, unit) = part.split_at(split);
            let n: u64 = number.parse().ok()?;
            match unit {
                "ms" => Some(Duration::from_millis(n)),
                "s" => Some(Duration::from_secs(n)),
                "m" => Some(Duration::from_secs(n * 60)),
                "h" => Some(Duration::from_secs(n * 3600)),
                _ => None,
            }
        })
        .collect()
}

/// Channels a message can travel by.
pub use crate::store::outbox::{AGENT_CALLBACK, CONSOLE, EMAIL, SLACK, WEBHOOK};

/// A message to write into the outbox inside the caller's transaction.
pub use crate::store::outbox::NewMessage as Envelope;

/// Writes `envelope` into the outbox in `tx`: it is sent if and only if `tx` commits. Returns the
/// message id (also its `webhook-id`), or `None` when its dedup key was written already. For a
/// notice to the team channel (the policy's tier 1, "execute, notify and audit"), see
/// `alerts::enqueue_notice`.
pub async fn enqueue(tx: &mut Tx, envelope: Envelope<'_>, now_ms: i64) -> StoreResult<Option<String>> {
    let id = new_message_id();
    Ok(outbox::insert(tx, &id, envelope, now_ms).await?.then_some(id))
}

/// An outbox message's id: time-ordered.
pub fn new_message_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_schedules_parse_with_units() {
        assert_eq!(
            parse_backoff("50ms, 5s,5m,2h"),
            Some(vec![
                Duration::from_millis(50),
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(7200)
            ])
        );
        assert_eq!(parse_backoff("5"), None);
        assert_eq!(parse_backoff("5d"), None);
    }

    #[test]
    fn the_default_schedule_retries_for_about_a_day() {
        let total: Duration = default_backoff().iter().sum();
        assert!(total > Duration::from_secs(20 * 3600) && total < Duration::from_secs(30 * 3600));
    }
}
