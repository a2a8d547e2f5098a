//! Execution, exactly once: claim (`approved → executing`, compare-and-set), re-verify the pinned
//! hash against the stored intent and every approval, then `/transfer/create` with the
//! authorization id — which Plaid treats as the idempotency key. A timeout or 5xx leaves the
//! request `executing` for the reconciler; nothing is marked failed on a guess.

use super::authorize::attach_link_token;
use super::{now_ms, trail, Context};
use crate::audit;
use crate::auth::millis;
use crate::domain::{Event, RequestId, RequestState, Tier, TransferIntent};
use crate::error::Result;
use crate::plaid::types::TransferCreateRequest;
use crate::plaid::PlaidError;
use crate::store::requests::{self, Changes, RequestRecord};
use crate::store::transitions::{self, Whole};
use crate::store::{items, Tx};

/// Which `/transfer/create` call this is for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The call right after the claim: nothing was sent for this authorization before, so a
    /// definite error from Plaid means no transfer exists.
    First,
    /// The reconciler's: an earlier call may have created the transfer (a 500 after commit, a
    /// timeout), so only success settles the request; any error leaves it `executing`.
    Retry,
}

/// What a create call left behind.
#[derive(Debug)]
pub enum Created {
    /// Plaid created the transfer and this process moved the request to `submitted`: the request
    /// as it was written, so the caller need not read it back.
    Submitted(Box<RequestRecord>),
    /// The request left `executing` (or another process holds it now).
    Settled,
    /// Still `executing`: the outcome is unknown, and the reconciler must ask again.
    Unsettled(PlaidError),
}

/// Claims an approved request and creates its transfer. Safe to call from anywhere, any number
/// of times: only the caller that wins the claim calls Plaid.
pub async fn execute(ctx: &Context, id: &RequestId) -> Result<()> {
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    let Some(record) = requests::find_in(&mut tx, id).await? else { return Ok(()) };
    if !claim_in(&mut tx, &record, now).await? {
        return Ok(());
    }
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    create(ctx, &record, Attempt::First, now).await.map(|_| ())
}

/// The claim (`approved → executing`, compare-and-set, audited) inside the caller's transaction.
/// Returns whether this caller won and must call [`create`] after committing.
async fn claim_in(tx: &mut Tx, record: &RequestRecord, now: i64) -> Result<bool> {
    // Never create with an authorization past our window; the sweeper expires it instead.
    if record.expires_at.is_none_or(|at| at <= now) {
        return Ok(false);
    }
    let target = RequestState::Approved.apply(Event::Claimed).map_err(anyhow::Error::from)?;
    if !requests::transition(tx, &record.id, &[RequestState::Approved], target, &Changes::default(), now).await? {
        return Ok(false);
    }
    audit::append(tx, claim_record(record, now)).await?;
    Ok(true)
}

/// The audit record of a claim.
pub(crate) fn claim_record(record: &RequestRecord, now: i64) -> crate::audit::AuditFields {
    trail::execution_claimed(record, now)
}

/// Calls `/transfer/create` for a request this process holds in `executing` since `leased_at`
/// (its claim, or the reconciler's lease), and records the result.
pub async fn create(ctx: &Context, record: &RequestRecord, attempt: Attempt, leased_at: i64) -> Result<Created> {
    let intent =
        TransferIntent::from_json(&record.intent).map_err(|e| anyhow::anyhow!("stored intent: {}", e.message))?;
    if intent.schedule.is_some() {
        // A recurring transfer: the hash is bound to the stored idempotency key, not to an
        // authorization (none exists before the quorum).
        let executed_hash = super::recurring::payload_hash(&intent, record);
        if let Some(why) = drift(ctx, record, &executed_hash).await? {
            return refuse_drifted_recurring(ctx, record, attempt, executed_hash, why).await;
        }
        return super::recurring::create(ctx, record, &intent, attempt, executed_hash).await;
    }
    let authorization_id =
        record.authorization_id.clone().ok_or_else(|| anyhow::anyhow!("executing without an authorization"))?;
    let executed_hash = intent.payload_hash(&authorization_id);
    if let Some(why) = drift(ctx, record, &executed_hash).await? {
        return refuse_drifted(ctx, record, attempt, &authorization_id, executed_hash, why).await;
    }

    let item =
        items::find(ctx.store.reader(), &record.item_id).await?.ok_or_else(|| anyhow::anyhow!("item missing"))?;
    let access_token = ctx.master_key.decrypt(&item.access_token_enc)?;
    // The reconciler waits `reconcile_after` from the lease before taking a request over; a lease
    // taken long ago (a slow database) is renewed now, so that wait counts from the call itself.
    if now_ms() - leased_at > millis(ctx.reconcile_after) / 4 && !renew_lease(ctx, record, leased_at).await? {
        return Ok(Created::Settled);
    }
    let request = TransferCreateRequest {
        access_token: &access_token,
        account_id: intent.account_id.as_str(),
        authorization_id: &authorization_id,
        description: intent.description.as_str(),
    };
    match ctx.plaid.create_transfer(&request).await {
        Ok(response) => {
            if item.health != items::HEALTHY {
                let mut tx = ctx.store.begin().await?;
                items::set_health(&mut tx, &record.item_id, items::HEALTHY).await?;
                ctx.store.commit(tx).await?;
            }
            let changes = Changes {
                transfer_id: Some(response.transfer.id),
                transfer_status: Some(response.transfer.status),
                ..Changes::default()
            };
            let plaid_request_id = Some(response.request_id);
            let created = Outcome { changes, executed_hash, plaid_request_id };
            if let Some(after) = finish_whole(ctx, record, &created, leased_at).await? {
                return Ok(Created::Submitted(Box::new(after)));
            }
            let Outcome { changes, executed_hash, plaid_request_id } = created;
            finish(ctx, record, Event::TransferCreated, changes, "success", Some(executed_hash), plaid_request_id)
                .await?;
            Ok(Created::Settled)
        }
        Err(error) => {
            let failed = FailedCreate { attempt, access_token: &access_token, executed_hash, endpoint: CREATE };
            settle_create_error(ctx, record, failed, error).await
        }
    }
}

const CREATE: &str = "/transfer/create";

/// A create call Plaid answered with an error, one transfer's or a recurring transfer's.
pub(crate) struct FailedCreate<'a> {
    pub attempt: Attempt,
    pub access_token: &'a str,
    pub executed_hash: String,
    pub endpoint: &'static str,
}

/// What a create call's error means for the request, the same for `/transfer/create` and
/// `/transfer/recurring/create`: a retry's error is evidence of nothing (an earlier call may have
/// created it); ITEM_LOGIN_REQUIRED waits for the user (`reauth_required`, a Link token); no
/// definite answer leaves it `executing` for the reconciler; any other error of a first call
/// means nothing was created (`failed`).
pub(crate) async fn settle_create_error(
    ctx: &Context,
    record: &RequestRecord,
    failed: FailedCreate<'_>,
    error: PlaidError,
) -> Result<Created> {
    let FailedCreate { attempt, access_token, executed_hash, endpoint } = failed;
    let plaid_request_id = error.request_id().map(Into::into);
    if attempt == Attempt::Retry {
        // Wrong credentials answer 400 too: no error of a retry is evidence of anything.
        return Ok(Created::Unsettled(error));
    }
    if error.is_login_required() {
        let mut changes = Changes { error_code: Some("ITEM_LOGIN_REQUIRED".into()), ..Changes::default() };
        attach_link_token(ctx, access_token, record, &mut changes).await;
        mark_item_broken(ctx, record).await?;
        let event = Event::LoginRequired;
        finish_at(ctx, record, event, changes, "reauth_required", Some(executed_hash), plaid_request_id, endpoint)
            .await?;
        return Ok(Created::Settled);
    }
    if error.is_indeterminate() {
        attempt_unknown(ctx, record, &error).await?;
        return Ok(Created::Unsettled(error));
    }
    let changes = Changes {
        error_code: error.code().map(Into::into),
        error_message: Some(error.to_string()),
        ..Changes::default()
    };
    finish_at(ctx, record, Event::PlaidFailed, changes, "error", Some(executed_hash), plaid_request_id, endpoint)
        .await?;
    Ok(Created::Settled)
}

/// A created transfer, as Plaid answered.
struct Outcome {
    changes: Changes,
    executed_hash: String,
    plaid_request_id: Option<String>,
}

/// `executing → submitted` as one whole transition (`store::transitions`: one statement on
/// PostgreSQL), while the row is still as this process leased it at `leased_at`. False when it is
/// not (a renewed lease, another process): the caller takes the general path. The request as
/// written when it moved.
async fn finish_whole(
    ctx: &Context,
    record: &RequestRecord,
    created: &Outcome,
    leased_at: i64,
) -> Result<Option<RequestRecord>> {
    let now = now_ms();
    let target = RequestState::Executing.apply(Event::TransferCreated).map_err(anyhow::Error::from)?;
    let mut after = created.changes.applied_to(record, target, now);
    // The item answered a transfer: it is healthy (`create` marked it so if it was not).
    after.item_health = Some(items::HEALTHY.to_owned());
    let fields = executed_record(
        record,
        &created.changes,
        "success",
        Some(created.executed_hash.clone()),
        created.plaid_request_id.clone(),
        now,
    );
    // Events Plaid may already have reported for this transfer belong in the callback's view.
    let events = match &after.transfer_id {
        Some(transfer_id) => Some(crate::store::transfer_events::for_transfer(ctx.store.reader(), transfer_id).await?),
        None => None,
    };
    let messages = super::events::whole_request_changed(ctx, &after, events.as_deref(), items::HEALTHY, now)?;
    let whole = Whole {
        id: &record.id,
        agent_id: &record.agent_id,
        from: RequestState::Executing,
        read_at: leased_at,
        to: target,
        changes: &created.changes,
        now_ms: now,
        audit: vec![audit::identified(fields)],
        messages,
        reply: None,
        approval: None,
    };
    if !transitions::apply(&ctx.store, whole).await? {
        return Ok(None);
    }
    ctx.notify_change();
    Ok(Some(after))
}

/// Renews this process's hold on an `executing` request (compare-and-set on the lease it took).
/// False when another process took it over meanwhile: that one calls Plaid, not this one.
async fn renew_lease(ctx: &Context, record: &RequestRecord, leased_at: i64) -> Result<bool> {
    let mut tx = ctx.store.begin().await?;
    let held = requests::take_lease(&mut tx, &record.id, RequestState::Executing, leased_at, now_ms()).await?;
    ctx.store.commit(tx).await?;
    Ok(held)
}

/// Why what would execute differs from what was approved, if it does. The pinned hash is checked
/// against the request row, the approvals table, and the approvals as the audit log recorded them
/// — the one copy an edit of the mutable tables cannot reach unseen.
async fn drift(ctx: &Context, record: &RequestRecord, executed_hash: &str) -> Result<Option<&'static str>> {
    if record.payload_hash.as_deref() != Some(executed_hash) {
        return Ok(Some("the request's pinned hash differs from its intent"));
    }
    let evidence = crate::store::audit::approval_evidence(ctx.store.reader(), record.id.as_str()).await?;
    if evidence.table_hashes.iter().any(|hash| hash != executed_hash) {
        return Ok(Some("an approval was given for a different hash"));
    }
    let logged = &evidence.logged;
    if logged.iter().any(|a| a.payload_hash.as_deref() != Some(executed_hash)) {
        return Ok(Some("the audit log records an approval of a different hash"));
    }
    let mut approvers: Vec<&str> = logged.iter().filter_map(|a| a.approver_id.as_deref()).collect();
    approvers.sort_unstable();
    approvers.dedup();
    // Tier 1 is the one request that executes with no approval: a capped rule said so, and the
    // audit log must say so too (a tier edited in the table alone is caught here).
    let floor = if record.tier == Tier::Notify {
        let by_policy =
            crate::store::audit::logged(ctx.store.reader(), record.id.as_str(), "transfer.approved_by_policy");
        if by_policy.await?.is_empty() {
            return Ok(Some("a tier-1 request the audit log does not record the policy approving"));
        }
        0
    } else {
        1
    };
    let required = usize::try_from(record.approvals_required.max(floor)).unwrap_or(usize::MAX);
    if approvers.len() < required.max(evidence.table_hashes.len()) {
        return Ok(Some("the audit log records fewer approvals than the request counts"));
    }
    Ok(None)
}

/// What would execute is not what was approved: nothing is sent to Plaid, the authorization is
/// cancelled so nobody can use it, and operators are alerted. The request fails when that is
/// known to be true: on the first attempt nothing was ever sent, and a cancel Plaid accepts proves
/// no transfer used the authorization. A retry whose cancel fails may face a transfer an earlier
/// call created, so it stays `executing` for the reconciler (which looks for it first).
async fn refuse_drifted(
    ctx: &Context,
    record: &RequestRecord,
    attempt: Attempt,
    authorization_id: &str,
    executed_hash: String,
    why: &'static str,
) -> Result<Created> {
    tracing::error!(request = %record.id, why, "payload drifted from the approved hash; refusing to execute");
    ctx.metrics.payload_mismatches.inc();
    let cancelled = ctx.plaid.cancel_authorization(authorization_id).await;
    if let Err(error) = &cancelled {
        tracing::error!(request = %record.id, error = %error, "could not cancel the authorization of a drifted request");
    }
    match cancelled {
        Err(error) if attempt == Attempt::Retry => return Ok(Created::Unsettled(error)),
        _ => {}
    }
    finish(ctx, record, Event::PlaidFailed, drifted(), "error", Some(executed_hash), None).await?;
    Ok(Created::Settled)
}

fn drifted() -> Changes {
    Changes {
        error_code: Some("payload_hash_mismatch".into()),
        error_message: Some("what would execute differs from what was approved; nothing was sent to Plaid".into()),
        ..Changes::default()
    }
}

/// A recurring request whose payload drifted: nothing is sent. On the first attempt nothing was
/// ever sent, so it fails; a retry may face a recurring transfer an earlier call created, so it
/// stays `executing` and operators are alerted.
async fn refuse_drifted_recurring(
    ctx: &Context,
    record: &RequestRecord,
    attempt: Attempt,
    executed_hash: String,
    why: &'static str,
) -> Result<Created> {
    tracing::error!(request = %record.id, why, "recurring payload drifted from the approved hash; refusing to execute");
    ctx.metrics.payload_mismatches.inc();
    if attempt == Attempt::Retry {
        return Ok(Created::Unsettled(PlaidError::Transport(format!("not sent: {why}"))));
    }
    let recurring = "/transfer/recurring/create";
    finish_at(ctx, record, Event::PlaidFailed, drifted(), "error", Some(executed_hash), None, recurring).await?;
    Ok(Created::Settled)
}

/// Records the end of an execution attempt (compare-and-set from `executing`) with its audit row.
pub async fn finish(
    ctx: &Context,
    record: &RequestRecord,
    event: Event,
    changes: Changes,
    outcome: &str,
    executed_hash: Option<String>,
    plaid_request_id: Option<String>,
) -> Result<()> {
    finish_at(ctx, record, event, changes, outcome, executed_hash, plaid_request_id, CREATE).await
}

/// [`finish`] for a call to `endpoint`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn finish_at(
    ctx: &Context,
    record: &RequestRecord,
    event: Event,
    changes: Changes,
    outcome: &str,
    executed_hash: Option<String>,
    plaid_request_id: Option<String>,
    endpoint: &str,
) -> Result<()> {
    let now = now_ms();
    let mut fields = executed_record(record, &changes, outcome, executed_hash, plaid_request_id, now);
    fields.plaid_endpoint = Some(endpoint.into());
    settle(ctx, record, event, &changes, vec![fields], now).await
}

/// The `transfer.executed` record of an execution's result.
pub fn executed_record(
    record: &RequestRecord,
    changes: &Changes,
    outcome: &str,
    executed_hash: Option<String>,
    plaid_request_id: Option<String>,
    now: i64,
) -> audit::AuditFields {
    let mut fields = trail::for_request(record, "transfer.executed", outcome, now);
    fields.plaid_endpoint = Some("/transfer/create".into());
    fields.action_type = Some("write".into());
    fields.executed_payload_hash = executed_hash;
    fields.plaid_request_id = plaid_request_id;
    fields.error_code = changes.error_code.clone();
    fields.ttl_seconds = Some((now - record.created_at) / 1000);
    fields
}

/// Moves the request out of `executing` and appends `records` in the same transaction.
pub async fn settle(
    ctx: &Context,
    record: &RequestRecord,
    event: Event,
    changes: &Changes,
    records: Vec<audit::AuditFields>,
    now: i64,
) -> Result<()> {
    let target = RequestState::Executing.apply(event).map_err(anyhow::Error::from)?;
    let mut tx = ctx.store.begin().await?;
    if !requests::transition(&mut tx, &record.id, &[RequestState::Executing], target, changes, now).await? {
        return Ok(());
    }
    for fields in records {
        audit::append(&mut tx, fields).await?;
    }
    super::events::request_changed(ctx, &mut tx, &record.id, now).await?;
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    Ok(())
}

/// Plaid gave no definite answer: the transfer may or may not exist. Audit the attempt and leave
/// the request `executing`; the reconciler asks Plaid again with the same authorization id.
pub(crate) async fn attempt_unknown(ctx: &Context, record: &RequestRecord, error: &PlaidError) -> Result<()> {
    tracing::warn!(request = %record.id, error = %error, "transfer creation outcome unknown; the reconciler will settle it");
    let mut tx = ctx.store.begin().await?;
    let mut fields = trail::for_request(record, "transfer.execution_attempt", "error", now_ms());
    fields.plaid_endpoint = Some("/transfer/create".into());
    fields.action_type = Some("write".into());
    fields.error_code = Some(error.code().unwrap_or("plaid_unavailable").to_owned());
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    Ok(())
}

async fn mark_item_broken(ctx: &Context, record: &RequestRecord) -> Result<()> {
    let mut tx = ctx.store.begin().await?;
    items::set_health(&mut tx, &record.item_id, items::LOGIN_REQUIRED).await?;
    ctx.store.commit(tx).await?;
    Ok(())
}

/// `reauth_required → approved` (approvals kept, compare-and-set, audited as `event_type`) inside
/// the caller's transaction, if the window is still open. False when it is not (or the request
/// moved on meanwhile); the caller then executes it after committing.
pub(crate) async fn reopen_in(tx: &mut Tx, record: &RequestRecord, event_type: &str, now: i64) -> Result<bool> {
    if record.expires_at.is_none_or(|at| at <= now) {
        return Ok(false);
    }
    let target = record.state.apply(Event::Resumed).map_err(anyhow::Error::from)?;
    let changes = Changes { link_token: None, ..Changes::default() };
    if !requests::transition(tx, &record.id, &[RequestState::ReauthRequired], target, &changes, now).await? {
        return Ok(false);
    }
    audit::append(tx, trail::for_request(record, event_type, "success", now)).await?;
    Ok(true)
}

/// The agent's "the user re-linked, try again": `reauth_required → approved` (approvals kept),
/// then execution, if the window is still open.
pub async fn resume(
    ctx: &Context,
    agent: &crate::store::agents::AgentRecord,
    id: &RequestId,
    key: &super::idempotency::IdempotencyKey,
    fingerprint: &str,
) -> Result<super::idempotency::Reply> {
    use super::idempotency::{self, Started};
    use crate::error::Error;
    let now = now_ms();
    let mut tx = match idempotency::begin(&ctx.store, &agent.id, key, fingerprint, now).await? {
        Started::Answered(reply) => return Ok(reply),
        Started::Proceed(tx, _) => tx,
    };
    let record = requests::find_in(&mut tx, id)
        .await?
        .filter(|r| r.agent_id == agent.id)
        .ok_or_else(|| Error::not_found("transfer request"))?;
    match record.state {
        RequestState::ReauthRequired => {}
        RequestState::Approved | RequestState::Executing | RequestState::Submitted => {}
        other => {
            return Err(Error::conflict(
                "invalid_state",
                format!("the request is {other}; only reauth_required requests resume"),
            ))
        }
    }
    if record.state == RequestState::ReauthRequired && !reopen_in(&mut tx, &record, "transfer.resumed", now).await? {
        return Err(Error::conflict("window_passed", "the authorization window has passed; renew the request"));
    }
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    execute(ctx, id).await?;
    let current = requests::find(ctx.store.reader(), id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
    let reply =
        super::idempotency::Reply { status: 200, body: super::view::RequestView::from(&current).to_json_string() };
    let mut tx = ctx.store.begin().await?;
    idempotency::finish(&mut tx, &agent.id, key, reply.status, &reply.body).await?;
    ctx.store.commit(tx).await?;
    Ok(reply)
}
