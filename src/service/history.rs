//! Decided requests for the approver's history page, and one request's audit trail.
//! Approvers see the items they may approve for; nothing here changes anything.

use super::approvers::ApproverSession;
use super::review::{account_label, AccountLabel};
use super::Context;
use crate::domain::{Money, RequestId, RequestState};
use crate::error::{Error, Result};
use crate::store::approvers;
use crate::store::audit::{self, AuditRow};
use crate::store::requests::{self, RequestRecord};

/// The states the history page lists: the request left the approvers' hands.
pub const DECIDED: [RequestState; 9] = [
    RequestState::Approved,
    RequestState::Executing,
    RequestState::Submitted,
    RequestState::ReauthRequired,
    RequestState::Rejected,
    RequestState::Expired,
    RequestState::Cancelled,
    RequestState::Superseded,
    RequestState::Failed,
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

/// Decided requests, most recently changed first, optionally in one state.
pub async fn history(ctx: &Context, who: &ApproverSession, state: Option<RequestState>) -> Result<Vec<HistoryRow>> {
    let states = match state {
        Some(state) if DECIDED.contains(&state) => vec![state],
        Some(_) => return Ok(Vec::new()),
        None => DECIDED.to_vec(),
    };
    let mut rows = Vec::new();
    for record in requests::decided(ctx.store.reader(), &states, 200).await? {
        if may_view(ctx, who, &record).await? {
            let label = account_label(ctx, &record.item_id, &record.account_id).await?;
            let amount = Money::from_cents(record.amount_cents).unwrap_or(Money::ZERO);
            rows.push(HistoryRow { record, amount, label });
        }
    }
    Ok(rows)
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
