//! The transfer request as agents see it. Also what idempotent replays return, byte for byte.

use super::format_ms;
use crate::store::requests::RequestRecord;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
pub struct RequestView {
    pub id: String,
    pub version: i64,
    pub state: &'static str,
    pub tier: i64,
    pub step_up_required: bool,
    pub approvals_required: i64,
    pub policy_version: String,
    pub policy_reasons: Vec<String>,
    /// The approver groups the policy requires, one per approval (or one for all); empty: anyone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approver_groups: Vec<String>,
    pub amount: String,
    pub intent: Value,
    pub payload_hash: Option<String>,
    pub expires_at: Option<String>,
    pub authorization_id: Option<String>,
    pub decision: Option<String>,
    pub decision_rationale: Option<Rationale>,
    pub transfer_id: Option<String>,
    pub transfer_status: Option<String>,
    /// Why Plaid returned the transfer (ACH return code and description), once it has.
    #[serde(rename = "return", skip_serializing_if = "Option::is_none")]
    pub transfer_return: Option<TransferReason>,
    /// Why Plaid failed the transfer before it moved, if it did.
    #[serde(rename = "failure", skip_serializing_if = "Option::is_none")]
    pub transfer_failure: Option<TransferReason>,
    /// The transfer's events from Plaid, oldest first (on `GET /v1/transfers/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_events: Option<Vec<TransferEventView>>,
    /// The item's health as Plaid last reported it (on `GET /v1/transfers/{id}` only), so an agent
    /// sees a broken login before anyone approves into a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_health: Option<String>,
    /// A recurring transfer: its schedule in words and what Plaid made of it (on `GET` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurring: Option<RecurringView>,
    pub link_token: Option<String>,
    pub error: Option<ErrorView>,
    pub rejection_reason: Option<String>,
    pub supersedes: Option<String>,
    pub renews: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A recurring transfer as approvers approved it and as Plaid runs it.
#[derive(Debug, Serialize)]
pub struct RecurringView {
    /// "Debit $250.00 from ••0000 every month on the 1st, from 2027-01-01 to 2027-12-01 — 12
    /// debits, $3,000.00 in total"
    pub summary: String,
    /// How many transfers the schedule makes, and their total; absent for an open-ended one.
    pub occurrences: Option<usize>,
    pub total: Option<String>,
    /// Plaid's recurring transfer, once created: its id, status (`active`, `cancelled`,
    /// `expired`), the transfers it has originated so far, and the next origination date.
    pub recurring_transfer_id: Option<String>,
    pub status: Option<String>,
    pub transfer_ids: Vec<String>,
    pub next_origination_date: Option<String>,
}

/// Plaid's reason for a failed or returned transfer.
#[derive(Debug, Serialize)]
pub struct TransferReason {
    /// The ACH return code (e.g. `R01`) for a return; Plaid's failure code, if any, for a failure.
    pub code: Option<String>,
    pub description: Option<String>,
}

/// One of Plaid's events for the transfer.
#[derive(Debug, Serialize)]
pub struct TransferEventView {
    pub event_id: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: String,
}

impl From<&crate::store::transfer_events::StoredEvent> for TransferEventView {
    fn from(e: &crate::store::transfer_events::StoredEvent) -> Self {
        Self { event_id: e.event_id, event_type: e.event_type.clone(), timestamp: e.occurred_at.clone() }
    }
}

#[derive(Debug, Serialize)]
pub struct Rationale {
    pub code: String,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct ErrorView {
    pub code: String,
    pub message: String,
}

impl From<&RequestRecord> for RequestView {
    fn from(r: &RequestRecord) -> Self {
        Self {
            id: r.id.to_string(),
            version: r.version,
            state: r.state.as_str(),
            tier: r.tier.number(),
            step_up_required: r.step_up,
            approvals_required: r.approvals_required,
            policy_version: r.policy_version.clone(),
            policy_reasons: r.policy_reasons.clone(),
            approver_groups: r.approver_groups.clone(),
            amount: r.intent.get("amount").and_then(Value::as_str).unwrap_or_default().to_owned(),
            intent: r.intent.clone(),
            payload_hash: r.payload_hash.clone(),
            expires_at: r.expires_at.map(format_ms),
            authorization_id: r.authorization_id.clone(),
            decision: r.decision.clone(),
            decision_rationale: r.decision_rationale_code.as_ref().map(|code| Rationale {
                code: code.clone(),
                description: r.decision_rationale_description.clone().unwrap_or_default(),
            }),
            transfer_id: r.transfer_id.clone(),
            transfer_status: r.transfer_status.clone(),
            transfer_return: reason(r, "returned"),
            transfer_failure: reason(r, "failed"),
            transfer_events: None,
            item_health: None,
            recurring: None,
            link_token: r.link_token.clone(),
            error: r
                .error_code
                .as_ref()
                .map(|code| ErrorView { code: code.clone(), message: r.error_message.clone().unwrap_or_default() }),
            rejection_reason: r.rejection_reason.clone(),
            supersedes: r.supersedes.as_ref().map(ToString::to_string),
            renews: r.renews.as_ref().map(ToString::to_string),
            created_at: format_ms(r.created_at),
            updated_at: format_ms(r.updated_at),
        }
    }
}

/// The transfer's failure or return reason, when its status is `status`.
fn reason(r: &RequestRecord, status: &str) -> Option<TransferReason> {
    (r.transfer_status.as_deref() == Some(status)).then(|| TransferReason {
        code: r.transfer_failure_code.clone(),
        description: r.transfer_failure_description.clone(),
    })
}

impl RequestView {
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// One approval as approvers and agents see it.
#[derive(Debug, Serialize)]
pub struct ApprovalView {
    pub approver_id: String,
    pub username: String,
    pub approved_at: String,
    pub step_up_at: Option<String>,
}

/// A request with the approvals it has so far, for approvers.
#[derive(Debug, Serialize)]
pub struct ApproverRequestView {
    #[serde(flatten)]
    pub request: RequestView,
    pub approvals: Vec<ApprovalView>,
}

impl ApproverRequestView {
    pub fn new(record: &RequestRecord, approvals: &[crate::store::approvals::ApprovalRecord]) -> Self {
        let pinned = record.payload_hash.as_deref();
        Self {
            request: RequestView::from(record),
            approvals: approvals
                .iter()
                .filter(|a| Some(a.payload_hash.as_str()) == pinned)
                .map(|a| ApprovalView {
                    approver_id: a.approver_id.to_string(),
                    username: a.username.clone(),
                    approved_at: format_ms(a.created_at),
                    step_up_at: a.step_up_at.map(format_ms),
                })
                .collect(),
        }
    }
}
