//! The database's own ceiling: single-row durable commits per second at the same concurrency,
//! through the same store (same pools, pragmas and `BEGIN IMMEDIATE` on SQLite) as the service.

use crate::store::Store;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn measure(database_url: &str, concurrency: usize, duration: Duration) -> anyhow::Result<f64> {
    let store = Store::connect(database_url, u32::try_from(concurrency.max(2)).unwrap_or(16)).await?;
    let mut tx = store.begin().await?;
    tx.write(sqlx::query("CREATE TABLE IF NOT EXISTS bench_ceiling (id TEXT PRIMARY KEY, at BIGINT NOT NULL)")).await?;
    store.commit(tx).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut tx) = store.begin_solo().await else { continue };
                let inserted = tx
                    .write(
                        sqlx::query("INSERT INTO bench_ceiling (id, at) VALUES ($1, $2)")
                            .bind(uuid::Uuid::new_v4().to_string())
                            .bind(0i64),
                    )
                    .await;
                if inserted.is_ok() && store.commit(tx).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    store.close().await;
    Ok(rate)
}
