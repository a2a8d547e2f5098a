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
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    release_authorization(ctx, &record).await;
    Ok(true)
}

/// Deletes agent idempotency keys past retention.
pub async fn prune_idempotency_keys(ctx: &Context) -> Result<u64> {
    let mut tx = ctx.store.begin().await?;
    let pruned = keys::prune(&mut tx, now_ms() - RETENTION_MS).await?;
    ctx.store.commit(tx).await?;
    Ok(pruned)
}

/// Runs the sweeper until `shutdown` fires.
pub async fn run(ctx: Context, interval: Duration, shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut passes: u64 = 0;
    super::every(interval, shutdown, "expiry sweep", || {
        passes += 1;
        let prune = passes % 3600 == 0;
        let ctx = ctx.clone();
        async move {
            sweep_once(&ctx).await?;
            if prune {
                prune_idempotency_keys(&ctx).await?;
                super::signin::prune_throttle(&ctx).await?;
            }
            Ok(())
        }
    })
    .await
}
