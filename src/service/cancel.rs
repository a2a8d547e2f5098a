//! Cancel: the agent withdraws a request that has not executed. The state changes first (so
//! nobody can execute it any more), then Plaid's authorization is cancelled to free the limit.

use super::idempotency::{self, IdempotencyKey, Started};
use super::propose::Reply;
use super::view::RequestView;
use super::{now_ms, trail, Context};
use crate::audit;
use crate::domain::{Event, RequestId, RequestState};
use crate::error::{Error, Result};
use crate::store::agents::AgentRecord;
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
