//! The tiered Plaid read gateway: an agent reads Plaid data with its Countersign key, never a
//! Plaid access token, and every Plaid call it causes is granted, tiered, masked and audited.
//!
//! Order of effects: grant and item checks (refusals never reach Plaid) → one Plaid call, never
//! retried for the agent → masking of PII on the typed answer → one transaction holding the
//! read's audit record (and, for tier 1, its row on the approvers' page; on ITEM_LOGIN_REQUIRED,
//! the item's health). This module must never put any part of Plaid's answer in the audit trail
//! or the logs, and never return an answer it could not mask.

pub mod approvals;
mod asked;
pub mod batch;
pub mod grants;
pub mod limit;
pub mod redact;

pub use asked::{ask, Asked};
pub use grants::{grant_products, parse_products, recent_sensitive};

use super::{now_ms, Context};
use crate::audit::{self, mask_account, AuditFields};
use crate::domain::reads::ReadProduct;
use crate::domain::{AgentId, ItemId, Tier};
use crate::error::{Error, Result};
use crate::plaid::{PlaidApiError, PlaidError};
use crate::store::agents::AgentRecord;
use crate::store::items;
use crate::store::reads::{self as read_rows, SensitiveRead};
use axum::http::StatusCode;
use serde_json::{Map, Value};

/// This process's rate limiter and its batcher of read audit records. The tiers and the rate
/// are the active policy's (`[reads]`), read on every call, so a reload applies at once.
#[derive(Debug, Default)]
pub struct ReadGateway {
    limiter: limit::RateLimiter,
    /// Started on first use, on the runtime that serves reads.
    batcher: std::sync::OnceLock<batch::AuditBatcher>,
}

impl ReadGateway {
    fn batcher(&self, store: &crate::store::Store) -> &batch::AuditBatcher {
        self.batcher.get_or_init(|| batch::AuditBatcher::start(store.clone()))
    }
}

/// Counts one gateway call by `agent` against the active policy's per-agent rate.
pub fn take_rate(ctx: &Context, agent: &AgentId) -> limit::RateState {
    let per_minute = ctx.policies.active().reads.per_agent_per_minute;
    ctx.read_gateway.limiter.take(agent, per_minute, now_ms())
}

/// Plaid said no (or did not answer): what the agent is told, Plaid's own error kept.
#[derive(Debug)]
pub struct PlaidFailure {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub plaid: Option<PlaidApiError>,
    /// ITEM_LOGIN_REQUIRED: an update-mode Link token for the end user to repair the item.
    pub link_token: Option<String>,
    pub retry_after: Option<u64>,
}

#[derive(Debug)]
pub enum ReadError {
    /// Refused by Countersign (grants, tiers, input); Plaid was not called.
    Refused(Error),
    Plaid(PlaidFailure),
}

impl From<Error> for ReadError {
    fn from(error: Error) -> Self {
        ReadError::Refused(error)
    }
}

impl From<anyhow::Error> for ReadError {
    fn from(error: anyhow::Error) -> Self {
        ReadError::Refused(error.into())
    }
}

impl From<crate::store::StoreError> for ReadError {
    fn from(error: crate::store::StoreError) -> Self {
        ReadError::Refused(error.into())
    }
}

/// Plaid sends no `Retry-After`; its read limits are counted per minute.
const PLAID_RETRY_AFTER_SECS: u64 = 60;
/// Masked account ids kept on one audit record.
const MAX_AUDITED_ACCOUNTS: usize = 20;

/// What a read produced: Plaid's answer, or (tier 2) a request waiting for an approver.
pub enum ReadAnswer {
    Plaid(Value),
    AwaitingApproval(Value),
}

fn not_granted(product: ReadProduct) -> Error {
    Error::forbidden("product_not_granted", format!("this agent is not granted Plaid {} reads", product.as_str()))
}

/// One read by `agent` (whose key `ask` found): `asked` holds Plaid's request with `item_id`
/// instead of `access_token` (plus our optional `reason` and `thread_id`). Returns Plaid's
/// answer, masked unless the agent's grant of the product is unmasked; at tier 2 the read waits
/// for an approver instead (`approvals`).
pub async fn read(
    ctx: &Context,
    agent: &AgentRecord,
    product: ReadProduct,
    asked: Asked,
) -> std::result::Result<ReadAnswer, ReadError> {
    let (ours, body) = asked.request?;
    let unmasked = asked.grant.ok_or_else(|| not_granted(product))?;
    let policy = ctx.policies.active();
    let tier = policy.reads.tier(product);
    if tier >= Tier::Notify && ours.reason.is_none() {
        return Err(Error::unprocessable(
            "reason_required",
            format!("{} reads are reviewed by approvers: say why in `reason`", product.as_str()),
        )
        .into());
    }
    let item = asked
        .item
        .ok_or_else(|| Error::unprocessable("unknown_item", format!("item {} is not registered", ours.item_id)))?;
    if !asked.item_allowed {
        return Err(Error::forbidden("item_not_allowed", format!("this agent may not use item {}", item.id)).into());
    }
    let call = Call {
        agent: &agent.id,
        item: &item,
        product,
        tier,
        policy_version: policy.version.clone(),
        unmasked,
        reason: ours.reason,
        thread_id: ours.thread_id,
        approval: None,
    };
    if tier >= Tier::Approve {
        return Ok(ReadAnswer::AwaitingApproval(approvals::request(ctx, &call, &body).await?));
    }
    perform(ctx, call, body).await.map(ReadAnswer::Plaid)
}

/// The agent's grant of `product`: whether it is unmasked; 403 when not granted.
async fn granted(ctx: &Context, agent: &AgentRecord, product: ReadProduct) -> std::result::Result<bool, ReadError> {
    let grant = read_rows::grant_of(ctx.store.reader(), agent.id.as_str(), product.as_str()).await?;
    Ok(grant.ok_or_else(|| not_granted(product))?)
}

/// Who approved a tier-2 read, and when.
pub struct Approval {
    pub approver_id: String,
    pub at_ms: i64,
}

/// A read about to reach Plaid: who, what, at which tier, on whose approval.
pub struct Call<'a> {
    pub agent: &'a AgentId,
    pub item: &'a items::ItemRecord,
    pub product: ReadProduct,
    pub tier: Tier,
    /// The policy that set the tier (for a tier-2 read, the one in force when it was asked for).
    pub policy_version: String,
    pub unmasked: bool,
    pub reason: Option<String>,
    pub thread_id: Option<String>,
    pub approval: Option<Approval>,
}

/// The Plaid call itself (never retried), masking, and the read's records.
async fn perform(ctx: &Context, call: Call<'_>, mut body: Map<String, Value>) -> std::result::Result<Value, ReadError> {
    let access_token = ctx.master_key.decrypt(&call.item.access_token_enc).map_err(Error::from)?;
    let requested_accounts = requested_accounts(&body);
    body.insert("access_token".into(), Value::String(access_token.clone()));
    let product = call.product;
    let called = ctx.plaid.read_product(product.endpoint(), &Value::Object(body)).await;
    let masked = !call.unmasked && product.is_redacted();
    let answer = called.and_then(|answer| if masked { redacted(product, answer) } else { Ok(answer) });

    let mut record = Record { call, accounts: requested_accounts, plaid_request_id: None, error_code: None };
    match answer {
        Ok(answer) => {
            record.plaid_request_id = answer.get("request_id").and_then(Value::as_str).map(str::to_owned);
            if record.accounts.is_empty() {
                record.accounts = answered_accounts(&answer);
            }
            write_record(ctx, &record, None).await?;
            Ok(answer)
        }
        Err(error) => {
            record.plaid_request_id = error.request_id().map(str::to_owned);
            record.error_code = Some(error.code().map_or_else(|| transport_kind(&error), str::to_owned));
            let login_required = error.is_login_required();
            let mut failure = failure_for(error);
            let item = record.call.item;
            if login_required {
                failure.link_token =
                    ctx.plaid.update_mode_link_token(&access_token, item.id.as_str()).await.ok().map(|l| l.link_token);
            }
            write_record(ctx, &record, login_required.then_some(&item.id)).await?;
            Err(ReadError::Plaid(failure))
        }
    }
}

fn transport_kind(error: &PlaidError) -> String {
    match error {
        PlaidError::Decode(_) => "decode".into(),
        _ => "transport".into(),
    }
}

/// Masks the answer on its typed form; an answer that does not have Plaid's shape is not
/// passed on at all (it could not be masked).
fn redacted(product: ReadProduct, answer: Value) -> std::result::Result<Value, PlaidError> {
    let decode = |e: serde_json::Error| PlaidError::Decode(format!("{} answer: {e}", product.endpoint()));
    let value = match product {
        ReadProduct::Auth => {
            let mut typed: redact::AuthGetResponse = serde_json::from_value(answer).map_err(decode)?;
            typed.redact();
            serde_json::to_value(typed)
        }
        ReadProduct::Identity => {
            let mut typed: redact::IdentityGetResponse = serde_json::from_value(answer).map_err(decode)?;
            typed.redact();
            serde_json::to_value(typed)
        }
        _ => Ok(answer),
    };
    value.map_err(decode)
}

fn failure_for(error: PlaidError) -> PlaidFailure {
    match error {
        PlaidError::Api { status, error } => {
            let (status, code, retry_after) = match status {
                429 => (StatusCode::TOO_MANY_REQUESTS, "plaid_rate_limited", Some(PLAID_RETRY_AFTER_SECS)),
                _ if error.error_code == "ITEM_LOGIN_REQUIRED" => {
                    (StatusCode::BAD_REQUEST, "item_login_required", None)
                }
                // Our own credentials or Plaid's trouble: not the agent's request.
                _ if status >= 500 || error.error_code == "INVALID_API_KEYS" => {
                    (StatusCode::BAD_GATEWAY, "plaid_error", None)
                }
                _ => (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), "plaid_error", None),
            };
            let message = format!("Plaid answered {}: {}", error.error_code, error.error_message);
            PlaidFailure { status, code, message, plaid: Some(error), link_token: None, retry_after }
        }
        PlaidError::Transport(_) | PlaidError::Decode(_) => PlaidFailure {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "plaid_unavailable",
            message: "Plaid did not answer, or answered in a shape that could not be checked; retry later".into(),
            plaid: None,
            link_token: None,
            retry_after: Some(1),
        },
    }
}

/// Account ids the request names (`options.account_ids`, or `options.account_id` of
/// /transactions/sync), masked.
fn requested_accounts(body: &Map<String, Value>) -> Vec<String> {
    let options = body.get("options");
    let listed = options.and_then(|o| o.get("account_ids")).and_then(Value::as_array);
    let single = options.and_then(|o| o.get("account_id")).and_then(Value::as_str);
    let ids: Vec<&str> = match (listed, single) {
        (Some(list), _) => list.iter().filter_map(Value::as_str).collect(),
        (None, Some(id)) => vec![id],
        _ => Vec::new(),
    };
    ids.into_iter().take(MAX_AUDITED_ACCOUNTS).map(mask_account).collect()
}

/// Account ids the answer lists (`accounts[].account_id`), masked.
fn answered_accounts(answer: &Value) -> Vec<String> {
    answer["accounts"]
        .as_array()
        .map(|list| {
            list.iter().filter_map(|a| a["account_id"].as_str()).take(MAX_AUDITED_ACCOUNTS).map(mask_account).collect()
        })
        .unwrap_or_default()
}

/// What one read leaves behind.
struct Record<'a> {
    call: Call<'a>,
    /// Masked.
    accounts: Vec<String>,
    plaid_request_id: Option<String>,
    error_code: Option<String>,
}

/// The read's audit record — with its row on the approvers' page (tier 1 and up) and the item's
/// health (ITEM_LOGIN_REQUIRED) — in one transaction.
async fn write_record(ctx: &Context, record: &Record<'_>, login_required: Option<&ItemId>) -> Result<()> {
    let now = now_ms();
    let outcome = if record.error_code.is_some() { "error" } else { "success" };
    let accounts = (!record.accounts.is_empty()).then(|| record.accounts.join(","));
    let call = &record.call;
    let unmasked = call.unmasked && call.product.is_redacted();
    let event_type = if unmasked { "plaid.read.unmasked" } else { "plaid.read" };
    let fields = AuditFields {
        occurred_at: now,
        event_type: event_type.into(),
        agent_id: Some(call.agent.to_string()),
        thread_id: call.thread_id.clone(),
        plaid_product: Some(call.product.as_str().into()),
        plaid_endpoint: Some(call.product.endpoint().into()),
        plaid_item_id: Some(call.item.plaid_item_id.clone()),
        account_id: accounts.clone(),
        action_type: Some("read".into()),
        risk_tier: Some(call.tier.number()),
        policy_version: Some(call.policy_version.clone()),
        approval_required: Some(call.approval.is_some()),
        approver_id: call.approval.as_ref().map(|a| a.approver_id.clone()),
        approval_timestamp: call.approval.as_ref().map(|a| a.at_ms),
        plaid_request_id: record.plaid_request_id.clone(),
        outcome: outcome.into(),
        error_code: record.error_code.clone(),
        ..AuditFields::default()
    };
    if call.tier < Tier::Notify && login_required.is_none() {
        return ctx.read_gateway.batcher(&ctx.store).append(fields).await;
    }
    let mut tx = ctx.store.begin().await?;
    if let Some(item) = login_required {
        // Plaid's answer now is evidence as of now: only a webhook Plaid signed later overrides it.
        let seen_at = now / 1000;
        items::set_health_reason(&mut tx, item, items::LOGIN_REQUIRED, Some("ITEM_LOGIN_REQUIRED"), seen_at, now)
            .await?;
    }
    if call.tier >= Tier::Notify {
        let row = SensitiveRead {
            id: format!("rd_{}", uuid::Uuid::now_v7().simple()),
            occurred_at: now,
            agent_id: call.agent.to_string(),
            item_id: call.item.id.to_string(),
            product: call.product.as_str().into(),
            tier: call.tier.number(),
            accounts: accounts.clone(),
            reason: call.reason.clone().unwrap_or_default(),
            unmasked,
            outcome: outcome.into(),
            plaid_request_id: record.plaid_request_id.clone(),
        };
        read_rows::insert_sensitive(&mut tx, &row).await?;
        let headline = format!(
            "Tier {} read: agent {} read {} of item {} ({})",
            call.tier.number(),
            call.agent,
            call.product.as_str(),
            call.item.id,
            if unmasked { "unmasked" } else { "masked" }
        );
        crate::notify::alerts::enqueue_notice(&mut tx, "gateway.sensitive_read", &headline, now).await?;
    }
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    Ok(())
}
