//! Builds audit records for transfer-request events from the request itself, so every record
//! carries the same identifying fields (agent, thread, item, masked account, tier, hash).

use crate::audit::{mask_account, AuditFields};
use crate::store::requests::RequestRecord;

/// The fields every record about this request shares; callers set outcome and specifics.
pub fn for_request(record: &RequestRecord, event_type: &str, outcome: &str, now_ms: i64) -> AuditFields {
    AuditFields {
        occurred_at: now_ms,
        event_type: event_type.to_owned(),
        transfer_request_id: Some(record.id.to_string()),
        agent_id: Some(record.agent_id.to_string()),
        thread_id: record.intent.get("thread_id").and_then(|v| v.as_str()).map(str::to_owned),
        plaid_product: Some("transfer".into()),
        plaid_item_id: record.plaid_item_id.clone(),
        account_id: Some(mask_account(&record.account_id)),
        risk_tier: Some(record.tier.number()),
        approval_required: Some(record.approvals_required > 0),
        payload_hash: record.payload_hash.clone(),
        outcome: outcome.to_owned(),
        policy_version: Some(record.policy_version.clone()),
        ..AuditFields::default()
    }
}

/// The audit record of a claim for execution (`approved → executing`).
pub fn execution_claimed(record: &RequestRecord, now_ms: i64) -> AuditFields {
    let mut fields = for_request(record, "transfer.execution_claimed", "success", now_ms);
    fields.action_type = Some("write".into());
    fields
}
