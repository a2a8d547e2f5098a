//! Recurring transfers (issue 15.6): the request pauses for a quorum without asking Plaid anything,
//! then `/transfer/recurring/create` runs exactly once with the idempotency key stored when the
//! request was proposed, and Plaid's view of it (status, occurrences) follows from event sync.
//!
//! Order of effects, as for one transfer: (1) propose stores the request, its intent (schedule
//! included) and a fresh Plaid idempotency key, and holds it for approvals in the same
//! transaction, pinning the payload hash to that key; (2) the quorum's last approval claims it
//! (`executing`, compare-and-set); (3) the create call, with no transaction open; (4) one
//! transaction records Plaid's answer. A crash between (2) and (4) is settled by the reconciler
//! calling create again with the same key: Plaid answers with the same recurring transfer.

use super::authorize::ReplyTo;
use super::execute::{self, Attempt, Created, FailedCreate};
use super::idempotency::{self, Reply};
use super::{now_ms, trail, Context};
use crate::audit;
use crate::domain::{Event, RequestState, TransferIntent};
use crate::error::{Error, Result};
use crate::plaid::types::{AuthorizationUser, Decision, RecurringCreateRequest, RecurringTransfer};
use crate::store::recurring::{self as rows, Observed};
use crate::store::requests::{self, Changes, RequestRecord};
use crate::store::{items, Tx};

const ENDPOINT: &str = "/transfer/recurring/create";

/// How long approvers have to approve a whole schedule: no Plaid authorization is waiting, so
/// the bound is ours — a day, or shorter when the policy gives the request a TTL.
pub const APPROVAL_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// The hash approvers sign: the intent (schedule included) bound to the Plaid idempotency key
/// the one create call will use.
pub fn payload_hash(intent: &TransferIntent, record: &RequestRecord) -> String {
    intent.payload_hash(&record.plaid_idempotency_key)
}

/// `proposed → pending_approval` for a recurring request, without calling Plaid: pins the hash,
/// sets the approval window, audits, tells approvers and stores the agent's reply.
pub async fn hold_for_approvals(ctx: &Context, record: &RequestRecord, reply_to: ReplyTo<'_>) -> Result<Reply> {
    let intent = stored_intent(record)?;
    let now = now_ms();
    let ttl_ms = record.approval_ttl_secs.map_or(APPROVAL_WINDOW_MS, |ttl| ttl.saturating_mul(1000));
    let changes = Changes {
        expires_at: Some(now.saturating_add(ttl_ms.min(APPROVAL_WINDOW_MS))),
        payload_hash: Some(payload_hash(&intent, record)),
        ..Changes::default()
    };
    let target = RequestState::Proposed.apply(Event::HeldForApproval).map_err(anyhow::Error::from)?;
    let mut tx = ctx.store.begin().await?;
    let won =
        requests::transition_returning(&mut tx, &record.id, &[RequestState::Proposed], target, &changes, now).await?;
    let current = match won {
        Some(current) => {
            let mut fields = trail::for_request(&current, "transfer.recurring_held", "success", now);
            fields.action_type = Some("write".into());
            audit::append(&mut tx, fields).await?;
            super::events::request_changed(ctx, &mut tx, &record.id, now).await?;
            current
        }
        None => requests::find_in(&mut tx, &record.id).await?.ok_or_else(|| anyhow::anyhow!("request vanished"))?,
    };
    let reply = Reply::created(&current);
    if let Some((agent, key)) = reply_to {
        idempotency::finish(&mut tx, agent, key, reply.status, &reply.body).await?;
    }
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    Ok(reply)
}

fn stored_intent(record: &RequestRecord) -> Result<TransferIntent> {
    Ok(TransferIntent::from_json(&record.intent).map_err(|e| anyhow::anyhow!("stored intent: {}", e.message))?)
}

/// `/transfer/recurring/create` for a request this process holds in `executing` (the hash was
/// re-verified by the caller), and its answer recorded. Same contract as [`execute::create`].
pub(crate) async fn create(
    ctx: &Context,
    record: &RequestRecord,
    intent: &TransferIntent,
    attempt: Attempt,
    executed_hash: String,
) -> Result<Created> {
    let schedule = intent.schedule.as_ref().ok_or_else(|| anyhow::anyhow!("a recurring request without a schedule"))?;
    let item =
        items::find(ctx.store.reader(), &record.item_id).await?.ok_or_else(|| anyhow::anyhow!("item missing"))?;
    let access_token = ctx.master_key.decrypt(&item.access_token_enc)?;
    let request = RecurringCreateRequest {
        access_token: &access_token,
        idempotency_key: &record.plaid_idempotency_key,
        account_id: intent.account_id.as_str(),
        transfer_type: intent.transfer_type.as_str(),
        network: intent.network.as_str(),
        ach_class: intent.ach_class.map(|class| class.as_str()),
        amount: intent.amount.to_string(),
        user: AuthorizationUser { legal_name: intent.legal_name.as_str() },
        description: intent.description.as_str(),
        schedule: schedule.to_json(),
    };
    match ctx.plaid.create_recurring(&request).await {
        Ok(response) => {
            let plaid_request_id = Some(response.request_id);
            match (response.decision, response.recurring_transfer) {
                (Decision::Approved, Some(created)) => {
                    created_recurring(ctx, record, &created, Some(executed_hash), plaid_request_id).await?;
                }
                (decision, _) => {
                    // Plaid refused the schedule: no recurring transfer exists, so no money moves.
                    let rationale = response.decision_rationale;
                    let changes = Changes {
                        decision: Some(decision_name(&decision).into()),
                        decision_rationale_code: rationale.as_ref().map(|r| r.code.clone()),
                        decision_rationale_description: rationale.map(|r| r.description),
                        error_code: Some("recurring_not_approved_by_plaid".into()),
                        error_message: Some(format!(
                            "Plaid's decision on the schedule was {}; no recurring transfer was created",
                            decision_name(&decision)
                        )),
                        ..Changes::default()
                    };
                    let (event, outcome) = (Event::PlaidFailed, "declined_by_plaid");
                    let hash = Some(executed_hash);
                    execute::finish_at(ctx, record, event, changes, outcome, hash, plaid_request_id, ENDPOINT).await?;
                }
            }
            Ok(Created::Settled)
        }
        Err(error) => {
            let failed = FailedCreate { attempt, access_token: &access_token, executed_hash, endpoint: ENDPOINT };
            execute::settle_create_error(ctx, record, failed, error).await
        }
    }
}

fn decision_name(decision: &Decision) -> &'static str {
    match decision {
        Decision::Approved => "approved",
        Decision::Declined => "declined",
        Decision::UserActionRequired => "user_action_required",
        Decision::Unknown => "unknown",
    }
}

/// `executing → submitted` with Plaid's recurring transfer recorded beside the request.
async fn created_recurring(
    ctx: &Context,
    record: &RequestRecord,
    created: &RecurringTransfer,
    executed_hash: Option<String>,
    plaid_request_id: Option<String>,
) -> Result<()> {
    let now = now_ms();
    let changes = Changes { transfer_status: Some(created.status.clone()), ..Changes::default() };
    let mut fields = execute::executed_record(record, &changes, "success", executed_hash, plaid_request_id, now);
    fields.plaid_endpoint = Some(ENDPOINT.into());
    let target = RequestState::Executing.apply(Event::TransferCreated).map_err(anyhow::Error::from)?;
    let mut tx = ctx.store.begin().await?;
    if !requests::transition(&mut tx, &record.id, &[RequestState::Executing], target, &changes, now).await? {
        return Ok(());
    }
    observe(&mut tx, record, created, now).await?;
    audit::append(&mut tx, fields).await?;
    super::events::request_changed(ctx, &mut tx, &record.id, now).await?;
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    Ok(())
}

async fn observe(tx: &mut Tx, record: &RequestRecord, seen: &RecurringTransfer, now: i64) -> Result<()> {
    let observed = Observed {
        recurring_transfer_id: &seen.recurring_transfer_id,
        status: &seen.status,
        transfer_ids: &seen.transfer_ids,
        next_origination_date: seen.next_origination_date.as_deref(),
    };
    rows::record(tx, &record.id, &observed, now).await?;
    Ok(())
}

/// Asks Plaid for the recurring transfer as it stands (`/transfer/recurring/get`) and records its
/// status and occurrences; a new occurrence or a status change is told to the agent.
pub async fn refresh(ctx: &Context, recurring_transfer_id: &str) -> Result<()> {
    let Some(known) = rows::by_recurring_id(ctx.store.reader(), recurring_transfer_id).await? else {
        return Ok(());
    };
    let response = ctx
        .plaid
        .recurring_by_id(recurring_transfer_id)
        .await
        .map_err(|error| anyhow::anyhow!("/transfer/recurring/get: {error}"))?;
    let seen = response.recurring_transfer;
    if seen.status == known.status && seen.transfer_ids == known.transfer_ids {
        return Ok(());
    }
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    let record = requests::find_in(&mut tx, &known.request_id).await?.ok_or_else(|| Error::not_found("request"))?;
    observe(&mut tx, &record, &seen, now).await?;
    if seen.status != known.status {
        requests::set_transfer_status(&mut tx, &record.id, &seen.status, now).await?;
    }
    let mut fields = trail::for_request(&record, "transfer.recurring_updated", "success", now);
    fields.plaid_endpoint = Some("/transfer/recurring/get".into());
    fields.action_type = Some("read".into());
    fields.plaid_request_id = Some(response.request_id);
    audit::append(&mut tx, fields).await?;
    let event = if seen.transfer_ids.len() > known.transfer_ids.len() {
        "transfer.recurring_occurrence"
    } else {
        "transfer.recurring_status"
    };
    super::events::request_event(ctx, &mut tx, &record.id, event, now).await?;
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    Ok(())
}

/// The request's schedule in words and Plaid's recurring transfer, for a recurring request.
pub async fn view(ctx: &Context, record: &RequestRecord) -> Result<Option<super::view::RecurringView>> {
    let Ok(intent) = TransferIntent::from_json(&record.intent) else { return Ok(None) };
    let Some(schedule) = &intent.schedule else { return Ok(None) };
    let accounts = items::accounts(ctx.store.reader(), &record.item_id).await?;
    let mask = accounts
        .iter()
        .find(|a| a.account_id == record.account_id)
        .and_then(|a| a.mask.clone())
        .unwrap_or_else(|| record.account_id.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect());
    let totals = schedule.totals(intent.amount);
    let created = rows::for_request(ctx.store.reader(), &record.id).await?;
    Ok(Some(super::view::RecurringView {
        summary: intent.schedule_in_words(&mask).unwrap_or_default(),
        occurrences: totals.map(|(count, _)| count),
        total: totals.map(|(_, total)| total.to_string()),
        recurring_transfer_id: created.as_ref().map(|c| c.recurring_transfer_id.clone()),
        status: created.as_ref().map(|c| c.status.clone()),
        transfer_ids: created.as_ref().map(|c| c.transfer_ids.clone()).unwrap_or_default(),
        next_origination_date: created.and_then(|c| c.next_origination_date),
    }))
}
