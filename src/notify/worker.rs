//! The delivery worker: every replica runs one. Each pass claims due messages with a lease (see
//! `store::outbox`), sends them side by side, and records each attempt; a failure is retried on
//! the backoff schedule (with ±20% jitter, so a receiver that was down is not hit by every
//! message at once) and, once the schedule is spent (about a day), the message is marked failed:
//! `countersign outbox list` shows it and `outbox retry ID` sends it again.
//!
//! Delivery is at least once: a worker that dies after the receiver answered but before the
//! result is recorded leaves the lease to lapse, and the message is sent again with the same
//! `webhook-id` (receivers deduplicate on it).

use super::{channels, Outbound};
use crate::crypto::MasterKey;
use crate::metrics::Metrics;
use crate::store::outbox::{self, After, Attempt, Message};
use crate::store::{Store, StoreResult};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Sends in flight at once per replica; a pass claims no more than there is room for.
pub const IN_FLIGHT: usize = 32;

/// How often each replica looks for reminders and escalations that fell due (written once each).
const REMINDER_INTERVAL: Duration = Duration::from_secs(2);

/// What a worker needs. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub master_key: MasterKey,
    pub metrics: Arc<Metrics>,
    pub outbound: Arc<Outbound>,
    /// This process's name on leases.
    pub instance: Arc<str>,
    /// Room for sends in flight (`IN_FLIGHT`): each send runs on its own, so a receiver that
    /// hangs until the timeout holds up nobody else's messages.
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

impl Worker {
    /// Delivers due messages every `outbound.poll` until `shutdown` fires.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.outbound.poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reminded_at: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.changed() => return,
            }
            if reminded_at.is_none_or(|at| at.elapsed() >= REMINDER_INTERVAL) {
                reminded_at = Some(Instant::now());
                let scheduled = super::alerts::schedule_reminders(&self, crate::service::now_ms()).await;
                self.metrics.background_pass("alert_reminders", scheduled.is_ok());
                if let Err(error) = scheduled {
                    tracing::error!(error = %error, "scheduling alert reminders failed");
                }
            }
            let outcome = self.pass().await;
            self.metrics.background_pass("outbox_delivery", outcome.is_ok());
            if let Err(error) = outcome {
                tracing::error!(error = %error, "outbox delivery pass failed");
            }
        }
    }

    /// One pass: claims due messages (as many as there is room to send) and starts sending each
    /// on its own task, which records the attempt. Returns how many were claimed.
    pub async fn pass(&self) -> StoreResult<usize> {
        let now = crate::service::now_ms();
        let room = self.in_flight.available_permits();
        if room == 0 || !outbox::any_due(self.store.reader(), now).await? {
            return Ok(0);
        }
        // Longer than any send can take (each is cut at the timeout), so only a dead worker's
        // lease lapses.
        let lease = self.outbound.timeout * 2 + Duration::from_secs(2);
        let lease_until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let mut tx = self.store.begin().await?;
        let room = i64::try_from(room).unwrap_or(i64::MAX);
        let claimed = outbox::claim(&mut tx, &self.instance, now, lease_until, room).await?;
        self.store.commit(tx).await?;
        let count = claimed.len();
        for message in claimed {
            // Nobody else takes permits, and no more were claimed than were free.
            let Ok(permit) = self.in_flight.clone().try_acquire_owned() else { break };
            let worker = self.clone();
            tokio::spawn(async move {
                if let Err(error) = worker.deliver(&message).await {
                    // The lease lapses and another pass sends it again.
                    tracing::error!(message = %message.id, error = %error, "recording a delivery failed");
                }
                drop(permit);
            });
        }
        Ok(count)
    }

    async fn deliver(&self, message: &Message) -> StoreResult<()> {
        let started_at = crate::service::now_ms();
        let clock = Instant::now();
        let sent = channels::send(self, message).await;
        let latency_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
        let number = message.attempts + 1;
        let (http_status, error) = match &sent {
            Ok(status) => (Some(i64::from(*status)), None),
            Err(error) => (None, Some(error.as_str())),
        };
        let delivered = matches!(sent, Ok(status) if (200..300).contains(&status));
        let now = crate::service::now_ms();
        let after = match self.outbound.backoff.get(usize::try_from(message.attempts).unwrap_or(usize::MAX)) {
            _ if delivered => After::Delivered,
            Some(delay) => After::RetryAt(now + jittered(*delay)),
            None => After::Failed,
        };
        let outcome = match after {
            After::Delivered => "delivered",
            After::RetryAt(_) => "retry",
            After::Failed => "failed",
        };
        if !delivered {
            // The destination is left out: a Slack webhook URL is a secret.
            tracing::warn!(message = %message.id, channel = %message.channel, attempt = number, error = ?error,
                status = ?http_status, outcome, "outbox delivery did not succeed");
        }
        let attempt = Attempt { started_at, http_status, error, latency_ms };
        let mut tx = self.store.begin().await?;
        let recorded = outbox::record(&mut tx, &message.id, &self.instance, number, &attempt, after, now).await?;
        self.store.commit(tx).await?;
        if recorded {
            self.metrics.outbox_delivered(&message.channel, outcome);
        }
        Ok(())
    }
}

/// `delay` ±20%, in milliseconds.
fn jittered(delay: Duration) -> i64 {
    let ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
    let spread = ms / 5;
    if spread == 0 {
        return ms;
    }
    ms + rand::thread_rng().gen_range(-spread..=spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_fifth_of_the_delay() {
        for _ in 0..1000 {
            let ms = jittered(Duration::from_secs(300));
            assert!((240_000..=360_000).contains(&ms), "{ms}");
        }
        assert_eq!(jittered(Duration::from_millis(3)), 3);
    }
}
