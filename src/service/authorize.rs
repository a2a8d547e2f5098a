//! Asking Plaid for a risk decision on a stored `proposed` request, and applying it.
//!
//! Shared by propose, edit, renew and the reconciler. The request already carries its Plaid
//! idempotency key, so asking again after a crash or timeout returns the same authorization.

use super::idempotency::{self, IdempotencyKey, Reply};
use super::{now_ms, parse_rfc3339_ms, trail, Context};
use crate::audit;
use crate::domain::{AgentId, Event, RequestState, Tier, TransferIntent};
use crate::error::Result;
use crate::plaid::types::{AuthorizationCreateRequest, AuthorizationUser, Decision};
use crate::plaid::PlaidError;
use crate::store::items::{self, ItemRecord};
use crate::store::requests::{self, Changes, RequestRecord};
use crate::store::transitions::{self, StoredReply, Whole};

/// Where a request's reply must also be stored (the agent's Idempotency-Key), if anywhere.
pub type ReplyTo<'a> = Option<(&'a AgentId, &'a IdempotencyKey)>;

pub enum Authorized {
    /// Plaid decided (or definitely refused); the request left `proposed`.
    Settled { record: Box<RequestRecord>, reply: Reply },
    /// No definite answer; the request is still `proposed` and may be asked again.
    Indeterminate(PlaidError),
}

struct Settlement {
    event: Event,
    changes: Changes,
    plaid_request_id: Option<String>,
}

/// Asks Plaid for the request's authorization and settles the request by its answer. `item` is
/// the request's item when the caller just read it (a proposal); otherwise it is read here.
pub async fn authorize(
    ctx: &Context,
    record: &RequestRecord,
    item: Option<ItemRecord>,
    reply_to: ReplyTo<'_>,
) -> Result<Authorized> {
    let intent =
        TransferIntent::from_json(&record.intent).map_err(|e| anyhow::anyhow!("stored intent: {}", e.message))?;
    let item = match item {
        Some(item) => item,
        None => items::find(ctx.store.reader(), &record.item_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the request's item is gone"))?,
    };
    let access_token = ctx.master_key.decrypt(&item.access_token_enc)?;
    let plaid_request = AuthorizationCreateRequest {
        access_token: &access_token,
        account_id: intent.account_id.as_str(),
        transfer_type: intent.transfer_type.as_str(),
        network: intent.network.as_str(),
        amount: intent.amount.to_string(),
        ach_class: intent.ach_class.map(|c| c.as_str()),
        user: AuthorizationUser { legal_name: intent.legal_name.as_str() },
        idempotency_key: &record.plaid_idempotency_key,
    };
    let settlement = match ctx.plaid.authorize_transfer(&plaid_request).await {
        Ok(response) => {
            let authorization = response.authorization;
            let rationale = authorization.decision_rationale.clone();
            let mut changes = Changes {
                authorization_id: Some(authorization.id.clone()),
                decision_rationale_code: rationale.as_ref().map(|r| r.code.clone()),
                decision_rationale_description: rationale.map(|r| r.description),
                ..Changes::default()
            };
            let event = match authorization.decision {
                Decision::Approved => {
                    let authorized_at = parse_rfc3339_ms(&authorization.created).unwrap_or_else(now_ms);
                    changes.decision = Some("approved".into());
                    changes.authorized_at = Some(authorized_at);
                    changes.expires_at = Some(approvals_close_at(ctx, record, authorized_at));
                    changes.payload_hash = Some(intent.payload_hash(&authorization.id));
                    Event::PlaidApproved
                }
                Decision::Declined => {
                    changes.decision = Some("declined".into());
                    Event::PlaidDeclined
                }
                Decision::UserActionRequired => {
                    changes.decision = Some("user_action_required".into());
                    attach_link_token(ctx, &access_token, record, &mut changes).await;
                    Event::PlaidNeedsUserAction
                }
                Decision::Unknown => {
                    changes.error_code = Some("unknown_plaid_decision".into());
                    changes.error_message = Some("Plaid returned a decision this version does not know".into());
                    Event::PlaidFailed
                }
            };
            Settlement { event, changes, plaid_request_id: Some(response.request_id) }
        }
        Err(error) if error.is_login_required() => {
            let mut changes = Changes { decision: Some("user_action_required".into()), ..Changes::default() };
            attach_link_token(ctx, &access_token, record, &mut changes).await;
            Settlement {
                event: Event::PlaidNeedsUserAction,
                changes,
                plaid_request_id: error.request_id().map(Into::into),
            }
        }
        Err(error) if error.is_indeterminate() => return Ok(Authorized::Indeterminate(error)),
        Err(error) => Settlement {
            event: Event::PlaidFailed,
            plaid_request_id: error.request_id().map(Into::into),
            changes: Changes {
                error_code: error.code().map(Into::into),
                error_message: Some(error.to_string()),
                ..Changes::default()
            },
        },
    };
    settle(ctx, record, settlement, reply_to, &item.health).await
}

/// Applies Plaid's decision with a compare-and-set from `proposed`, audits it and stores the reply.
async fn settle(
    ctx: &Context,
    record: &RequestRecord,
    settlement: Settlement,
    reply_to: ReplyTo<'_>,
    item_health: &str,
) -> Result<Authorized> {
    let now = now_ms();
    let mut target = RequestState::Proposed.apply(settlement.event).map_err(anyhow::Error::from)?;
    // Tier 1 (an explicit, capped policy rule) waits for nobody: approved and claimed for
    // execution in the same compare-and-set, reviewed afterwards in the Digest.
    let without_a_human = target == RequestState::PendingApproval && record.tier == Tier::Notify;
    if without_a_human {
        target = target.apply(Event::QuorumMet).and_then(|s| s.apply(Event::Claimed)).map_err(anyhow::Error::from)?;
    } else if let Some(settled) = settle_whole(ctx, record, &settlement, target, reply_to, item_health, now).await? {
        return Ok(settled);
    }
    let mut tx = ctx.store.begin().await?;
    let won = requests::transition_returning(
        &mut tx,
        &record.id,
        &[RequestState::Proposed],
        target,
        &settlement.changes,
        now,
    )
    .await?;
    let won_it = won.is_some();
    let current = match won {
        Some(current) => current,
        None => requests::find_in(&mut tx, &record.id).await?.ok_or_else(|| anyhow::anyhow!("request vanished"))?,
    };
    if won_it {
        audit::append(&mut tx, authorization_record(&current, target, &settlement, now)).await?;
        if without_a_human {
            let mut fields = trail::for_request(&current, "transfer.approved_by_policy", "success", now);
            fields.approval_timestamp = Some(now);
            audit::append(&mut tx, fields).await?;
            audit::append(&mut tx, trail::execution_claimed(&current, now)).await?;
            // Tier 1: executed without waiting, and the team is told (reviewed later in the Digest).
            let headline = format!(
                "Tier 1: request {} for {} runs without an approval, by policy; review it in the Digest",
                current.id,
                crate::domain::Money::from_cents(current.amount_cents).map(|m| m.to_human()).unwrap_or_default()
            );
            crate::notify::alerts::enqueue_notice(&mut tx, "transfer.tier1_executed", &headline, now).await?;
        }
        super::events::request_changed(ctx, &mut tx, &record.id, now).await?;
    }
    let reply = Reply::created(&current);
    if let Some((agent, key)) = reply_to {
        idempotency::finish(&mut tx, agent, key, reply.status, &reply.body).await?;
    }
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    Ok(Authorized::Settled { record: Box::new(current), reply })
}

/// The common settlement as one whole transition (`store::transitions`: one statement on
/// PostgreSQL): the move, its audit record, its messages and the agent's reply, computed from the
/// request as read. None when the request moved meanwhile; the general path then reads it again.
async fn settle_whole(
    ctx: &Context,
    record: &RequestRecord,
    settlement: &Settlement,
    target: RequestState,
    reply_to: ReplyTo<'_>,
    item_health: &str,
    now: i64,
) -> Result<Option<Authorized>> {
    let after = settlement.changes.applied_to(record, target, now);
    let reply = Reply::created(&after);
    let whole = Whole {
        id: &record.id,
        agent_id: &record.agent_id,
        from: RequestState::Proposed,
        read_at: record.updated_at,
        to: target,
        changes: &settlement.changes,
        now_ms: now,
        audit: vec![audit::identified(authorization_record(&after, target, settlement, now))],
        messages: super::events::whole_request_changed(ctx, &after, None, item_health, now)?,
        reply: reply_to.map(|(agent, key)| StoredReply {
            agent,
            key: key.as_str(),
            status: reply.status,
            body: &reply.body,
        }),
        approval: None,
    };
    if !transitions::apply(&ctx.store, whole).await? {
        return Ok(None);
    }
    ctx.notify_change();
    Ok(Some(Authorized::Settled { record: Box::new(after), reply }))
}

/// The `transfer.authorization` record of Plaid's decision, as the request stands after it.
fn authorization_record(
    current: &RequestRecord,
    target: RequestState,
    settlement: &Settlement,
    now: i64,
) -> crate::audit::AuditFields {
    let outcome = match target {
        RequestState::PendingApproval | RequestState::Executing => "success",
        RequestState::Declined => "declined_by_plaid",
        RequestState::ActionRequired => "action_required",
        _ => "error",
    };
    let mut fields = trail::for_request(current, "transfer.authorization", outcome, now);
    fields.plaid_endpoint = Some("/transfer/authorization/create".into());
    fields.action_type = Some("authorization".into());
    fields.plaid_request_id = settlement.plaid_request_id.clone();
    fields.error_code = current.decision_rationale_code.clone().or_else(|| current.error_code.clone());
    fields
}

/// When approvals stop counting: Plaid's window less our margin, or sooner when the policy gave
/// this request a shorter TTL.
fn approvals_close_at(ctx: &Context, record: &RequestRecord, authorized_at: i64) -> i64 {
    let window = ctx.window.expires_at(authorized_at);
    match record.approval_ttl_secs {
        Some(ttl) => window.min(authorized_at.saturating_add(ttl.saturating_mul(1000))),
        None => window,
    }
}

/// An update-mode Link token lets the end user repair the item. If Plaid can't make one now, the
/// request still ends where it must and says why.
pub async fn attach_link_token(ctx: &Context, access_token: &str, record: &RequestRecord, changes: &mut Changes) {
    match ctx.plaid.update_mode_link_token(access_token, record.item_id.as_str()).await {
        Ok(link) => changes.link_token = Some(link.link_token),
        Err(error) => {
            changes.error_code = Some("link_token_unavailable".into());
            changes.error_message = Some(format!("could not create an update-mode Link token: {error}"));
        }
    }
}
