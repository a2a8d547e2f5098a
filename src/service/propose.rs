//! Propose: an agent asks to move money. Plaid decides first; only an approved authorization
//! becomes a request waiting for humans (a row, nothing held in memory).
//!
//! Order of effects: (1) check item and account, (2) one transaction claims the Idempotency-Key,
//! stores the request with a freshly generated Plaid idempotency key and audits the proposal
//! (under a policy without windows, one whole write guarded by the claim: `propose_whole`),
//! (3) `/transfer/authorization/create` with that key, outside any transaction, (4) one transaction
//! applies Plaid's decision, audits it and stores the response. A crash between (2) and (4) is
//! resumed by the agent's retry with the same Idempotency-Key (or by the reconciler): same Plaid
//! key, same authorization.

use super::authorize::{authorize, Authorized};
use super::idempotency::{self, Claim, IdempotencyKey, Reply, Started};
use super::policy::{self, Assessed};
use super::{execute, now_ms, registry, trail, Context};
use crate::audit;
use crate::domain::{Assessment, RequestId, RequestState, TransferIntent};
use crate::error::{Error, Result};
use crate::plaid::PlaidError;
use crate::store::agents::AgentRecord;
use crate::store::items::ItemRecord;
use crate::store::policy::{self as store_policy, ShadowDifference};
use crate::store::requests::{self, Joined, NewRequest, RequestRecord};
use crate::store::{idempotency as keys, transitions, Tx};

pub struct Proposal {
    pub intent: TransferIntent,
    pub key: IdempotencyKey,
    pub fingerprint: String,
    /// The expired request this one renews, if any.
    pub renews: Option<RequestId>,
}

pub async fn propose(ctx: &Context, agent: &AgentRecord, proposal: Proposal) -> Result<Reply> {
    let Proposal { intent, key, fingerprint, renews } = proposal;
    let item = registry::usable_item(ctx, agent, &intent.item_id, intent.account_id.as_str()).await?;

    let now = now_ms();
    let joined = Joined {
        plaid_item_id: Some(item.plaid_item_id.clone()),
        item_health: Some(item.health.clone()),
        agent_owner: Some(agent.owner.clone()),
    };
    if let Some(record) = propose_whole(ctx, &intent, &key, &fingerprint, renews.is_some(), &joined, now).await? {
        return authorize_stored(ctx, agent, &key, record, item).await;
    }
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
                let reply = Reply::created(&record);
                idempotency::finish(&mut tx, &agent.id, &key, reply.status, &reply.body).await?;
                ctx.store.commit(tx).await?;
                return Ok(reply);
            }
            ctx.store.commit(tx).await?;
            record
        }
        Claim::Fresh | Claim::Resume { request_id: None } => {
            let new = NewVersion {
                intent: &intent,
                supersedes: None,
                renews: renews.as_ref(),
                version: 1,
                replaces: None,
                joined,
            };
            let record = match insert_proposed(&mut tx, ctx, new, now).await? {
                Ok(record) => record,
                Err(denial) => {
                    // Nothing is stored for a refused proposal but its audit record: the
                    // Idempotency-Key is released with the rollback, so a retry is assessed again.
                    drop(tx);
                    return Err(record_denial(ctx, &intent, denial, now).await);
                }
            };
            keys::link_request(&mut tx, &agent.id, key.as_str(), record.id.as_str()).await?;
            ctx.store.commit(tx).await?;
            record
        }
    };

    authorize_stored(ctx, agent, &key, record, item).await
}

/// A stored proposal, on to Plaid's authorization (or, recurring, to its approvers).
async fn authorize_stored(
    ctx: &Context,
    agent: &AgentRecord,
    key: &IdempotencyKey,
    record: RequestRecord,
    item: ItemRecord,
) -> Result<Reply> {
    if record.intent.get("schedule").is_some() {
        return super::recurring::hold_for_approvals(ctx, &record, Some((&agent.id, key))).await;
    }
    match authorize(ctx, &record, Some(item), Some((&agent.id, key))).await? {
        Authorized::Settled { record, reply } => {
            // Tier 1: authorized, approved by the policy and claimed in one step; create it now.
            if record.state == RequestState::Executing {
                let claimed_at = record.updated_at;
                if let Err(error) = execute::create(ctx, &record, execute::Attempt::First, claimed_at).await {
                    tracing::warn!(request = %record.id, error = %error, "tier-1 execution left for the reconciler");
                }
            }
            Ok(reply)
        }
        Authorized::Indeterminate(error) => Err(give_way(ctx, agent, key, &record, &error).await),
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
    /// The item's and the agent's columns of the row, as the caller last read them.
    pub joined: Joined,
}

/// The risk policy refused a proposal before Plaid was asked.
pub struct Denial {
    pub reason: String,
    pub policy_version: String,
    pub shadow: Option<ShadowDifference>,
}

impl Denial {
    pub fn to_error(&self) -> Error {
        Error::forbidden("denied_by_policy", format!("the risk policy refuses this transfer: {}", self.reason))
    }
}

/// The common proposal as one whole transition (`store::transitions::propose`: one statement on
/// PostgreSQL, one hand-off to SQLite's writer): a fresh Idempotency-Key, no renewal and no
/// schedule, under a policy without windows that neither refuses it nor disagrees with its
/// shadow. None when anything differs or the key was claimed before: the general path then claims
/// the key, assesses under the window locks, and answers replays and refusals.
async fn propose_whole(
    ctx: &Context,
    intent: &TransferIntent,
    key: &IdempotencyKey,
    fingerprint: &str,
    renewing: bool,
    joined: &Joined,
    now: i64,
) -> Result<Option<RequestRecord>> {
    if renewing || intent.schedule.is_some() {
        return Ok(None);
    }
    let Some(Assessed { assessment, policy, shadow }) = policy::assess_outside(ctx, intent, now).await? else {
        return Ok(None);
    };
    if assessment.denied.is_some() || shadow.is_some() {
        return Ok(None);
    }
    let id = RequestId::generate();
    let plaid_key = new_plaid_key();
    let intent_json = intent.to_json();
    let version =
        NewVersion { intent, supersedes: None, renews: None, version: 1, replaces: None, joined: joined.clone() };
    let request = new_request(&id, &intent_json, &assessment, &policy.version, &plaid_key, &version, now);
    let proposed = trail::for_request(&request.as_stored(), "transfer.proposed", "success", now);
    let proposal = transitions::Proposal {
        request,
        key: key.as_str(),
        fingerprint,
        locked_until: now + idempotency::LEASE_MS,
        audit: vec![audit::identified(proposed)],
    };
    Ok(transitions::propose(&ctx.store, proposal).await?)
}

/// A Plaid idempotency key, generated before any call to Plaid.
fn new_plaid_key() -> String {
    format!("cs-{}", uuid::Uuid::new_v4().simple())
}

/// The row of a new version of a request, as the policy assessed it.
fn new_request<'a>(
    id: &'a RequestId,
    intent_json: &'a serde_json::Value,
    assessment: &'a Assessment,
    policy_version: &'a str,
    plaid_key: &'a str,
    new: &NewVersion<'a>,
    now: i64,
) -> NewRequest<'a> {
    let intent = new.intent;
    NewRequest {
        id,
        agent_id: &intent.agent_id,
        item_id: &intent.item_id,
        account_id: intent.account_id.as_str(),
        tier: assessment.tier,
        step_up: assessment.step_up,
        approvals_required: i64::from(assessment.approvals_required),
        policy_version,
        policy_reasons: &assessment.reasons,
        approver_groups: &assessment.approver_groups,
        approval_ttl_secs: assessment.ttl_secs.map(i64::from),
        intent: intent_json,
        amount_cents: intent.amount.cents(),
        plaid_idempotency_key: plaid_key,
        supersedes: new.supersedes,
        renews: new.renews,
        version: new.version,
        now_ms: now,
        joined: new.joined.clone(),
    }
}

/// Stores a new request in `proposed`, assessed by the risk policy, with a fresh Plaid
/// idempotency key generated before any call to Plaid, and audits it; or, when the policy denies
/// it, stores nothing and says why.
pub async fn insert_proposed(
    tx: &mut Tx,
    ctx: &Context,
    new: NewVersion<'_>,
    now: i64,
) -> Result<std::result::Result<RequestRecord, Denial>> {
    let id = RequestId::generate();
    let intent = new.intent;
    let Assessed { mut assessment, policy, shadow } = policy::assess_in(tx, ctx, intent, now).await?;
    if let Some(reason) = assessment.denied.take() {
        return Ok(Err(Denial { reason, policy_version: policy.version.clone(), shadow }));
    }
    if let Some(replaced) = new.replaces {
        assessment = assessment.at_least(replaced);
    }
    if intent.schedule.is_some() {
        assessment = assessment.for_recurring(policy.tier3_approvers);
    }
    let plaid_key = new_plaid_key();
    let intent_json = intent.to_json();
    let record =
        requests::insert(tx, new_request(&id, &intent_json, &assessment, &policy.version, &plaid_key, &new, now))
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
    if let Some(difference) = shadow {
        let difference = ShadowDifference { request_id: Some(record.id.to_string()), ..difference };
        store_policy::insert_shadow_difference(tx, &difference).await?;
    }
    Ok(Ok(record))
}

/// Audits a proposal the policy refused (and the shadow policy's view of it), and returns the
/// agent's error.
async fn record_denial(ctx: &Context, intent: &TransferIntent, denial: Denial, now: i64) -> Error {
    let result: Result<()> = async {
        let mut tx = ctx.store.begin().await?;
        let fields = crate::audit::AuditFields {
            occurred_at: now,
            event_type: "transfer.denied_by_policy".into(),
            agent_id: Some(intent.agent_id.to_string()),
            thread_id: Some(intent.thread_id.as_str().to_owned()),
            plaid_product: Some("transfer".into()),
            account_id: Some(crate::audit::mask_account(intent.account_id.as_str())),
            action_type: Some("write".into()),
            approval_required: Some(false),
            policy_version: Some(denial.policy_version.clone()),
            outcome: "denied_by_policy".into(),
            error_code: Some("denied_by_policy".into()),
            ..crate::audit::AuditFields::default()
        };
        audit::append(&mut tx, fields).await?;
        if let Some(difference) = &denial.shadow {
            store_policy::insert_shadow_difference(&mut tx, difference).await?;
        }
        ctx.store.commit(tx).await?;
        Ok(())
    }
    .await;
    tracing::info!(agent = %intent.agent_id, "proposal denied by the risk policy");
    match result {
        Ok(()) => denial.to_error(),
        Err(error) => error,
    }
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
