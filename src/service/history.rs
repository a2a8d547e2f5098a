//! Decided requests for the approver's history page, and one request's audit trail.
//! Approvers see the items they may approve for; nothing here changes anything.

use super::approvers::ApproverSession;
use super::review::{account_label, AccountLabel};
use super::Context;
use crate::domain::{ApproverId, Money, RequestId, RequestState};
use crate::error::{Error, Result};
use crate::store::approvers;
use crate::store::audit::{self, AuditRow};
use crate::store::requests::{self, RequestRecord};
use std::collections::HashMap;

/// The states the history page lists: the request left the approvers' hands, or never reached
/// them (Plaid declined it, or the account holder must act first).
pub const DECIDED: [RequestState; 11] = [
    RequestState::Approved,
    RequestState::Executing,
    RequestState::Submitted,
    RequestState::ReauthRequired,
    RequestState::Rejected,
    RequestState::Expired,
    RequestState::Cancelled,
    RequestState::Superseded,
    RequestState::Failed,
    RequestState::Declined,
    RequestState::ActionRequired,
];

pub struct HistoryRow {
    pub record: RequestRecord,
    pub amount: Money,
    pub label: AccountLabel,
}

async fn may_view(ctx: &Context, who: &ApproverSession, record: &RequestRecord) -> Result<bool> {
    Ok(who.approver.has_role("approver")
        && approvers::may_approve_for(ctx.store.reader(), &who.approver, &record.item_id).await?)
}

/// Decided requests, most recently changed first, optionally in one state and/or one tier.
pub async fn history(
    ctx: &Context,
    who: &ApproverSession,
    state: Option<RequestState>,
    tier: Option<i64>,
) -> Result<Vec<HistoryRow>> {
    let states = match state {
        Some(state) if DECIDED.contains(&state) => vec![state],
        Some(_) => return Ok(Vec::new()),
        None => DECIDED.to_vec(),
    };
    let mut rows = Vec::new();
    for record in requests::decided(ctx.store.reader(), &states, 200).await? {
        if tier.is_none_or(|tier| tier == record.tier.number()) && may_view(ctx, who, &record).await? {
            let label = account_label(ctx, &record.item_id, &record.account_id).await?;
            let amount = Money::from_cents(record.amount_cents).unwrap_or(Money::ZERO);
            rows.push(HistoryRow { record, amount, label });
        }
    }
    Ok(rows)
}

/// Approvers' usernames by id, for the ids that appear in `rows` (audit rows carry ids only).
pub async fn approver_names(ctx: &Context, rows: &[AuditRow]) -> Result<HashMap<String, String>> {
    let mut names = HashMap::new();
    for id in rows.iter().filter_map(|row| row.fields.approver_id.as_deref()) {
        if names.contains_key(id) {
            continue;
        }
        let approver = approvers::find(ctx.store.reader(), &ApproverId::from_trusted(id.to_owned())).await?;
        names.insert(id.to_owned(), approver.map_or_else(|| id.to_owned(), |a| a.username));
    }
    Ok(names)
}

/// Who rejected a request and when, from its audit trail.
pub async fn rejected_by(ctx: &Context, id: &RequestId) -> Result<Option<(String, i64)>> {
    crate::audit::settle(&ctx.store).await?;
    let rows = audit::for_request(ctx.store.reader(), id.as_str()).await?;
    let names = approver_names(ctx, &rows).await?;
    Ok(rows.iter().filter(|row| row.fields.event_type == "transfer.rejected").find_map(|row| {
        let who = row.fields.approver_id.as_ref()?;
        Some((names.get(who).cloned().unwrap_or_else(|| who.clone()), row.fields.occurred_at))
    }))
}

/// The version that replaced this request (an approver's edit or the agent's renewal), if any.
pub async fn replaced_by(ctx: &Context, id: &RequestId) -> Result<Option<String>> {
    Ok(crate::store::desk::successor_of(ctx.store.reader(), id.as_str()).await?)
}

/// A request and its audit trail, in order.
pub async fn trail(ctx: &Context, who: &ApproverSession, id: &RequestId) -> Result<(HistoryRow, Vec<AuditRow>)> {
    let record = requests::find(ctx.store.reader(), id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
    if !may_view(ctx, who, &record).await? {
        return Err(Error::not_found("transfer request"));
    }
    crate::audit::settle(&ctx.store).await?;
    let rows = audit::for_request(ctx.store.reader(), id.as_str()).await?;
    let label = account_label(ctx, &record.item_id, &record.account_id).await?;
    let amount = Money::from_cents(record.amount_cents).unwrap_or(Money::ZERO);
    Ok((HistoryRow { record, amount, label }, rows))
}
