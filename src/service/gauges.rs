//! What `/metrics` reads from the database at each scrape (shared by every replica, so any one of
//! them reports the same): requests waiting for people by tier, and the audit chain's lag.

use super::{now_ms, Context};
use crate::error::Result;
use crate::store::gauges;

pub struct Gauges {
    /// `(tier, count)`; tiers 2 and 3 are always present, zero when nothing waits.
    pub pending_by_tier: Vec<(i64, i64)>,
    /// Audit records committed but not yet chained.
    pub chain_lag_records: i64,
    /// Age of the oldest of them, in seconds (0 when none waits).
    pub chain_lag_seconds: f64,
    /// Outbox messages not yet delivered (nor failed), the age of the oldest, in seconds, and the
    /// failed ones.
    pub outbox_depth: i64,
    pub outbox_oldest_seconds: f64,
    pub outbox_failed: i64,
}

pub async fn read(ctx: &Context) -> Result<Gauges> {
    let mut pending_by_tier = gauges::pending_by_tier(ctx.store.reader()).await?;
    for tier in [2, 3] {
        if !pending_by_tier.iter().any(|(t, _)| *t == tier) {
            pending_by_tier.push((tier, 0));
        }
    }
    pending_by_tier.sort_unstable();
    let (chain_lag_records, oldest) = gauges::audit_backlog(ctx.store.reader()).await?;
    let chain_lag_seconds = oldest.map_or(0.0, |at| (now_ms() - at).max(0) as f64 / 1000.0);
    let outbox = crate::store::outbox::backlog(ctx.store.reader()).await?;
    let outbox_oldest_seconds = outbox.oldest_pending_at.map_or(0.0, |at| (now_ms() - at).max(0) as f64 / 1000.0);
    Ok(Gauges {
        pending_by_tier,
        chain_lag_records,
        chain_lag_seconds,
        outbox_depth: outbox.pending,
        outbox_oldest_seconds,
        outbox_failed: outbox.failed,
    })
}
