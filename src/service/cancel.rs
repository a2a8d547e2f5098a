//! Cancel: the agent withdraws a request that has not executed. The state changes first (so
//! nobody can execute it any more), then Plaid's authorization is cancelled to free the limit.
//! A submitted request's transfer is cancelled at Plaid instead, while Plaid still allows it.

use super::approvers::ApproverSession;
use super::idempotency::Reply;
use super::idempotency::{self, IdempotencyKey, Started};
use super::view::RequestView;
use super::{now_ms, trail, Context};
use crate::audit;
use crate::domain::{Event, RequestId, RequestState};
use crate::error::{Error, Result};
use crate::store::agents::AgentRecord;
use crate::store::approvers;
use crate::store::idempotency as keys;
use crate::store::requests::{self, Changes, RequestRecord};

pub async fn cancel(
    ctx: &Context,
    agent: &AgentRecord,
    id: &RequestId,
    key: &IdempotencyKey,
    fingerprint: &str,
) -> Result<Reply> {
    let now = now_ms();
    let mut tx = match idempotency::begin(&ctx.store, &agent.id, key, fingerprint, now).await? {
        Started::Answered(reply) => return Ok(reply),
        Started::Proceed(tx, _) => tx,
    };
    let record = requests::find_in(&mut tx, id)
        .await?
        .filter(|r| r.agent_id == agent.id)
        .ok_or_else(|| Error::not_found("transfer request"))?;
    if record.state == RequestState::Submitted {
        // Plaid is never called with a transaction open: the key stays claimed meanwhile.
        ctx.store.commit(tx).await?;
        return cancel_transfer(ctx, agent, &record, key).await;
    }
    let won = record.state != RequestState::Cancelled
        && requests::transition(
            &mut tx,
            id,
            &RequestState::sources_of(Event::AgentCancelled),
            RequestState::Cancelled,
            &Changes::default(),
            now,
        )
        .await?;
    let current = requests::find_in(&mut tx, id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
    if current.state != RequestState::Cancelled {
        return Err(Error::conflict(
            "invalid_state",
            format!("the request is {}; it can no longer be cancelled", current.state),
        ));
    }
    if won {
        audit::append(&mut tx, trail::for_request(&current, "transfer.cancelled", "cancelled", now)).await?;
        super::events::request_changed(ctx, &mut tx, id, now).await?;
    }
    let reply = Reply { status: 200, body: RequestView::from(&current).to_json_string() };
    idempotency::finish(&mut tx, &agent.id, key, reply.status, &reply.body).await?;
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    if won {
        release_authorization(ctx, &current).await;
    }
    Ok(reply)
}

/// A submitted request's transfer, cancelled at Plaid while Plaid still calls it `cancellable`
/// (the transfer status becomes `cancelled`, audited); otherwise 409 `transfer_not_cancellable`.
/// The agent's key is answered with the outcome, or released when Plaid gave no definite answer.
async fn cancel_transfer(
    ctx: &Context,
    agent: &AgentRecord,
    record: &RequestRecord,
    key: &IdempotencyKey,
) -> Result<Reply> {
    let (mut tx, answer) = ask_plaid_to_cancel(ctx, record, None).await?;
    let reply = match answer {
        PlaidAnswer::NoAnswer => {
            keys::release(&mut tx, &agent.id, key.as_str()).await?;
            ctx.store.commit(tx).await?;
            return Err(plaid_gave_no_answer());
        }
        // Stored like any answer, so a retry with the same key gets these same bytes.
        PlaidAnswer::NotCancellable => Reply { status: 409, body: not_cancellable().to_json(None).to_string() },
        PlaidAnswer::Cancelled(updated) => Reply { status: 200, body: RequestView::from(&*updated).to_json_string() },
    };
    idempotency::finish(&mut tx, &agent.id, key, reply.status, &reply.body).await?;
    ctx.store.commit(tx).await?;
    if reply.status == 200 {
        ctx.notify_change();
    }
    Ok(reply)
}

/// An approver cancels a submitted request's transfer from the request page: the same call to
/// Plaid and the same records as the agent's cancel, with the approver named in the audit record.
pub async fn cancel_transfer_as_approver(
    ctx: &Context,
    who: &ApproverSession,
    id: &RequestId,
) -> Result<RequestRecord> {
    let record = requests::find(ctx.store.reader(), id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
    if !who.approver.has_role("approver") {
        return Err(Error::forbidden("not_an_approver", "this account does not have the approver role"));
    }
    if !approvers::may_approve_for(ctx.store.reader(), &who.approver, &record.item_id).await? {
        return Err(Error::forbidden("approver_not_allowed", "you may not act on transfers for this item"));
    }
    if record.state != RequestState::Submitted {
        return Err(Error::conflict(
            "invalid_state",
            format!("the request is {}; only a submitted transfer can be cancelled at Plaid", record.state),
        ));
    }
    let (tx, answer) = ask_plaid_to_cancel(ctx, &record, Some(&who.approver.id.to_string())).await?;
    ctx.store.commit(tx).await?;
    match answer {
        PlaidAnswer::Cancelled(updated) => {
            ctx.notify_change();
            Ok(*updated)
        }
        PlaidAnswer::NotCancellable => Err(Error::conflict(not_cancellable().code, not_cancellable().message)),
        PlaidAnswer::NoAnswer => Err(plaid_gave_no_answer()),
    }
}

/// What Plaid said to `/transfer/cancel`.
enum PlaidAnswer {
    /// Cancelled: the request as it now stands.
    Cancelled(Box<RequestRecord>),
    /// Plaid refused: the transfer has moved past pending.
    NotCancellable,
    /// No definite answer (timeout, 5xx, …): nothing recorded, try again.
    NoAnswer,
}

/// Calls `/transfer/cancel` with no transaction open, then opens one holding the audit record of
/// a definite answer and, when Plaid cancelled, the transfer status moved to `cancelled`. The
/// caller adds its own records and commits.
async fn ask_plaid_to_cancel(
    ctx: &Context,
    record: &RequestRecord,
    approver_id: Option<&str>,
) -> Result<(crate::store::Tx, PlaidAnswer)> {
    let recurring = crate::store::recurring::for_request(ctx.store.reader(), &record.id).await?;
    let (endpoint, answered) = match &recurring {
        Some(recurring) => {
            ("/transfer/recurring/cancel", ctx.plaid.cancel_recurring(&recurring.recurring_transfer_id).await)
        }
        None => {
            let transfer_id = record.transfer_id.as_deref().unwrap_or_default();
            ("/transfer/cancel", ctx.plaid.cancel_transfer(transfer_id).await)
        }
    };
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    // Plaid refuses to cancel a recurring transfer that is no longer active with a 400 of its own.
    let refused = |error: &crate::plaid::PlaidError| match &recurring {
        Some(_) => !error.is_indeterminate() && error.code().is_some(),
        None => error.code() == Some("TRANSFER_NOT_CANCELLABLE"),
    };
    match &answered {
        Err(error) if !refused(error) => {
            tracing::warn!(request = %record.id, error = %error, "cancelling the transfer at Plaid failed");
            return Ok((tx, PlaidAnswer::NoAnswer));
        }
        _ => {}
    }
    let mut fields = trail::for_request(record, "transfer.cancel_requested", "success", now);
    fields.plaid_endpoint = Some(endpoint.into());
    fields.action_type = Some("write".into());
    fields.approver_id = approver_id.map(str::to_owned);
    fields.approval_timestamp = approver_id.map(|_| now);
    match &answered {
        Err(error) => {
            fields.outcome = "error".into();
            fields.error_code = error.code().map(Into::into);
            fields.plaid_request_id = error.request_id().map(Into::into);
        }
        Ok(response) => fields.plaid_request_id = Some(response.request_id.clone()),
    }
    audit::append(&mut tx, fields).await?;
    if answered.is_err() {
        return Ok((tx, PlaidAnswer::NotCancellable));
    }
    if let Some(recurring) = recurring {
        // Future originations stop; transfers already originated keep their own course.
        let observed = crate::store::recurring::Observed {
            recurring_transfer_id: &recurring.recurring_transfer_id,
            status: "cancelled",
            transfer_ids: &recurring.transfer_ids,
            next_origination_date: None,
        };
        crate::store::recurring::record(&mut tx, &record.id, &observed, now).await?;
        requests::set_transfer_status(&mut tx, &record.id, "cancelled", now).await?;
        super::events::request_event(ctx, &mut tx, &record.id, "transfer.recurring_cancelled", now).await?;
        let updated =
            requests::find_in(&mut tx, &record.id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
        return Ok((tx, PlaidAnswer::Cancelled(Box::new(updated))));
    }
    // Plaid's `cancelled` event arrives by event sync too; the status moves once either way.
    let current = record.transfer_status.as_deref().unwrap_or("pending");
    let cancelled = crate::domain::TransferStatus::Cancelled.as_str();
    if requests::advance_transfer_status(&mut tx, &record.id, current, cancelled, (None, None), now).await? {
        super::events::request_event(ctx, &mut tx, &record.id, "transfer.cancelled", now).await?;
    }
    let updated = requests::find_in(&mut tx, &record.id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
    Ok((tx, PlaidAnswer::Cancelled(Box::new(updated))))
}

fn not_cancellable() -> crate::error::ErrorBody {
    crate::error::ErrorBody {
        code: "transfer_not_cancellable",
        message: "Plaid no longer lets this transfer be cancelled (it has moved past pending)".into(),
    }
}

fn plaid_gave_no_answer() -> Error {
    Error::client(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "plaid_unavailable",
        "Plaid did not confirm the cancellation; try again",
    )
}

/// Cancels the request's Plaid authorization (if any) and audits the result. A failure is logged
/// and audited but not retried: an unused authorization lapses on its own within the hour.
pub async fn release_authorization(ctx: &Context, record: &RequestRecord) {
    let Some(authorization_id) = record.authorization_id.as_deref() else {
        return;
    };
    let result = ctx.plaid.cancel_authorization(authorization_id).await;
    let (outcome, error_code, plaid_request_id) = match &result {
        Ok(response) => ("success", None, Some(response.request_id.clone())),
        Err(error) => {
            tracing::warn!(request = %record.id, error = %error, "cancelling the Plaid authorization failed");
            ("error", Some(error.code().unwrap_or("plaid_unavailable").to_owned()), error.request_id().map(Into::into))
        }
    };
    let written: Result<()> = async {
        let now = now_ms();
        let mut tx = ctx.store.begin().await?;
        let mut fields = trail::for_request(record, "transfer.authorization_cancel", outcome, now);
        fields.plaid_endpoint = Some("/transfer/authorization/cancel".into());
        fields.action_type = Some("write".into());
        fields.error_code = error_code;
        fields.plaid_request_id = plaid_request_id;
        audit::append(&mut tx, fields).await?;
        ctx.store.commit(tx).await?;
        Ok(())
    }
    .await;
    if let Err(error) = written {
        tracing::error!(request = %record.id, error = %error, "could not audit an authorization cancel");
    }
}
