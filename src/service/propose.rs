//! Propose: an agent asks to move money. Plaid decides first; only an approved authorization
//! becomes a request waiting for humans (a row, nothing held in memory).
//!
//! Order of effects: (1) check item and account, (2) one transaction claims the Idempotency-Key,
//! stores the request with a freshly generated Plaid idempotency key and audits the proposal,
//! (3) `/transfer/authorization/create` with that key, outside any transaction, (4) one transaction
//! applies Plaid's decision, audits it and stores the response. A crash between (2) and (4) is
//! resumed by the agent's retry with the same Idempotency-Key (or by the reconciler): same Plaid
//! key, same authorization.

use super::authorize::{authorize, Authorized};
use super::idempotency::{self, Claim, IdempotencyKey, Started};
use super::view::RequestView;
use super::{now_ms, registry, trail, Context};
use crate::audit;
use crate::domain::{Assessment, RequestId, RequestState, TransferIntent};
use crate::error::{Error, Result};
use crate::plaid::PlaidError;
use crate::store::agents::AgentRecord;
use crate::store::requests::{self, NewRequest, RequestRecord};
use crate::store::{idempotency as keys, Tx};

/// A JSON response to hand back (and to replay for the same Idempotency-Key).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

pub struct Proposal {
    pub intent: TransferIntent,
    pub key: IdempotencyKey,
    pub fingerprint: String,
    /// The expired request this one renews, if any.
    pub renews: Option<RequestId>,
}

const CREATED: u16 = 201;

pub async fn propose(ctx: &Context, agent: &AgentRecord, proposal: Proposal) -> Result<Reply> {
    let Proposal { intent, key, fingerprint, renews } = proposal;
    registry::usable_item(ctx, agent, &intent.item_id, intent.account_id.as_str()).await?;

    let now = now_ms();
    let (mut tx, claim) = match idempotency::begin(&ctx.store, &agent.id, &key, &fingerprint, now).await? {
        Started::Answered(reply) => return Ok(reply),
        Started::Proceed(tx, claim) => (tx, claim),
    };
    let record = match claim {
        Claim::Replay { .. } | Claim::InFlight => {
            return Err(anyhow::anyhow!("idempotency::begin answers these").into())
        }
        Claim::Resume { request_id: Some(id) } => {
            let record = requests::find_in(&mut tx, &RequestId::from_trusted(id))
                .await?
                .ok_or_else(|| anyhow::anyhow!("idempotency key points at a missing request"))?;
            if record.state != RequestState::Proposed {
                let reply = reply_for(&record);
                idempotency::finish(&mut tx, &agent.id, &key, reply.status, &reply.body).await?;
                ctx.store.commit(tx).await?;
                return Ok(reply);
            }
            ctx.store.commit(tx).await?;
            record
        }
        Claim::Fresh | Claim::Resume { request_id: None } => {
            let new =
                NewVersion { intent: &intent, supersedes: None, renews: renews.as_ref(), version: 1, replaces: None };
            let record = insert_proposed(&mut tx, ctx, new, now).await?;
            keys::link_request(&mut tx, &agent.id, key.as_str(), record.id.as_str()).await?;
            ctx.store.commit(tx).await?;
            record
        }
    };

    match authorize(ctx, &record, Some((&agent.id, &key))).await? {
        Authorized::Settled { reply, .. } => Ok(reply),
        Authorized::Indeterminate(error) => Err(give_way(ctx, agent, &key, &record, &error).await),
    }
}

/// What distinguishes one version of a request from another.
pub struct NewVersion<'a> {
    pub intent: &'a TransferIntent,
    pub supersedes: Option<&'a RequestId>,
    pub renews: Option<&'a RequestId>,
    pub version: i64,
    /// The assessment of the version this one replaces (an edit): the new one keeps at least it.
    pub replaces: Option<&'a Assessment>,
}

/// Stores a new request in `proposed`, with a fresh Plaid idempotency key generated before any
/// call to Plaid, and audits it.
pub async fn insert_proposed(tx: &mut Tx, ctx: &Context, new: NewVersion<'_>, now: i64) -> Result<RequestRecord> {
    let id = RequestId::generate();
    let intent = new.intent;
    let mut assessment = ctx.policy.assess_transfer(intent.amount);
    if let Some(replaced) = new.replaces {
        assessment = assessment.at_least(replaced);
    }
    let plaid_key = format!("cs-{}", uuid::Uuid::new_v4().simple());
    let intent_json = intent.to_json();
    let record = requests::insert(
        tx,
        NewRequest {
            id: &id,
            agent_id: &intent.agent_id,
            item_id: &intent.item_id,
            account_id: intent.account_id.as_str(),
            tier: assessment.tier,
            step_up: assessment.step_up,
            approvals_required: i64::from(assessment.approvals_required),
            policy_version: &ctx.policy.version,
            policy_reasons: &assessment.reasons,
            intent: &intent_json,
            amount_cents: intent.amount.cents(),
            plaid_idempotency_key: &plaid_key,
            supersedes: new.supersedes,
            renews: new.renews,
            version: new.version,
            now_ms: now,
        },
    )
    .await
    .map_err(|error| match new.renews {
        // Two renewals of one request would mean two pending requests and possibly two transfers.
        Some(renewed) if error.is_unique_violation() => Error::conflict(
            "already_renewed",
            format!("{renewed} was already renewed; follow the renewal (GET /v1/transfers lists it)"),
        ),
        _ => error.into(),
    })?;
    audit::append(tx, trail::for_request(&record, "transfer.proposed", "success", now)).await?;
    Ok(record)
}

/// Plaid did not give a definite answer: keep the request `proposed`, audit the attempt, and
/// release the Idempotency-Key so the agent's retry resumes with the same Plaid key at once.
async fn give_way(
    ctx: &Context,
    agent: &AgentRecord,
    key: &IdempotencyKey,
    record: &RequestRecord,
    error: &PlaidError,
) -> Error {
    tracing::warn!(request = %record.id, error = %error, "Plaid authorization did not complete; the agent may retry");
    let result: Result<()> = async {
        let mut tx = ctx.store.begin().await?;
        let mut fields = trail::for_request(record, "transfer.authorization_attempt", "error", now_ms());
        fields.plaid_endpoint = Some("/transfer/authorization/create".into());
        fields.action_type = Some("authorization".into());
        fields.error_code = Some(error.code().unwrap_or("plaid_unavailable").to_owned());
        audit::append(&mut tx, fields).await?;
        keys::release(&mut tx, &agent.id, key.as_str()).await?;
        ctx.store.commit(tx).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Error::plaid_unavailable(),
        Err(error) => error,
    }
}

pub fn reply_for(record: &RequestRecord) -> Reply {
    Reply { status: CREATED, body: RequestView::from(record).to_json_string() }
}
