//! The throttle's compare-and-set itself, on both databases, with an explicit clock.

use crate::helpers::{spawn_app, Db, TestApp};
use crate::on_both_backends;
use countersign::store::throttle::{self, Limits};

const LIMITS: Limits = Limits { limit: 3, first_delay_ms: 60_000, max_delay_ms: 200_000, forget_ms: 3_600_000 };

/// Reserves at `base + at`: the test's clock starts at the wall clock's now, as the sweeper's
/// prune (which runs at start-up, at the wall clock) sees it, so only the test's own quiet
/// spells make a streak old. Answers `blocked_until` relative to `base` as well.
async fn reserve(app: &TestApp, base: i64, at: i64) -> Result<(), i64> {
    let mut tx = app.ctx.store.begin().await.expect("begin");
    let reserved = throttle::reserve(&mut tx, "user:k", LIMITS, base + at).await.expect("reserve");
    app.ctx.store.commit(tx).await.expect("commit");
    reserved.map_err(|until| until - base)
}

async fn release(app: &TestApp) {
    let mut tx = app.ctx.store.begin().await.expect("begin");
    throttle::release(&mut tx, "user:k").await.expect("release");
    app.ctx.store.commit(tx).await.expect("commit");
}

async fn a_success_takes_back_only_its_own_reservation_and_delays_double_to_the_cap(db: Db) {
    let app = spawn_app(db).await;
    let base = countersign::service::now_ms();
    assert_eq!(reserve(&app, base, 0).await, Ok(()));
    assert_eq!(reserve(&app, base, 1).await, Ok(()), "a second attempt, still in flight");
    release(&app).await; // the first succeeded: the in-flight one stays counted
    assert_eq!(reserve(&app, base, 2).await, Ok(()));
    assert_eq!(reserve(&app, base, 3).await, Ok(()), "the third counted attempt is let through and blocks the key");
    // The sweeper prunes at start-up, at the wall clock: a streak it cannot see as quiet stays.
    countersign::service::signin::prune_throttle(&app.ctx).await.expect("prune");
    assert_eq!(reserve(&app, base, 4).await, Err(60_003), "blocked for the first delay");
    assert_eq!(reserve(&app, base, 60_003).await, Ok(()), "one attempt once the delay has passed");
    assert_eq!(reserve(&app, base, 60_004).await, Err(180_003), "the delay doubled");
    assert_eq!(reserve(&app, base, 180_003).await, Ok(()));
    assert_eq!(reserve(&app, base, 180_004).await, Err(380_003), "capped at the maximum");
    // Quiet for longer than `forget_ms`: the streak starts over.
    assert_eq!(reserve(&app, base, 4_000_000).await, Ok(()));
    assert_eq!(reserve(&app, base, 4_000_001).await, Ok(()));
    app.stop().await;
}

on_both_backends!(a_success_takes_back_only_its_own_reservation_and_delays_double_to_the_cap);
