//! Execution, exactly once: claim (`approved → executing`, compare-and-set), re-verify the pinned
//! hash against the stored intent and every approval, then `/transfer/create` with the
//! authorization id — which Plaid treats as the idempotency key. A timeout or 5xx leaves the
//! request `executing` for the reconciler; nothing is marked failed on a guess.

use super::authorize::attach_link_token;
use super::{now_ms, trail, Context};
use crate::audit;
use crate::domain::{Event, RequestId, RequestState, TransferIntent};
use crate::error::Result;
use crate::plaid::types::TransferCreateRequest;
use crate::plaid::PlaidError;
use crate::store::requests::{self, Changes, RequestRecord};
use crate::store::{approvals, items, Tx};

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
    create(ctx, &record).await
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
    let mut fields = trail::for_request(record, "transfer.execution_claimed", "success", now);
    fields.action_type = Some("write".into());
    fields
}

/// Calls `/transfer/create` for a request this process holds in `executing`, and records the result.
pub async fn create(ctx: &Context, record: &RequestRecord) -> Result<()> {
    let intent =
        TransferIntent::from_json(&record.intent).map_err(|e| anyhow::anyhow!("stored intent: {}", e.message))?;
    let authorization_id =
        record.authorization_id.clone().ok_or_else(|| anyhow::anyhow!("executing without an authorization"))?;
    let executed_hash = intent.payload_hash(&authorization_id);
    let approved_hashes = approvals::for_request(ctx.store.reader(), &record.id).await?;
    let drifted = record.payload_hash.as_deref() != Some(executed_hash.as_str())
        || approved_hashes.iter().any(|a| a.payload_hash != executed_hash);
    if drifted {
        tracing::error!(request = %record.id, "payload drifted from the approved hash; refusing to execute");
        let changes = Changes {
            error_code: Some("payload_hash_mismatch".into()),
            error_message: Some("what would execute differs from what was approved; nothing was sent to Plaid".into()),
            ..Changes::default()
        };
        return finish(ctx, record, Event::PlaidFailed, changes, "error", Some(executed_hash), None).await;
    }

    let item =
        items::find(ctx.store.reader(), &record.item_id).await?.ok_or_else(|| anyhow::anyhow!("item missing"))?;
    let access_token = ctx.master_key.decrypt(&item.access_token_enc)?;
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
            finish(
                ctx,
                record,
                Event::TransferCreated,
                changes,
                "success",
                Some(executed_hash),
                Some(response.request_id),
            )
            .await
        }
        Err(error) if error.is_login_required() => {
            let mut changes = Changes { error_code: Some("ITEM_LOGIN_REQUIRED".into()), ..Changes::default() };
            attach_link_token(ctx, &access_token, record, &mut changes).await;
            let plaid_request_id = error.request_id().map(Into::into);
            mark_item_broken(ctx, record).await?;
            finish(ctx, record, Event::LoginRequired, changes, "reauth_required", Some(executed_hash), plaid_request_id)
                .await
        }
        Err(error) if error.is_indeterminate() => attempt_unknown(ctx, record, &error).await,
        Err(error) => {
            let changes = Changes {
                error_code: error.code().map(Into::into),
                error_message: Some(error.to_string()),
                ..Changes::default()
            };
            let plaid_request_id = error.request_id().map(Into::into);
            finish(ctx, record, Event::PlaidFailed, changes, "error", Some(executed_hash), plaid_request_id).await
        }
    }
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
    let now = now_ms();
    let fields = executed_record(record, &changes, outcome, executed_hash, plaid_request_id, now);
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
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    Ok(())
}

/// Plaid gave no definite answer: the transfer may or may not exist. Audit the attempt and leave
/// the request `executing`; the reconciler asks Plaid again with the same authorization id.
async fn attempt_unknown(ctx: &Context, record: &RequestRecord, error: &PlaidError) -> Result<()> {
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

/// The agent's "the user re-linked, try again": `reauth_required → approved` (approvals kept),
/// then execution, if the window is still open.
pub async fn resume(
    ctx: &Context,
    agent: &crate::store::agents::AgentRecord,
    id: &RequestId,
    key: &super::idempotency::IdempotencyKey,
    fingerprint: &str,
) -> Result<super::propose::Reply> {
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
    if record.state == RequestState::ReauthRequired {
        if record.expires_at.is_none_or(|at| at <= now) {
            return Err(Error::conflict("window_passed", "the authorization window has passed; renew the request"));
        }
        let target = record.state.apply(Event::Resumed).map_err(anyhow::Error::from)?;
        let changes = Changes { link_token: None, ..Changes::default() };
        requests::transition(&mut tx, id, &[RequestState::ReauthRequired], target, &changes, now).await?;
        audit::append(&mut tx, trail::for_request(&record, "transfer.resumed", "success", now)).await?;
    }
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    execute(ctx, id).await?;
    let current = requests::find(ctx.store.reader(), id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
    let reply = super::propose::Reply { status: 200, body: super::view::RequestView::from(&current).to_json_string() };
    let mut tx = ctx.store.begin().await?;
    idempotency::finish(&mut tx, &agent.id, key, reply.status, &reply.body).await?;
    ctx.store.commit(tx).await?;
    Ok(reply)
}
