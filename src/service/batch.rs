//! Batch approval from the inbox: several tier-2 requests below the step-up amount, confirmed
//! once as a whole, then decided one by one through the same `decide` calls as a single approval
//! (a token bound to each request's pinned hash, then approve), so each is checked, audited and
//! executed exactly as if approved on its own page. One refusal does not stop the others.

use super::approvers::ApproverSession;
use super::inbox::is_batchable;
use super::{decide, Context};
use crate::domain::RequestId;
use crate::error::{Error, Result};
use crate::store::requests;

/// One request of a batch, with the payload hash the approver was shown for it.
pub struct Shown {
    pub id: RequestId,
    pub payload_hash: String,
}

/// What became of one request of the batch.
pub struct Decided {
    pub id: RequestId,
    pub outcome: Result<()>,
}

/// Approves each request in turn; a request that is not batchable (it needs a TOTP code or
/// several approvers) is refused with `not_batchable` and left for its own page.
pub async fn approve_each(ctx: &Context, who: &ApproverSession, batch: &[Shown]) -> Vec<Decided> {
    let mut decided = Vec::with_capacity(batch.len());
    for shown in batch {
        let outcome = approve_one(ctx, who, shown).await;
        decided.push(Decided { id: shown.id.clone(), outcome });
    }
    decided
}

async fn approve_one(ctx: &Context, who: &ApproverSession, shown: &Shown) -> Result<()> {
    let record =
        requests::find(ctx.store.reader(), &shown.id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
    if !is_batchable(&record) {
        return Err(Error::conflict(
            "not_batchable",
            "this request needs a fresh code or several approvers: approve it on its own page",
        ));
    }
    let grant = decide::issue_token(ctx, who, &shown.id, &shown.payload_hash, None).await?;
    decide::approve(ctx, who, &shown.id, &grant.approval_token).await?;
    Ok(())
}
