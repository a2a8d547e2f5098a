//! The reconciler finishes work a process started and did not finish — because it crashed, or
//! Plaid never answered. It runs on every replica; a lease (compare-and-set on `updated_at`)
//! gives each stale request to one of them at a time.
//!
//! - `approved` but never claimed → execute.
//! - `executing` → ask Plaid for the transfer by authorization id; if there is none and the
//!   authorization is still alive, create again (Plaid dedupes on the authorization id); if it
//!   has lapsed, the transfer can no longer be made: fail.
//! - `proposed` → ask Plaid for the authorization again with the stored idempotency key.

use super::authorize::authorize;
use super::execute;
use super::{now_ms, trail, Context};
use crate::auth::millis;
use crate::domain::{Event, RequestId, RequestState};
use crate::error::Result;
use crate::store::requests::{self, Changes, RequestRecord};
use std::time::Duration;

const BATCH: i64 = 50;
/// A proposal Plaid never answered is retried with its idempotency key for this long, then
/// failed: asking much later (Plaid forgets keys after 48 h) could mint an authorization nobody
/// is waiting for.
const ABANDON_PROPOSED_AFTER_MS: i64 = 10 * 60 * 1000;

async fn abandon(ctx: &Context, record: &crate::store::requests::RequestRecord) -> Result<()> {
    let now = now_ms();
    let changes = Changes {
        error_code: Some("authorization_abandoned".into()),
        error_message: Some("Plaid's authorization decision never arrived; propose again".into()),
        ..Changes::default()
    };
    let target = RequestState::Proposed.apply(Event::PlaidFailed).map_err(anyhow::Error::from)?;
    let mut tx = ctx.store.begin().await?;
    if requests::transition(&mut tx, &record.id, &[RequestState::Proposed], target, &changes, now).await? {
        let mut fields = super::trail::for_request(record, "transfer.authorization", "error", now);
        fields.error_code = changes.error_code.clone();
        crate::audit::append(&mut tx, fields).await?;
    }
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    Ok(())
}

/// One pass; returns how many requests it moved along.
pub async fn reconcile_once(ctx: &Context) -> Result<usize> {
    let stale_before = now_ms() - millis(ctx.reconcile_after);
    let mut handled = 0;
    for state in [RequestState::Approved, RequestState::Executing, RequestState::Proposed] {
        for (id, seen) in requests::stale(ctx.store.reader(), state, stale_before, BATCH).await? {
            if take_over(ctx, &id, state, seen).await? {
                reconcile_one(ctx, &id, state).await?;
                handled += 1;
            }
        }
    }
    Ok(handled)
}

async fn take_over(ctx: &Context, id: &RequestId, state: RequestState, seen: i64) -> Result<bool> {
    let mut tx = ctx.store.begin().await?;
    let won = requests::take_lease(&mut tx, id, state, seen, now_ms()).await?;
    ctx.store.commit(tx).await?;
    Ok(won)
}

async fn reconcile_one(ctx: &Context, id: &RequestId, state: RequestState) -> Result<()> {
    let Some(record) = requests::find(ctx.store.reader(), id).await? else { return Ok(()) };
    match state {
        RequestState::Approved => execute::execute(ctx, id).await,
        RequestState::Proposed if now_ms() - record.created_at > ABANDON_PROPOSED_AFTER_MS => {
            abandon(ctx, &record).await
        }
        RequestState::Proposed => authorize(ctx, &record, None).await.map(|_| ()),
        RequestState::Executing => {
            let Some(authorization_id) = record.authorization_id.clone() else { return Ok(()) };
            match ctx.plaid.transfer_by_authorization(&authorization_id).await {
                Ok(found) => {
                    let changes = Changes {
                        transfer_id: Some(found.transfer.id),
                        transfer_status: Some(found.transfer.status),
                        ..Changes::default()
                    };
                    let plaid_request_id = Some(found.request_id);
                    settle_reconciled(ctx, &record, Event::TransferCreated, changes, "success", plaid_request_id).await
                }
                Err(error) if error.is_indeterminate() => Ok(()),
                Err(error) => {
                    // Plaid knows no transfer for this authorization.
                    let alive = record.authorized_at.is_some_and(|at| now_ms() < at + millis(ctx.window.ttl));
                    if alive {
                        execute::create(ctx, &record).await
                    } else {
                        let changes = Changes {
                            error_code: Some("authorization_expired".into()),
                            error_message: Some(
                                "the authorization lapsed before the transfer could be confirmed; no transfer exists"
                                    .into(),
                            ),
                            ..Changes::default()
                        };
                        let plaid_request_id = error.request_id().map(Into::into);
                        settle_reconciled(ctx, &record, Event::PlaidFailed, changes, "error", plaid_request_id).await
                    }
                }
            }
        }
        _ => Ok(()),
    }
}

/// Settles an `executing` request from what Plaid told the reconciler: the execution's result
/// (`transfer.executed`) and how it was learned (`transfer.reconciled`), in one transaction.
async fn settle_reconciled(
    ctx: &Context,
    record: &RequestRecord,
    event: Event,
    changes: Changes,
    outcome: &str,
    plaid_request_id: Option<String>,
) -> Result<()> {
    let now = now_ms();
    let executed_hash = (outcome == "success").then(|| record.payload_hash.clone()).flatten();
    let executed = execute::executed_record(record, &changes, outcome, executed_hash, plaid_request_id.clone(), now);
    let mut reconciled = trail::for_request(record, "transfer.reconciled", outcome, now);
    reconciled.plaid_endpoint = Some("/transfer/get".into());
    reconciled.action_type = Some("read".into());
    reconciled.plaid_request_id = plaid_request_id;
    reconciled.error_code = changes.error_code.clone();
    execute::settle(ctx, record, event, &changes, vec![executed, reconciled], now).await
}

/// Runs the reconciler until `shutdown` fires.
pub async fn run(ctx: Context, interval: Duration, shutdown: tokio::sync::watch::Receiver<bool>) {
    super::every(interval, shutdown, ctx.metrics.clone(), "reconciliation", || {
        let ctx = ctx.clone();
        async move { reconcile_once(&ctx).await.map(|_| ()) }
    })
    .await
}
