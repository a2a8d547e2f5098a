//! `POST /v1/plaid/...`: the tiered Plaid read gateway. The body is Plaid's own request with our
//! `item_id` instead of `access_token`; the answer is Plaid's own shape. Every answer carries the
//! agent's `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` (IETF draft names).

use crate::domain::reads::ReadProduct;
use crate::error::{Error, Result};
use crate::http::extract::{agent_of, Agent, Approver, JsonBody, PresentedKey};
use crate::service::gateway::{self, approvals, limit::RateState, PlaidFailure, ReadAnswer, ReadError};
use crate::service::Context;
use crate::store::agents::AgentRecord;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Json;
use serde_json::{json, Map, Value};
use std::future::Future;

/// The route of one product: `/v1/plaid` + Plaid's path.
pub fn route(product: ReadProduct) -> MethodRouter<Context> {
    post(
        move |State(ctx): State<Context>,
              PresentedKey(key): PresentedKey,
              headers: HeaderMap,
              body: std::result::Result<JsonBody<Map<String, Value>>, Error>| async move {
            // One lookup for the key and everything the read checks; the key is judged first,
            // so a caller without a valid key learns nothing about the body, grants or items.
            let asked = gateway::ask(&ctx, &key, product, body.map(|b| b.typed)).await;
            let (agent, asked) = match asked.and_then(|(lookup, asked)| Ok((agent_of(lookup)?, asked))) {
                Ok(found) => found,
                Err(error) => return error.into_response(),
            };
            limited(&ctx, &agent, &headers, gateway::read(&ctx, &agent, product, asked)).await
        },
    )
}

/// `POST /v1/plaid/reads/{id}`: the agent fetches a tier-2 read an approver approved.
pub async fn fetch(
    State(ctx): State<Context>,
    Agent(agent): Agent,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let fetched = async { approvals::fetch(&ctx, &agent, &id).await.map(ReadAnswer::Plaid) };
    limited(&ctx, &agent, &headers, fetched).await
}

/// `POST /v1/approver/reads/{id}/approve` and `/reject`.
pub async fn approve(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    Ok(Json(approvals::decide(&ctx, &who, &id, true).await?))
}

pub async fn reject(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    Ok(Json(approvals::decide(&ctx, &who, &id, false).await?))
}

/// Runs `read` if the agent's window has room, and puts the `RateLimit-*` headers on the answer.
async fn limited(
    ctx: &Context,
    agent: &AgentRecord,
    headers: &HeaderMap,
    read: impl Future<Output = std::result::Result<ReadAnswer, ReadError>>,
) -> Response {
    let rate = gateway::take_rate(ctx, &agent.id);
    let response = if rate.allowed {
        match read.await {
            Ok(ReadAnswer::Plaid(answer)) => Json(answer).into_response(),
            Ok(ReadAnswer::AwaitingApproval(waiting)) => (StatusCode::ACCEPTED, Json(waiting)).into_response(),
            Err(ReadError::Refused(error)) => error.into_response(),
            Err(ReadError::Plaid(failure)) => plaid_failure(failure, headers),
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
