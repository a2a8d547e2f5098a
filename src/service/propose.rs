//! Propose: an agent asks to move money. Plaid decides first; only an approved authorization
//! becomes a request waiting for humans (a row, nothing held in memory).
//!
//! Order of effects: (1) check item and account, (2) one transaction claims the Idempotency-Key,
//! stores the request with a freshly generated Plaid idempotency key and audits the proposal,
//! (3) `/transfer/authorization/create` with that key, outside any transaction, (4) one transaction
//! applies Plaid's decision, audits it and stores the response. A crash between (2) and (4) is
//! resumed by the agent's retry with the same Idempotency-Key: same Plaid key, same authorization.

use super::idempotency::{self, Claim, IdempotencyKey};
use super::registry;
use super::view::RequestView;
use super::{now_ms, parse_rfc3339_ms, trail, Context};
use crate::audit;
use crate::domain::{Event, RequestId, RequestState, TransferIntent};
use crate::error::{Error, Result};
use crate::plaid::types::{AuthorizationCreateRequest, AuthorizationUser, Decision};
use crate::plaid::PlaidError;
use crate::store::agents::AgentRecord;
use crate::store::requests::{self, Changes, NewRequest, RequestRecord};
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
}

const CREATED: u16 = 201;

pub async fn propose(ctx: &Context, agent: &AgentRecord, proposal: Proposal) -> Result<Reply> {
    let Proposal {
        intent,
        key,
        fingerprint,
    } = proposal;
    let item =
        registry::usable_item(ctx, agent, &intent.item_id, intent.account_id.as_str()).await?;

    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    let record = match idempotency::claim(&mut tx, &agent.id, &key, &fingerprint, now).await? {
        Claim::Replay { status, body } => return Ok(Reply { status, body }),
        Claim::InFlight => {
            drop(tx);
            return idempotency::await_reply(&ctx.store, &agent.id, &key).await;
        }
        Claim::Resume {
            request_id: Some(id),
        } => {
            let record = requests::find_in(&mut tx, &RequestId::from_trusted(id))
                .await?
                .ok_or_else(|| anyhow::anyhow!("idempotency key points at a missing request"))?;
            if record.state != RequestState::Proposed {
                let reply = reply_for(&record);
                idempotency::finish(&mut tx, &agent.id, &key, reply.status, &reply.body).await?;
                tx.commit().await.map_err(crate::store::StoreError::from)?;
                return Ok(reply);
            }
            tx.commit().await.map_err(crate::store::StoreError::from)?;
            record
        }
        Claim::Fresh | Claim::Resume { request_id: None } => {
            let record = insert_proposed(&mut tx, ctx, agent, &intent, &key, now).await?;
            tx.commit().await.map_err(crate::store::StoreError::from)?;
            record
        }
    };

    let access_token = ctx.master_key.decrypt(&item.access_token_enc)?;
    let plaid_request = AuthorizationCreateRequest {
        access_token: &access_token,
        account_id: intent.account_id.as_str(),
        transfer_type: intent.transfer_type.as_str(),
        network: intent.network.as_str(),
        amount: intent.amount.to_string(),
        ach_class: intent.ach_class.map(|c| c.as_str()),
        user: AuthorizationUser {
            legal_name: intent.legal_name.as_str(),
        },
        idempotency_key: &record.plaid_idempotency_key,
    };
    let outcome = ctx.plaid.authorize_transfer(&plaid_request).await;
    let settlement = match outcome {
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
                    let authorized_at = parse_rfc3339_ms(&authorization.created).unwrap_or(now);
                    changes.decision = Some("approved".into());
                    changes.authorized_at = Some(authorized_at);
                    changes.expires_at = Some(ctx.window.expires_at(authorized_at));
                    changes.payload_hash = Some(intent.payload_hash(&authorization.id));
                    Event::PlaidApproved
                }
                Decision::Declined => {
                    changes.decision = Some("declined".into());
                    Event::PlaidDeclined
                }
                Decision::UserActionRequired => {
                    changes.decision = Some("user_action_required".into());
                    attach_link_token(ctx, &access_token, &record, &mut changes).await;
                    Event::PlaidNeedsUserAction
                }
                Decision::Unknown => {
                    changes.error_code = Some("unknown_plaid_decision".into());
                    changes.error_message =
                        Some("Plaid returned a decision this version does not know".into());
                    Event::PlaidFailed
                }
            };
            Settlement {
                event,
                changes,
                plaid_request_id: Some(response.request_id),
            }
        }
        Err(error) if error.is_login_required() => {
            let mut changes = Changes {
                decision: Some("user_action_required".into()),
                ..Changes::default()
            };
            attach_link_token(ctx, &access_token, &record, &mut changes).await;
            Settlement {
                event: Event::PlaidNeedsUserAction,
                changes,
                plaid_request_id: error.request_id().map(Into::into),
            }
        }
        Err(error) if error.is_indeterminate() => {
            return Err(give_way(ctx, agent, &key, &record, &error).await);
        }
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
    settle(ctx, agent, &key, &record, settlement).await
}

struct Settlement {
    event: Event,
    changes: Changes,
    plaid_request_id: Option<String>,
}

async fn insert_proposed(
    tx: &mut Tx,
    ctx: &Context,
    agent: &AgentRecord,
    intent: &TransferIntent,
    key: &IdempotencyKey,
    now: i64,
) -> Result<RequestRecord> {
    let id = RequestId::generate();
    let assessment = ctx.policy.assess_transfer(intent.amount);
    let plaid_key = format!("cs-{}", uuid::Uuid::new_v4().simple());
    let intent_json = intent.to_json();
    requests::insert(
        tx,
        NewRequest {
            id: &id,
            agent_id: &agent.id,
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
            supersedes: None,
            renews: None,
            version: 1,
            now_ms: now,
        },
    )
    .await?;
    keys::link_request(tx, &agent.id, key.as_str(), id.as_str()).await?;
    let record = requests::find_in(tx, &id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("inserted request not found"))?;
    audit::append(
        tx,
        trail::for_request(&record, "transfer.proposed", "success", now),
    )
    .await?;
    Ok(record)
}

/// Applies Plaid's decision with a compare-and-set from `proposed`, audits it and stores the reply.
async fn settle(
    ctx: &Context,
    agent: &AgentRecord,
    key: &IdempotencyKey,
    record: &RequestRecord,
    settlement: Settlement,
) -> Result<Reply> {
    let now = now_ms();
    let target = RequestState::Proposed
        .apply(settlement.event)
        .map_err(anyhow::Error::from)?;
    let mut tx = ctx.store.begin().await?;
    let won = requests::transition(
        &mut tx,
        &record.id,
        &[RequestState::Proposed],
        target,
        &settlement.changes,
        now,
    )
    .await?;
    let current = requests::find_in(&mut tx, &record.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("request vanished"))?;
    if won {
        let outcome = match target {
            RequestState::PendingApproval => "success",
            RequestState::Declined => "declined_by_plaid",
            RequestState::ActionRequired => "action_required",
            _ => "error",
        };
        let mut fields = trail::for_request(&current, "transfer.authorization", outcome, now);
        fields.plaid_endpoint = Some("/transfer/authorization/create".into());
        fields.action_type = Some("authorization".into());
        fields.plaid_request_id = settlement.plaid_request_id;
        fields.error_code = current
            .decision_rationale_code
            .clone()
            .or_else(|| current.error_code.clone());
        audit::append(&mut tx, fields).await?;
    }
    let reply = reply_for(&current);
    idempotency::finish(&mut tx, &agent.id, key, reply.status, &reply.body).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    ctx.notify_change();
    Ok(reply)
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
        let mut fields =
            trail::for_request(record, "transfer.authorization_attempt", "error", now_ms());
        fields.plaid_endpoint = Some("/transfer/authorization/create".into());
        fields.action_type = Some("authorization".into());
        fields.error_code = Some(error.code().unwrap_or("plaid_unavailable").to_owned());
        audit::append(&mut tx, fields).await?;
        keys::release(&mut tx, &agent.id, key.as_str()).await?;
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Error::plaid_unavailable(),
        Err(error) => error,
    }
}

/// An update-mode Link token lets the end user repair the item. If Plaid can't make one now, the
/// request still ends `action_required` and says why.
async fn attach_link_token(
    ctx: &Context,
    access_token: &str,
    record: &RequestRecord,
    changes: &mut Changes,
) {
    match ctx
        .plaid
        .update_mode_link_token(access_token, record.item_id.as_str())
        .await
    {
        Ok(link) => changes.link_token = Some(link.link_token),
        Err(error) => {
            changes.error_code = Some("link_token_unavailable".into());
            changes.error_message = Some(format!(
                "could not create an update-mode Link token: {error}"
            ));
        }
    }
}

pub fn reply_for(record: &RequestRecord) -> Reply {
    Reply {
        status: CREATED,
        body: RequestView::from(record).to_json_string(),
    }
}
