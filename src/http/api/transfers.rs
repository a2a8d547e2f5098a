//! Transfer requests: propose, read (long-poll), list, cancel. Thin: parse, call one service
//! function, render.

use super::json_reply;
use crate::domain::schedule::{RawSchedule, Schedule};
use crate::domain::{RawIntent, RequestId, RequestState, TransferIntent, TransferStatus};
use crate::error::{Error, Result};
use crate::http::extract::{agent_of, Agent, Idempotency, JsonBody, PresentedKey};
use crate::service::idempotency::fingerprint;
use crate::service::propose::{self, Proposal};
use crate::service::view::RequestView;
use crate::service::{cancel, query, Context};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    item_id: String,
    account_id: String,
    #[serde(rename = "type")]
    transfer_type: String,
    network: String,
    #[serde(default)]
    ach_class: Option<String>,
    amount: String,
    description: String,
    user: UserBody,
    thread_id: String,
    reason: String,
    /// A recurring transfer (Plaid's `TransferRecurringSchedule`): tier 3, the whole schedule approved.
    #[serde(default)]
    schedule: Option<ScheduleBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    legal_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    interval_unit: String,
    interval_count: i64,
    interval_execution_day: i64,
    start_date: String,
    #[serde(default)]
    end_date: Option<String>,
}

impl ScheduleBody {
    fn parse(&self) -> Result<Schedule> {
        let raw = RawSchedule {
            interval_unit: &self.interval_unit,
            interval_count: self.interval_count,
            interval_execution_day: self.interval_execution_day,
            start_date: &self.start_date,
            end_date: self.end_date.as_deref(),
        };
        let today = time::OffsetDateTime::now_utc().date();
        Schedule::parse(&raw, today).map_err(|e| Error::unprocessable(e.code, e.message))
    }
}

pub async fn propose(
    State(ctx): State<Context>,
    Agent(agent): Agent,
    Idempotency(key): Idempotency,
    body: JsonBody<ProposeBody>,
) -> Result<Response> {
    let b = &body.typed;
    let raw = RawIntent {
        item_id: &b.item_id,
        account_id: &b.account_id,
        transfer_type: &b.transfer_type,
        network: &b.network,
        ach_class: b.ach_class.as_deref(),
        amount: &b.amount,
        description: &b.description,
        legal_name: &b.user.legal_name,
        thread_id: &b.thread_id,
        reason: &b.reason,
    };
    let mut intent =
        TransferIntent::parse(agent.id.clone(), &raw).map_err(|e| Error::unprocessable(e.code, e.message))?;
    if let Some(schedule) = &b.schedule {
        intent = intent.recurring(schedule.parse()?).map_err(|e| Error::unprocessable(e.code, e.message))?;
    }
    let fingerprint = fingerprint("POST /v1/transfers", &body.value);
    let reply = propose::propose(&ctx, &agent, Proposal { intent, key, fingerprint, renews: None }).await?;
    Ok(json_reply(reply))
}

fn request_id(text: &str) -> Result<RequestId> {
    RequestId::parse(text).ok_or_else(|| Error::not_found("transfer request"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    /// Seconds to wait for the request to leave its in-progress states (at most 60).
    #[serde(default)]
    wait: Option<u64>,
    /// With `wait` on a submitted request: wait until its transfer status is no longer this one.
    #[serde(default)]
    changed_from: Option<String>,
}

pub async fn get(
    State(ctx): State<Context>,
    PresentedKey(key): PresentedKey,
    Path(id): Path<String>,
    params: Result<Query<GetParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RequestView>> {
    // The key and the request in one read; the key is judged before anything else is.
    let id = request_id(&id);
    let (lookup, found) = query::with_key(&ctx, &key, id.as_ref().ok()).await?;
    let agent = agent_of(lookup)?;
    let id = id?;
    let Query(params) = params.map_err(|e| Error::bad_request("invalid_query", e.body_text()))?;
    let wait = Duration::from_secs(params.wait.unwrap_or(0));
    if wait > query::MAX_WAIT {
        return Err(Error::bad_request("invalid_wait", "wait must be at most 60 seconds"));
    }
    let changed_from = params
        .changed_from
        .as_deref()
        .map(|s| {
            TransferStatus::parse(s)
                .ok_or_else(|| Error::bad_request("invalid_changed_from", format!("unknown transfer status {s:?}")))
        })
        .transpose()?;
    Ok(Json(query::get(&ctx, &agent, &id, found, wait, changed_from).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    transfer_status: Option<String>,
}

pub async fn list(
    State(ctx): State<Context>,
    Agent(agent): Agent,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>> {
    let Query(params) = params.map_err(|e| Error::bad_request("invalid_query", e.body_text()))?;
    let state = params
        .state
        .as_deref()
        .map(|s| {
            RequestState::parse(s)
                .ok_or_else(|| Error::bad_request("invalid_state_filter", format!("unknown state {s:?}")))
        })
        .transpose()?;
    let cursor = params
        .cursor
        .as_deref()
        .map(|c| RequestId::parse(c).ok_or_else(|| Error::bad_request("invalid_cursor", "cursor is not a request id")))
        .transpose()?;
    let transfer_status = params
        .transfer_status
        .as_deref()
        .map(|s| {
            TransferStatus::parse(s).ok_or_else(|| {
                Error::bad_request("invalid_transfer_status_filter", format!("unknown transfer status {s:?}"))
            })
        })
        .transpose()?;
    let page = query::list(&ctx, &agent, (state, transfer_status), cursor.as_ref(), params.limit.unwrap_or(50)).await?;
    Ok(Json(json!({ "items": page.items, "next_cursor": page.next_cursor })))
}

/// The request id and idempotency fingerprint of a POST with no body (cancel, resume, renew).
fn bodiless_action(id: &str, verb: &str) -> Result<(RequestId, String)> {
    let id = request_id(id)?;
    let fingerprint = fingerprint(&format!("POST /v1/transfers/{id}/{verb}"), &Value::Null);
    Ok((id, fingerprint))
}

pub async fn cancel(
    State(ctx): State<Context>,
    Agent(agent): Agent,
    Idempotency(key): Idempotency,
    Path(id): Path<String>,
) -> Result<Response> {
    let (id, fingerprint) = bodiless_action(&id, "cancel")?;
    let reply = cancel::cancel(&ctx, &agent, &id, &key, &fingerprint).await?;
    Ok(json_reply(reply))
}

pub async fn resume(
    State(ctx): State<Context>,
    Agent(agent): Agent,
    Idempotency(key): Idempotency,
    Path(id): Path<String>,
) -> Result<Response> {
    let (id, fingerprint) = bodiless_action(&id, "resume")?;
    let reply = crate::service::execute::resume(&ctx, &agent, &id, &key, &fingerprint).await?;
    Ok(json_reply(reply))
}

pub async fn renew(
    State(ctx): State<Context>,
    Agent(agent): Agent,
    Idempotency(key): Idempotency,
    Path(id): Path<String>,
) -> Result<Response> {
    let (id, fingerprint) = bodiless_action(&id, "renew")?;
    let reply = crate::service::renew::renew(&ctx, &agent, &id, key, fingerprint).await?;
    Ok(json_reply(reply))
}
