//! Expiry: a request whose authorization window has passed can no longer be approved or executed.
//! The sweeper runs on every replica; the compare-and-set lets exactly one of them expire each
//! request and cancel its authorization.

use super::cancel::release_authorization;
use super::idempotency::RETENTION_MS;
use super::{now_ms, trail, Context};
use crate::audit;
use crate::domain::{Event, RequestId, RequestState};
use crate::error::Result;
use crate::store::idempotency as keys;
use crate::store::maintenance;
use crate::store::requests::{self, Changes};
use std::time::Duration;

const BATCH: i64 = 100;

/// Expires every request past its window; returns how many this call expired.
pub async fn sweep_once(ctx: &Context) -> Result<usize> {
    let now = now_ms();
    let mut expired = 0;
    for id in requests::past_window(ctx.store.reader(), now, BATCH).await? {
        if expire_one(ctx, &id, now).await? {
            expired += 1;
        }
    }
    Ok(expired)
}

async fn expire_one(ctx: &Context, id: &RequestId, now: i64) -> Result<bool> {
    let mut tx = ctx.store.begin().await?;
    let won = requests::transition(
        &mut tx,
        id,
        &RequestState::sources_of(Event::WindowPassed),
        RequestState::Expired,
        &Changes::default(),
        now,
    )
    .await?;
    if !won {
        return Ok(false);
    }
    let record = requests::find_in(&mut tx, id).await?.ok_or_else(|| anyhow::anyhow!("expired request vanished"))?;
    let mut fields = trail::for_request(&record, "transfer.expired", "expired", now);
    fields.ttl_seconds = record.authorized_at.map(|at| (now - at) / 1000);
    audit::append(&mut tx, fields).await?;
    super::events::request_changed(ctx, &mut tx, id, now).await?;
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    release_authorization(ctx, &record).await;
    Ok(true)
}

/// The maintenance task name under which idempotency-key pruning is claimed.
const PRUNE_TASK: &str = "prune_idempotency_keys";

/// Deletes agent idempotency keys past retention if no replica did so in the last `period`
/// (wall clock, claimed in the database); returns how many were deleted, or `None` when not due.
pub async fn prune_if_due(ctx: &Context, period: Duration) -> Result<Option<u64>> {
    let now = now_ms();
    let due_before = now.saturating_sub(i64::try_from(period.as_millis()).unwrap_or(i64::MAX));
    // A read first, so the passes between prunes put nothing on the (SQLite: single) writer.
    if maintenance::last_run(ctx.store.reader(), PRUNE_TASK).await?.is_some_and(|last| last > due_before) {
        return Ok(None);
    }
    let mut tx = ctx.store.begin().await?;
    if !maintenance::claim(&mut tx, PRUNE_TASK, now, due_before).await? {
        return Ok(None);
    }
    let pruned = keys::prune(&mut tx, now - RETENTION_MS).await?;
    ctx.store.commit(tx).await?;
    Ok(Some(pruned))
}

/// Runs the sweeper until `shutdown` fires; stale idempotency keys are pruned once per
/// `prune_every` of wall clock, whichever replica gets there first, however often processes restart.
pub async fn run(
    ctx: Context,
    interval: Duration,
    prune_every: Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    super::every(interval, shutdown, ctx.metrics.clone(), "expiry", || {
        let ctx = ctx.clone();
        async move {
            sweep_once(&ctx).await?;
            if prune_if_due(&ctx, prune_every).await?.is_some() {
                super::signin::prune_throttle(&ctx).await?;
            }
            Ok(())
        }
    })
    .await
}
