//! `POST /v1/plaid/...`: the tiered Plaid read gateway. The body is Plaid's own request with our
//! `item_id` instead of `access_token`; the answer is Plaid's own shape. Every answer carries the
//! agent's `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` (IETF draft names).

use crate::domain::reads::ReadProduct;
use crate::error::Error;
use crate::http::extract::{Agent, JsonBody};
use crate::service::gateway::{self, limit::RateState, PlaidFailure, ReadError};
use crate::service::{now_ms, Context};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Json;
use serde_json::{json, Map, Value};

/// The route of one product: `/v1/plaid` + Plaid's path.
pub fn route(product: ReadProduct) -> MethodRouter<Context> {
    post(
        move |State(ctx): State<Context>,
              Agent(agent): Agent,
              headers: HeaderMap,
              body: JsonBody<Map<String, Value>>| async move {
            let rate = ctx.read_gateway.limiter.take(&agent.id, now_ms());
            let response = if rate.allowed {
                match gateway::read(&ctx, &agent, product, body.typed).await {
                    Ok(answer) => Json(answer).into_response(),
                    Err(ReadError::Refused(error)) => error.into_response(),
                    Err(ReadError::Plaid(failure)) => plaid_failure(failure, &headers),
                }
            } else {
                Error::client(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("this agent may make {} Plaid reads a minute; wait for RateLimit-Reset", rate.limit),
                )
                .with_retry_after(rate.reset_secs)
                .into_response()
            };
            with_rate_headers(response, rate)
        },
    )
}

fn with_rate_headers(mut response: Response, rate: RateState) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", u64::from(rate.limit)),
        ("ratelimit-remaining", u64::from(rate.remaining)),
        ("ratelimit-reset", rate.reset_secs),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    response
}

/// Our error shape with Plaid's error kept beside it: `error.plaid` holds Plaid's `error_type`,
/// `error_code`, `error_message`, `display_message` and `request_id`.
fn plaid_failure(failure: PlaidFailure, headers: &HeaderMap) -> Response {
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    let plaid = failure.plaid.map(|p| {
        json!({
            "error_type": p.error_type,
            "error_code": p.error_code,
            "error_message": p.error_message,
            "display_message": p.display_message,
            "request_id": p.request_id,
        })
    });
    let mut error = json!({"code": failure.code, "message": failure.message, "request_id": request_id});
    if let Some(plaid) = plaid {
        error["plaid"] = plaid;
    }
    if let Some(link_token) = failure.link_token {
        error["link_token"] = json!(link_token);
    }
    let mut response = (failure.status, Json(json!({ "error": error }))).into_response();
    if let Some(seconds) = failure.retry_after {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
