//! One log line and one latency sample per request: method, the matched route template (never the
//! raw path, which can hold tokens, nor the query string), status, latency and request id. Bodies
//! are never read here.

use crate::metrics::Metrics;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;

/// What a request that matched no route is filed under.
const UNMATCHED: &str = "unmatched";

pub async fn observe(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str).to_owned();
    let request_id =
        request.headers().get(super::REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let response = next.run(request).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    let labels = vec![("method", method.as_str().to_owned()), ("route", route.clone()), ("status", status.to_string())];
    metrics.http_requests.get_or_create(&labels).observe(took.as_secs_f64());
    tracing::info!(
        method = %method,
        route = %route,
        status,
        latency_ms = took.as_secs_f64() * 1000.0,
        request_id = %request_id,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use std::sync::Mutex;
    use tower::ServiceExt;

    /// Collects everything the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn each_request_logs_one_line_with_its_route_template_and_never_its_path_query_or_body() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let metrics = Arc::new(Metrics::default());
        let app = Router::new()
            .route("/v1/transfers/{id}", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(metrics.clone(), observe));

        let request = Request::get("/v1/transfers/tr_secret123?token=hunter2")
            .header("x-request-id", "req-42")
            .body(Body::from("legal name Ada Lovelace"))
            .expect("request");
        let response = app.oneshot(request).await.expect("response");
        assert_eq!(response.status(), 200);

        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line = lines[0];
        assert!(line.contains(" INFO "), "{line}");
        for expected in ["method=GET", "route=/v1/transfers/{id}", "status=200", "latency_ms=", "request_id=req-42"] {
            assert!(line.contains(expected), "{expected} missing: {line}");
        }
        for secret in ["tr_secret123", "hunter2", "Ada Lovelace"] {
            assert!(!line.contains(secret), "{secret} logged: {line}");
        }
        let mut registry = prometheus_client::registry::Registry::default();
        metrics.register(&mut registry);
        let mut exposed = String::new();
        prometheus_client::encoding::text::encode(&mut exposed, &registry).expect("encodes");
        let sample = r#"countersign_http_request_duration_seconds_count{method="GET",route="/v1/transfers/{id}",status="200"} 1"#;
        assert!(exposed.contains(sample), "{exposed}");
    }
}
