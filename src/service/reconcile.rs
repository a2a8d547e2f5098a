//! The reconciler finishes work a process started and did not finish — because it crashed, or
//! Plaid never answered. It runs on every replica; a lease (compare-and-set on `updated_at`)
//! gives each stale request to one of them at a time.
//!
//! - `approved` but never claimed → execute.
//! - `executing` → a create may have reached Plaid, so only positive evidence ends the request:
//!   the transfer found by authorization id (→ `submitted`), or — once the authorization has
//!   lapsed — Plaid accepting its cancellation, which it does only while no transfer used it
//!   (→ `failed`). While the authorization lives, create again (Plaid dedupes on its id). Any
//!   other answer (wrong credentials, a retry's 4xx, 5xx, 429, timeouts) keeps it `executing`,
//!   asked again with exponential backoff, and alerted once unresolved for `executing_alert_after`.
//! - `proposed` → ask Plaid for the authorization again with the stored idempotency key.

use super::authorize::authorize;
use super::execute::{self, Attempt, Created};
use super::{now_ms, trail, Context};
use crate::auth::millis;
use crate::domain::{Event, RequestId, RequestState};
use crate::error::Result;
use crate::plaid::PlaidError;
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
        super::events::request_changed(ctx, &mut tx, &record.id, now).await?;
    }
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    Ok(())
}

/// One pass; returns how many requests it moved along.
pub async fn reconcile_once(ctx: &Context) -> Result<usize> {
    let now = now_ms();
    let stale_before = now - millis(ctx.reconcile_after);
    let mut handled = 0;
    for state in [RequestState::Approved, RequestState::Executing, RequestState::Proposed] {
        for (id, seen) in requests::stale(ctx.store.reader(), state, stale_before, now, BATCH).await? {
            if let Some(leased_at) = take_over(ctx, &id, state, seen).await? {
                reconcile_one(ctx, &id, state, leased_at).await?;
                handled += 1;
            }
        }
    }
    let alert_before = now_ms() - millis(ctx.executing_alert_after);
    let unresolved = requests::count_unresolved(ctx.store.reader(), RequestState::Executing, alert_before).await?;
    ctx.metrics.executing_unresolved.set(unresolved);
    Ok(handled)
}

/// Takes the lease on a stale request; returns when, if this process won it.
async fn take_over(ctx: &Context, id: &RequestId, state: RequestState, seen: i64) -> Result<Option<i64>> {
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    let won = requests::take_lease(&mut tx, id, state, seen, now).await?;
    ctx.store.commit(tx).await?;
    Ok(won.then_some(now))
}

async fn reconcile_one(ctx: &Context, id: &RequestId, state: RequestState, leased_at: i64) -> Result<()> {
    let Some(record) = requests::find(ctx.store.reader(), id).await? else { return Ok(()) };
    match state {
        RequestState::Approved => execute::execute(ctx, id).await,
        RequestState::Proposed if now_ms() - record.created_at > ABANDON_PROPOSED_AFTER_MS => {
            abandon(ctx, &record).await
        }
        RequestState::Proposed if record.intent.get("schedule").is_some() => {
            super::recurring::hold_for_approvals(ctx, &record, None).await.map(|_| ())
        }
        RequestState::Proposed => authorize(ctx, &record, None, None).await.map(|_| ()),
        RequestState::Executing => settle_executing(ctx, &record, leased_at).await,
        _ => Ok(()),
    }
}

/// Settles an `executing` request on positive evidence only; otherwise defers it.
async fn settle_executing(ctx: &Context, record: &RequestRecord, leased_at: i64) -> Result<()> {
    if record.intent.get("schedule").is_some() {
        // A recurring transfer: creating again with the stored idempotency key is the lookup —
        // Plaid answers with the recurring transfer an earlier call created, or creates it once.
        return match execute::create(ctx, record, Attempt::Retry, leased_at).await? {
            Created::Submitted(_) | Created::Settled => Ok(()),
            Created::Unsettled(error) => defer(ctx, record, &error).await,
        };
    }
    let Some(authorization_id) = record.authorization_id.clone() else { return Ok(()) };
    let not_found = match ctx.plaid.transfer_by_authorization(&authorization_id).await {
        Ok(found) => {
            let changes = Changes {
                transfer_id: Some(found.transfer.id),
                transfer_status: Some(found.transfer.status),
                ..Changes::default()
            };
            let plaid_request_id = Some(found.request_id);
            return settle_reconciled(ctx, record, Event::TransferCreated, changes, "success", plaid_request_id).await;
        }
        Err(error) => error,
    };
    // Plaid's own window, not ours: a create is still possible until the authorization lapses.
    let alive = record.authorized_at.is_some_and(|at| now_ms() < at + millis(ctx.window.ttl));
    let unsettled = if alive {
        match execute::create(ctx, record, Attempt::Retry, leased_at).await? {
            Created::Submitted(_) | Created::Settled => return Ok(()),
            Created::Unsettled(error) => error,
        }
    } else {
        match ctx.plaid.cancel_authorization(&authorization_id).await {
            Ok(cancelled) => {
                let changes = Changes {
                    error_code: Some("authorization_lapsed".into()),
                    error_message: Some(
                        "the authorization lapsed before the transfer could be created; Plaid cancelled it, so no \
                         transfer exists"
                            .into(),
                    ),
                    ..Changes::default()
                };
                let plaid_request_id = Some(cancelled.request_id);
                return settle_reconciled(ctx, record, Event::PlaidFailed, changes, "error", plaid_request_id).await;
            }
            Err(error) => error,
        }
    };
    tracing::debug!(request = %record.id, lookup = %not_found, "transfer not found by authorization id");
    defer(ctx, record, &unsettled).await
}

/// Waits before the `attempts`-th next try: doubling from `base`, capped at ten minutes.
fn backoff(base: Duration, attempts: i64) -> i64 {
    let exponent = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    millis(base).saturating_mul(1_i64 << exponent).min(MAX_BACKOFF_MS)
}

const MAX_BACKOFF_MS: i64 = 10 * 60 * 1000;

/// Records a pass that could not settle the request (audited, counted) and schedules the next;
/// alerts once it has stayed unresolved longer than `executing_alert_after`.
async fn defer(ctx: &Context, record: &RequestRecord, error: &PlaidError) -> Result<()> {
    let now = now_ms();
    let attempts_before = record.reconcile_attempts;
    let next_at = now + backoff(ctx.reconcile_after, attempts_before);
    let code = error.code().unwrap_or("plaid_unavailable").to_owned();
    let mut tx = ctx.store.begin().await?;
    let Some(deferred) = requests::defer_reconcile(&mut tx, &record.id, RequestState::Executing, now, next_at).await?
    else {
        return Ok(());
    };
    let mut fields = trail::for_request(record, "transfer.reconcile_deferred", "error", now);
    fields.plaid_endpoint = Some("/transfer/get".into());
    fields.action_type = Some("read".into());
    fields.plaid_request_id = error.request_id().map(Into::into);
    fields.error_code = Some(code.clone());
    crate::audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    ctx.metrics.reconcile_deferrals.get_or_create(&vec![("plaid_error", code.clone())]).inc();
    let unresolved_ms = now - deferred.unresolved_since;
    if unresolved_ms >= millis(ctx.executing_alert_after) {
        tracing::error!(
            request = %record.id,
            attempts = deferred.attempts,
            unresolved_secs = unresolved_ms / 1000,
            plaid_error = %code,
            "ALERT: a transfer request has been executing unresolved; Plaid may hold its transfer, so it is \
             neither failed nor retried with a new authorization"
        );
    } else {
        tracing::warn!(request = %record.id, attempts = deferred.attempts, plaid_error = %code,
            "could not settle an executing request; asking Plaid again later");
    }
    Ok(())
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
