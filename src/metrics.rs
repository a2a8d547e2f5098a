//! The process's Prometheus metrics, in one place: every family the service exposes on
//! `/metrics` is a field here, registered once in [`Metrics::register`]. Use cases record into
//! them through `Context::metrics`; nothing here does I/O.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label set of a counter split by one short, bounded string (an outcome, a reason).
pub type ByLabel = Family<Vec<(&'static str, String)>, Counter>;

/// Counters and gauges kept by this process. Cheap to share (`Arc` in the context).
#[derive(Default)]
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
}

impl Metrics {
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
    }
}
