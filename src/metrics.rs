//! The process's Prometheus metrics, in one place: every family the service exposes on
//! `/metrics` is a field here, registered once in [`Metrics::register`]. Use cases record into
//! them through `Context::metrics`; nothing here does I/O. Gauges read from the database (pending
//! requests, audit chain lag) are computed per scrape by the ops handler, not kept here.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// A label set of short, bounded strings (an outcome, a route template, a Plaid path).
pub type Labels = Vec<(&'static str, String)>;

/// Label set of a counter split by one short, bounded string (an outcome, a reason).
pub type ByLabel = Family<Labels, Counter>;

/// Histograms with fixed buckets, split by labels.
pub type Timings = Family<Labels, Histogram, Buckets>;

/// Exponential buckets from `start` seconds, `count` of them, each twice the last.
#[derive(Clone, Copy)]
pub struct Buckets {
    start: f64,
    count: u16,
}

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(self.start, 2.0, self.count))
    }
}

/// 1 ms to ~33 s: HTTP requests and Plaid calls.
const CALL_BUCKETS: Buckets = Buckets { start: 0.001, count: 16 };
/// 1 s to ~36 h: how long requests wait for people.
const DECISION_BUCKETS: Buckets = Buckets { start: 1.0, count: 18 };

/// Counters and histograms kept by this process. Cheap to share (`Arc` in the context).
pub struct Metrics {
    /// Background passes by task (`reconciliation`, `expiry`, `audit_upkeep`) and outcome.
    pub background_passes: ByLabel,
    /// Executions refused because what would execute differs from what was approved.
    pub payload_mismatches: Counter,
    /// Reconciliation passes that could not settle an `executing` request, by what Plaid answered.
    pub reconcile_deferrals: ByLabel,
    /// `executing` requests unresolved for longer than `COUNTERSIGN_EXECUTING_ALERT_SECS`
    /// (set by each reconciliation pass).
    pub executing_unresolved: Gauge,
    /// Plaid webhook deliveries by outcome (`verified`, or why verification refused it).
    pub plaid_webhooks: ByLabel,
    /// HTTP requests by method, matched route template (never the raw path) and status.
    pub http_requests: Timings,
    /// Plaid calls by endpoint (the Plaid path), whatever their outcome.
    pub plaid_requests: Timings,
    /// Plaid calls that failed, by endpoint and kind (Plaid's `error_code`, or `transport`, `decode`).
    pub plaid_errors: ByLabel,
    /// From `pending_approval` to `approved` or `rejected`, by decision.
    pub time_to_decision: Timings,
    /// Audit integrity alerts by kind (`foreign_record`: rows in the chain the chainer did not
    /// write; `anchor_write`: a checkpoint that could not be anchored outside the database).
    /// The store's family, shared (see `Metrics::for_store`).
    pub audit_chain_errors: ByLabel,
    /// Sign-in attempts by outcome (`success`, `invalid`, `throttled`, `busy`).
    pub sign_in_attempts: ByLabel,
    /// Outbox delivery attempts by channel and outcome (`delivered`, `retry`, `failed`).
    pub outbox_deliveries: ByLabel,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            background_passes: ByLabel::default(),
            http_requests: Timings::new_with_constructor(CALL_BUCKETS),
            plaid_requests: Timings::new_with_constructor(CALL_BUCKETS),
            plaid_errors: ByLabel::default(),
            time_to_decision: Timings::new_with_constructor(DECISION_BUCKETS),
            payload_mismatches: Counter::default(),
            reconcile_deferrals: ByLabel::default(),
            executing_unresolved: Gauge::default(),
            plaid_webhooks: ByLabel::default(),
            audit_chain_errors: ByLabel::default(),
            sign_in_attempts: ByLabel::default(),
            outbox_deliveries: ByLabel::default(),
        }
    }
}

impl Metrics {
    /// Metrics that share the families the store raises itself.
    pub fn for_store(store: &crate::store::Store) -> Self {
        Self { audit_chain_errors: store.audit_alerts().clone(), ..Self::default() }
    }

    /// Adds every family to `registry` (called per scrape; the families are shared, not copied).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "countersign_background_passes",
            "Background passes by task and outcome",
            self.background_passes.clone(),
        );
        registry.register(
            "countersign_payload_mismatches",
            "Executions refused because what would execute differs from what was approved",
            self.payload_mismatches.clone(),
        );
        registry.register(
            "countersign_reconcile_deferrals",
            "Reconciliation passes that could not settle an executing request, by Plaid's answer",
            self.reconcile_deferrals.clone(),
        );
        registry.register(
            "countersign_executing_unresolved",
            "Executing requests unresolved for longer than the alert time",
            self.executing_unresolved.clone(),
        );
        registry.register(
            "countersign_plaid_webhooks",
            "Plaid webhook deliveries by outcome: verified, or why verification refused it",
            self.plaid_webhooks.clone(),
        );
        registry.register(
            "countersign_http_request_duration_seconds",
            "HTTP requests by method, route template and status",
            self.http_requests.clone(),
        );
        registry.register(
            "countersign_plaid_request_duration_seconds",
            "Plaid calls by endpoint",
            self.plaid_requests.clone(),
        );
        registry.register(
            "countersign_plaid_errors",
            "Failed Plaid calls by endpoint and kind",
            self.plaid_errors.clone(),
        );
        registry.register(
            "countersign_time_to_decision_seconds",
            "From pending_approval to a human decision, by decision",
            self.time_to_decision.clone(),
        );
        registry.register(
            "countersign_audit_chain_errors",
            "Audit integrity alerts by kind: rows the chainer did not write, checkpoints not anchored",
            self.audit_chain_errors.clone(),
        );
        registry.register(
            "countersign_sign_in_attempts",
            "Approver sign-in attempts by outcome",
            self.sign_in_attempts.clone(),
        );
        registry.register(
            "countersign_outbox_deliveries",
            "Outbox delivery attempts by channel and outcome: delivered, retry, failed",
            self.outbox_deliveries.clone(),
        );
    }

    /// Counts one outbox delivery attempt.
    pub fn outbox_delivered(&self, channel: &str, outcome: &str) {
        self.outbox_deliveries
            .get_or_create(&vec![("channel", channel.to_owned()), ("outcome", outcome.to_owned())])
            .inc();
    }

    /// Counts one pass of a background task.
    pub fn background_pass(&self, task: &str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.background_passes.get_or_create(&vec![("task", task.to_owned()), ("outcome", outcome.to_owned())]).inc();
    }

    /// Times one Plaid call, and counts it as an error of `error_kind` when it failed.
    pub fn plaid_call(&self, endpoint: &str, took: Duration, error_kind: Option<&str>) {
        self.plaid_requests.get_or_create(&vec![("endpoint", endpoint.to_owned())]).observe(took.as_secs_f64());
        if let Some(kind) = error_kind {
            self.plaid_errors.get_or_create(&vec![("endpoint", endpoint.to_owned()), ("kind", kind.to_owned())]).inc();
        }
    }

    /// Records how long a request waited for its decision (`approved` or `rejected`).
    pub fn decided(&self, decision: &str, waited_ms: i64) {
        let seconds = waited_ms.max(0) as f64 / 1000.0;
        self.time_to_decision.get_or_create(&vec![("decision", decision.to_owned())]).observe(seconds);
    }
}
