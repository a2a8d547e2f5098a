//! Per-transfer evidence for compliance: one JSON document proving who approved which payload and
//! that what executed is what was approved, with the chain proof an auditor can check offline.

use super::audit_export::require_compliance;
use super::{format_ms, now_ms, trail, Context};
use crate::audit::checkpoint::{self, CheckpointKey};
use crate::audit::export::ExportRecord;
use crate::audit::{self};
use crate::domain::RequestId;
use crate::error::{Error, Result};
use crate::service::approvers::ApproverSession;
use crate::store::{approvals, audit as rows, requests, retention};
use serde_json::{json, Value};

/// How each record's hash is computed, stated in the document so it is self-describing.
const HASH_RULE: &str = "hash = hex(SHA-256(prev_hash || canonical JSON of the record's stored fields plus seq, \
    keys sorted, no whitespace, times as integer milliseconds)); signature = Ed25519 over \
    \"countersign-audit-checkpoint/v1\\n{seq}\\n{hash}\\n{signed_at}\"";

pub async fn evidence(ctx: &Context, who: &ApproverSession, id: &RequestId) -> Result<Value> {
    require_compliance(who)?;
    let record = requests::find(ctx.store.reader(), id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    let mut viewed = trail::for_request(&record, "audit.evidence_viewed", "success", now);
    viewed.approver_id = Some(who.approver.id.to_string());
    viewed.action_type = Some("read".into());
    audit::append(&mut tx, viewed).await?;
    ctx.store.commit(tx).await?;
    audit::settle(&ctx.store).await?;

    let records = rows::for_request(ctx.store.reader(), id.as_str()).await?;
    let approvals = approvals::for_request(ctx.store.reader(), id).await?;
    let purged_at = retention::purged_at(ctx.store.reader(), id).await?;
    let last_seq = records.last().map_or(0, |r| r.seq);
    let key = CheckpointKey::from_master(&ctx.master_key);
    // The newest checkpoint, signed now if none covers this request's last record yet.
    let checkpoint = match crate::store::checkpoints::latest(ctx.store.reader()).await? {
        Some(latest) if latest.seq >= last_seq => Some(checkpoint::Checkpoint::from_row(&latest)),
        _ => checkpoint::sign_head(&ctx.store, &key, &ctx.audit_anchors, now).await?,
    };
    let plaid_request_ids: Vec<&str> = records.iter().filter_map(|r| r.fields.plaid_request_id.as_deref()).collect();
    let executed = records.iter().rev().find(|r| r.fields.event_type == "transfer.executed");
    Ok(json!({
        "request": {
            "id": record.id.as_str(),
            "state": record.state.as_str(),
            "version": record.version,
            "supersedes": record.supersedes.as_ref().map(RequestId::as_str),
            "renews": record.renews.as_ref().map(RequestId::as_str),
            "agent_id": record.agent_id.as_str(),
            "item_id": record.item_id.as_str(),
            "account_id": audit::mask_account(&record.account_id),
            "tier": record.tier.number(),
            "step_up_required": record.step_up,
            "approvals_required": record.approvals_required,
            "policy_version": record.policy_version,
            "policy_reasons": record.policy_reasons,
            "intent": record.intent,
            "pii_purged_at": purged_at.map(format_ms),
            "created_at": format_ms(record.created_at),
            "updated_at": format_ms(record.updated_at),
            "error_code": record.error_code,
            "rejection_reason": record.rejection_reason,
        },
        "payload_hash": record.payload_hash,
        "executed_payload_hash": executed.and_then(|r| r.fields.executed_payload_hash.clone()),
        "approvals": approvals.iter().map(|a| json!({
            "approver_id": a.approver_id.as_str(),
            "username": a.username,
            "payload_hash": a.payload_hash,
            "step_up_at": a.step_up_at.map(format_ms),
            "approved_at": format_ms(a.created_at),
        })).collect::<Vec<_>>(),
        "plaid": {
            "authorization_id": record.authorization_id,
            "decision": record.decision,
            "transfer_id": record.transfer_id,
            "transfer_status": record.transfer_status,
            "plaid_request_ids": plaid_request_ids,
        },
        "records": records.iter().map(ExportRecord::from_row).collect::<Vec<_>>(),
        "chain_proof": {
            "hash_rule": HASH_RULE,
            "links": records.iter().map(|r| json!({"seq": r.seq, "prev_hash": r.prev_hash, "hash": r.hash})).collect::<Vec<_>>(),
            "checkpoint": checkpoint,
            "public_key": key.public_key_hex(),
        },
    }))
}
