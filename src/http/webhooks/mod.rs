//! Inbound webhooks. `POST /webhooks/plaid`: verified against Plaid's signature before anything
//! else is read (`plaid::webhook_verify`), acknowledged at once, acted on afterwards. A delivery
//! that fails verification gets 401, changes nothing, is counted, and is logged without its body.

use crate::error::{Error, Result};
use crate::service::{now_ms, plaid_events, Context};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

pub async fn plaid(State(ctx): State<Context>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>> {
    let header = headers.get("plaid-verification").and_then(|v| v.to_str().ok());
    let verdict = ctx.webhooks.verify(header, &body, now_ms() / 1000).await.map_err(|unavailable| {
        tracing::warn!(error = %unavailable.0, "could not fetch Plaid's webhook key; Plaid will retry");
        Error::client(StatusCode::SERVICE_UNAVAILABLE, "plaid_unavailable", "Plaid's webhook key could not be fetched")
    })?;
    let verified = match verdict {
        Ok(verified) => verified,
        Err(refusal) => {
            ctx.metrics.plaid_webhooks.get_or_create(&vec![("outcome", refusal.as_str().to_owned())]).inc();
            tracing::warn!(reason = refusal.as_str(), bytes = body.len(), "refused a Plaid webhook delivery");
            return Err(Error::client(
                StatusCode::UNAUTHORIZED,
                "invalid_webhook_signature",
                "the delivery did not pass Plaid webhook verification",
            ));
        }
    };
    ctx.metrics.plaid_webhooks.get_or_create(&vec![("outcome", "verified".to_owned())]).inc();
    plaid_events::on_webhook(&ctx, &body, verified.signed_at).await?;
    Ok(Json(json!({ "received": true })))
}
