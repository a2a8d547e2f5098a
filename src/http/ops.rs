//! Liveness and readiness for load balancers and orchestrators.

use crate::service::Context;
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

/// Prometheus / OpenMetrics exposition.
pub async fn metrics(State(ctx): State<Context>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("countersign_db_commits", "Committed write transactions", ctx.store.commits().clone());
    registry.register(
        "countersign_db_physical_commits",
        "COMMITs executed by the database (SQLite: one per group of transactions)",
        ctx.store.physical_commits().clone(),
    );
    ctx.metrics.register(&mut registry);
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
