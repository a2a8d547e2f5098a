//! Audit records of plain reads, committed in groups: the service's one write per read.
//!
//! A tier-0 read changes nothing but the audit trail, so the records of reads that finish at the
//! same moment share one commit: one task takes whatever records are waiting (up to `MAX_BATCH`),
//! commits them together and only then releases each read's answer. A read is still answered
//! only after its record is durable. Reads that write more than their record (tier 1's review
//! row, an item marked broken) keep their own transaction.
//!
//! How long a read waits for its commit: on SQLite (one writer) for the commit in progress, if
//! any, then its own. On PostgreSQL batches do not wait for each other: up to `IN_FLIGHT` commit
//! side by side (each one autocommit INSERT; the database flushes them together), so a read waits
//! for its own commit only, and under load the batches grow instead of queueing.

use crate::audit::{self, AuditFields};
use crate::domain::AuditEventId;
use crate::error::Result;
use crate::store::{Backend, Store};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Records per transaction at most (the audit insert puts up to 200 rows in one statement).
const MAX_BATCH: usize = 200;
/// Reads waiting for a batch before new ones wait for room (backpressure, bounded memory).
const QUEUE: usize = 4096;
/// PostgreSQL commits in flight at once (a few of the pool's connections; the rest serve lookups).
const IN_FLIGHT: usize = 4;

type Waiting = (AuditFields, oneshot::Sender<std::result::Result<(), String>>);

#[derive(Debug)]
pub struct AuditBatcher {
    queue: mpsc::Sender<Waiting>,
}

impl AuditBatcher {
    /// Starts the committing task on the current runtime.
    pub fn start(store: Store) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(commit_batches(store, waiting));
        Self { queue }
    }

    /// Returns once `fields` is committed (or its batch failed).
    pub async fn append(&self, fields: AuditFields) -> Result<()> {
        let (done, committed) = oneshot::channel();
        self.queue.send((fields, done)).await.map_err(|_| anyhow::anyhow!("the read audit batcher stopped"))?;
        committed
            .await
            .map_err(|_| anyhow::anyhow!("the read audit batcher stopped"))?
            .map_err(|e| anyhow::anyhow!("committing read audit records: {e}"))?;
        Ok(())
    }
}

async fn commit_batches(store: Store, mut waiting: mpsc::Receiver<Waiting>) {
    let in_flight = Arc::new(Semaphore::new(match store.backend() {
        Backend::Postgres => IN_FLIGHT,
        Backend::Sqlite => 1,
    }));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        // Whatever queued while waiting for the permit joins this batch.
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (records, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let store = store.clone();
        tokio::spawn(async move {
            let outcome = commit(&store, records).await.map_err(|e| format!("{e:#}"));
            drop(permit);
            if let Err(error) = &outcome {
                tracing::error!(error = %error, records = replies.len(), "read audit batch failed");
            }
            for reply in replies {
                let _ = reply.send(outcome.clone());
            }
        });
    }
}

async fn commit(store: &Store, mut records: Vec<AuditFields>) -> anyhow::Result<()> {
    if store.backend() == Backend::Postgres {
        for fields in &mut records {
            fields.event_id = AuditEventId::generate().to_string();
        }
        return Ok(crate::store::reads::queue_records(store, &records).await?);
    }
    // SQLite: the records are chained in the writer's transaction.
    let mut tx = store.begin().await?;
    for fields in records {
        audit::append(&mut tx, fields).await?;
    }
    store.commit(tx).await?;
    Ok(())
}
