//! The common approval as one whole transition (`store::transitions`): one statement on
//! PostgreSQL, one transaction with no reads on SQLite. `decide::approve` tries it first and takes
//! its general path — lock, check, count, move — whenever it answers false.

use super::approvers::ApproverSession;
use super::decide::check_open;
use super::{execute, trail, Context};
use crate::audit;
use crate::auth::approval_token;
use crate::domain::{Event, RequestState};
use crate::error::Result;
use crate::store::requests::{Changes, RequestRecord};
use crate::store::transitions;

/// The common approval — the one that meets a quorum of one, with no approver groups — as one
/// whole transition (`store::transitions`: one statement on PostgreSQL): the approval, its token
/// spent, `pending_approval → executing` and their records, computed from the request as
/// `load_for` read it. False when anything differs from that read (the request moved, the window
/// closed, the approver was deactivated, the token or approval is on record already): the general
/// path then decides under the row lock and says which.
pub(super) async fn approve_whole(
    ctx: &Context,
    who: &ApproverSession,
    record: &RequestRecord,
    claims: &approval_token::ApprovalClaims,
    now: i64,
) -> Result<bool> {
    let simple = record.approvals_required <= 1 && record.approver_groups.is_empty();
    if !simple || check_open(record, now).is_err() || record.payload_hash.as_deref() != Some(&claims.payload_hash) {
        return Ok(false);
    }
    let target = RequestState::PendingApproval
        .apply(Event::QuorumMet)
        .and_then(|s| s.apply(Event::Claimed))
        .map_err(anyhow::Error::from)?;
    let changes = Changes::default();
    let after = changes.applied_to(record, target, now);
    let mut approval = trail::for_request(record, "transfer.approval", "success", now);
    approval.approver_id = Some(who.approver.id.to_string());
    approval.approval_timestamp = Some(now);
    let mut approved = trail::for_request(record, "transfer.approved", "success", now);
    approved.approver_id = Some(who.approver.id.to_string());
    approved.approval_timestamp = Some(now);
    let whole = transitions::Whole {
        id: &record.id,
        agent_id: &record.agent_id,
        from: RequestState::PendingApproval,
        read_at: record.updated_at,
        to: target,
        changes: &changes,
        now_ms: now,
        audit: [approval, approved, execute::claim_record(record, now)].into_iter().map(audit::identified).collect(),
        messages: super::events::whole_approved(&after, now)?,
        reply: None,
        approval: Some(transitions::Approval {
            approver_id: &who.approver.id,
            payload_hash: &claims.payload_hash,
            step_up_at: claims.step_up.then_some(claims.iat * 1000),
            token_jti: &claims.jti,
        }),
    };
    match transitions::apply(&ctx.store, whole).await {
        Ok(true) => {
            ctx.notify_change();
            Ok(true)
        }
        Ok(false) => Ok(false),
        Err(error) if error.is_unique_violation() => Ok(false),
        Err(error) => Err(error.into()),
    }
}
