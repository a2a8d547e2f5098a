//! Renew: an expired request becomes a new one with the same intent — a new Plaid authorization,
//! a new hash and fresh approvals — linked to the old one. A request is renewed once (the
//! database refuses a second renewal), and never after its legal name was purged.

use super::idempotency::IdempotencyKey;
use super::idempotency::Reply;
use super::propose::{self, Proposal};
use super::Context;
use crate::domain::{RequestId, RequestState, TransferIntent};
use crate::error::{Error, Result};
use crate::store::agents::AgentRecord;
use crate::store::requests;

pub async fn renew(
    ctx: &Context,
    agent: &AgentRecord,
    id: &RequestId,
    key: IdempotencyKey,
    fingerprint: String,
) -> Result<Reply> {
    let record = requests::find(ctx.store.reader(), id)
        .await?
        .filter(|r| r.agent_id == agent.id)
        .ok_or_else(|| Error::not_found("transfer request"))?;
    if record.state != RequestState::Expired {
        return Err(Error::conflict(
            "invalid_state",
            format!("the request is {}; only expired requests can be renewed", record.state),
        ));
    }
    if crate::store::retention::purged_at(ctx.store.reader(), id).await?.is_some() {
        return Err(Error::conflict(
            "legal_name_purged",
            "the counterparty's legal name was purged after the retention period, so this request cannot be \
             renewed as it was; propose a new transfer with the legal name",
        ));
    }
    let intent =
        TransferIntent::from_json(&record.intent).map_err(|e| anyhow::anyhow!("stored intent: {}", e.message))?;
    propose::propose(ctx, agent, Proposal { intent, key, fingerprint, renews: Some(id.clone()) }).await
}
