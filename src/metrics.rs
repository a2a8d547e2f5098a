//! The process's Prometheus metrics, in one place: every family the service exposes on
//! `/metrics` is a field here, registered once in [`Metrics::register`]. Use cases record into
//! them through `Context::metrics`; nothing here does I/O.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Label set of a counter split by one short, bounded string (an outcome, a reason).
pub type ByLabel = Family<Vec<(&'static str, String)>, Counter>;

/// Counters and gauges kept by this process. Cheap to share (`Arc` in the context).
#[derive(Default)]
pub struct Metrics {
    /// Background passes by task (`reconciliation`, `expiry`, `audit_upkeep`) and outcome.
    pub background_passes: ByLabel,
    /// Sign-in attempts by outcome (`success`, `invalid`, `throttled`, `busy`).
    pub sign_in_attempts: ByLabel,
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
            "countersign_sign_in_attempts",
            "Approver sign-in attempts by outcome",
            self.sign_in_attempts.clone(),
        );
    }
}
