//! Liveness and readiness for load balancers and orchestrators; metrics for Prometheus.

use crate::service::{gauges, Context};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(ctx): State<Context>) -> (StatusCode, Json<Value>) {
    match ctx.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(error) => {
            tracing::warn!(error = %error, "database not ready");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable" })))
        }
    }
}

/// Prometheus / OpenMetrics exposition: this process's counters and histograms, and gauges read
/// from the database at each scrape.
pub async fn metrics(State(ctx): State<Context>) -> axum::response::Response {
    use axum::response::IntoResponse;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("countersign_db_commits", "Committed write transactions", ctx.store.commits().clone());
    registry.register(
        "countersign_db_physical_commits",
        "COMMITs executed by the database (SQLite: one per group of transactions)",
        ctx.store.physical_commits().clone(),
    );
    registry.register(
        "countersign_db_writer_handoffs",
        "Statements handed to SQLite's one writer thread (0 on PostgreSQL)",
        ctx.store.writer_handoffs().clone(),
    );
    ctx.metrics.register(&mut registry);
    match gauges::read(&ctx).await {
        Ok(read) => {
            let pending = Family::<Vec<(&'static str, String)>, Gauge>::default();
            for (tier, count) in read.pending_by_tier {
                pending.get_or_create(&vec![("tier", tier.to_string())]).set(count);
            }
            registry.register("countersign_pending_requests", "Requests waiting for approval, by tier", pending);
            let lag = Gauge::<i64>::default();
            lag.set(read.chain_lag_records);
            registry.register("countersign_audit_chain_lag_records", "Audit records committed, not yet chained", lag);
            let age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
            age.set(read.chain_lag_seconds);
            registry.register("countersign_audit_chain_lag_seconds", "Age of the oldest unchained audit record", age);
            let depth = Gauge::<i64>::default();
            depth.set(read.outbox_depth);
            registry.register("countersign_outbox_depth", "Outbox messages waiting to be delivered", depth);
            let oldest = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
            oldest.set(read.outbox_oldest_seconds);
            registry.register("countersign_outbox_oldest_seconds", "Age of the oldest undelivered message", oldest);
            let failed = Gauge::<i64>::default();
            failed.set(read.outbox_failed);
            registry.register("countersign_outbox_failed", "Outbox messages failed after their retries", failed);
        }
        // The process's own families are still worth a scrape when the database is away.
        Err(error) => tracing::warn!(error = %error, "metrics: database gauges unavailable"),
    }
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
