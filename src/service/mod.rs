//! Use cases, one module each. They own transaction boundaries and the order of effects:
//! a state change, its audit record and its idempotent response commit together, and Plaid is
//! never called while a transaction is open.

pub mod admin;
mod approve_whole;
pub mod approver_groups;
pub mod approvers;
pub mod audit_export;
pub mod audit_upkeep;
pub mod authorize;
pub mod balances;
pub mod batch;
pub mod cancel;
pub mod context;
pub mod decide;
pub mod digest;
pub mod enrollment;
pub mod events;
pub mod evidence;
pub mod execute;
pub mod expire;
pub mod flags;
pub mod form_keys;
pub mod gateway;
pub mod gauges;
pub mod history;
pub mod idempotency;
pub mod inbox;
pub mod item_health;
pub mod outbound;
pub mod plaid_events;
pub mod policy;
pub mod propose;
pub mod query;
pub mod reconcile;
pub mod recurring;
pub mod registry;
pub mod renew;
pub mod retention;
pub mod review;
pub mod signin;
pub mod trail;
pub mod view;

use crate::auth::approval_token::ApprovalTokenKey;
use crate::auth::SessionPolicy;
use crate::crypto::MasterKey;
use crate::domain::Policy;
use crate::plaid::PlaidClient;
use crate::store::Store;
use policy::Policies;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Everything a use case needs. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub plaid: PlaidClient,
    pub master_key: MasterKey,
    /// The active and shadow risk policies (switched on reload).
    pub policies: Arc<Policies>,
    pub window: AuthorizationWindow,
    /// Bumped after every committed state change in this process, so long-polls wake at once;
    /// they also re-read the database on a timer, which covers changes made by other replicas.
    pub changes: Arc<watch::Sender<u64>>,
    pub sessions: SessionPolicy,
    pub approval_key: ApprovalTokenKey,
    /// Work untouched this long (a claim whose process died, a Plaid call that never answered)
    /// is picked up by the reconciler. Longer than the Plaid client's timeout.
    pub reconcile_after: Duration,
    /// An `executing` request the reconciler could not settle for this long is alerted
    /// (`COUNTERSIGN_EXECUTING_ALERT_SECS`): Plaid may hold its transfer, so a person must look.
    pub executing_alert_after: Duration,
    /// Live balances shown on the approval page, cached briefly per item.
    pub balances: Arc<balances::BalanceCache>,
    /// HTTP: the approver session cookie is `Secure` and `__Host-` prefixed (off only for plain
    /// http on localhost).
    pub cookie_secure: bool,
    /// Prometheus counters and gauges exposed on `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// This process among the replicas: the holder's name on database leases.
    pub instance: Arc<str>,
    /// Events asked of `/transfer/event/sync` per page (Plaid allows 1–500).
    pub event_sync_page: u32,
    /// How long one event sync may hold its lease without renewing it (it renews every page): a
    /// replica that dies mid-sync holds up the others at most this long. Overlapping syncs would
    /// still be correct (events are unique, status changes compare-and-set); the lease saves work.
    pub event_sync_lease: Duration,
    /// Plaid's webhook keys, fetched on first use.
    pub webhooks: Arc<crate::plaid::webhook_verify::WebhookVerifier>,
    /// Where signed checkpoints are anchored outside the database (`startup` sets it from the
    /// settings; the default is the default data dir).
    pub audit_anchors: crate::audit::anchor::AnchorLog,
    /// Bounds concurrent password hashing (one per core, a short queue, then 503).
    pub hashing: crate::auth::password::HashingGate,
    /// HTTP: take the client address for sign-in throttling from `X-Forwarded-For`'s last entry.
    pub trust_forwarded_for: bool,
    /// The read gateway's tiers and per-agent rate limit (`[reads]`).
    pub read_gateway: Arc<gateway::ReadGateway>,
    /// Tier 3: approving sooner than this after the page was shown asks for a confirmation.
    pub tier3_min_reading: Duration,
    /// Outbound messages: allowed destinations, timeouts, retries, alert channels (issue 13).
    pub outbound: Arc<crate::notify::Outbound>,
}

/// Plaid's authorization lifetime and our safety margin before it.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizationWindow {
    pub ttl: Duration,
    pub margin: Duration,
}

impl AuthorizationWindow {
    /// When approvals stop counting: authorization created + TTL − margin.
    pub fn expires_at(&self, authorized_at_ms: i64) -> i64 {
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let margin = i64::try_from(self.margin.as_millis()).unwrap_or(0);
        authorized_at_ms.saturating_add(ttl).saturating_sub(margin)
    }
}

impl Context {
    pub fn new(
        store: Store,
        plaid: PlaidClient,
        master_key: MasterKey,
        policy: Policy,
        window: AuthorizationWindow,
    ) -> Self {
        let (changes, _) = watch::channel(0);
        let metrics = Arc::new(crate::metrics::Metrics::for_store(&store));
        let approval_key = ApprovalTokenKey::new(&master_key.derive("approval-token"));
        let webhooks = Arc::new(crate::plaid::webhook_verify::WebhookVerifier::new(plaid.clone()));
        Self {
            store,
            plaid,
            master_key,
            policies: Arc::new(Policies::new(policy, None, None, None)),
            window,
            changes: Arc::new(changes),
            sessions: SessionPolicy::default(),
            approval_key,
            reconcile_after: Duration::from_secs(35),
            executing_alert_after: Duration::from_secs(900),
            balances: Arc::default(),
            cookie_secure: true,
            metrics,
            instance: Arc::from(uuid::Uuid::new_v4().to_string()),
            event_sync_page: 500,
            event_sync_lease: Duration::from_secs(60),
            webhooks,
            audit_anchors: crate::audit::anchor::AnchorLog::in_dir(std::path::Path::new("countersign-data")),
            hashing: crate::auth::password::HashingGate::for_this_machine(),
            trust_forwarded_for: false,
            read_gateway: Arc::default(),
            tier3_min_reading: Duration::from_secs(20),
            outbound: Arc::default(),
        }
    }

    /// The outbox delivery worker of this process.
    pub fn outbox_worker(&self) -> crate::notify::worker::Worker {
        crate::notify::worker::Worker {
            store: self.store.clone(),
            master_key: self.master_key.clone(),
            metrics: self.metrics.clone(),
            outbound: self.outbound.clone(),
            instance: self.instance.clone(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(crate::notify::worker::IN_FLIGHT)),
        }
    }

    pub(crate) fn notify_change(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Runs `pass` every `interval` until `shutdown` fires, counting passes by outcome under the task
/// name `what`. A failed pass is logged and the next one runs as usual: background work must never
/// stop because one pass hit a bad moment.
pub async fn every<F, Fut>(
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    metrics: Arc<crate::metrics::Metrics>,
    what: &'static str,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<()>>,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let outcome = pass().await;
        metrics.background_pass(what, outcome.is_ok());
        if let Err(error) = outcome {
            tracing::error!(error = %error, task = what, "background pass failed");
        }
    }
}

pub fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

/// RFC 3339 for API output.
pub fn format_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_closes_ttl_minus_margin_after_authorization() {
        let window = AuthorizationWindow { ttl: Duration::from_secs(3600), margin: Duration::from_secs(300) };
        assert_eq!(window.expires_at(1_000), 1_000 + 3_300_000);
    }

    #[test]
    fn timestamps_round_trip_through_rfc3339() {
        let ms = 1_700_000_000_123;
        assert_eq!(parse_rfc3339_ms(&format_ms(ms)), Some(ms));
        assert_eq!(parse_rfc3339_ms("2024-01-02T03:04:05Z"), Some(1_704_164_645_000));
    }
}
