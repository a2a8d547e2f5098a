//! Audit records of plain reads, committed in groups: the service's one write per read.
//!
//! A tier-0 read changes nothing but the audit trail, so the records of reads that finish at the
//! same moment share one transaction: one task takes whatever records are waiting (up to
//! `MAX_BATCH`), commits them together and only then releases each read's answer. A read is still
//! answered only after its record is durable; under load many reads cost one commit instead of
//! one each. Reads that write more than their record (tier 1's review row, an item marked broken)
//! keep their own transaction.

use crate::audit::{self, AuditFields};
use crate::error::Result;
use crate::store::Store;
use tokio::sync::{mpsc, oneshot};

/// Records per transaction at most (the audit insert puts up to 200 rows in one statement).
const MAX_BATCH: usize = 200;
/// Reads waiting for a batch before new ones wait for room (backpressure, bounded memory).
const QUEUE: usize = 4096;

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
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (records, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let outcome = commit(&store, records).await.map_err(|e| format!("{e:#}"));
        if let Err(error) = &outcome {
            tracing::error!(error = %error, records = replies.len(), "read audit batch failed");
        }
        for reply in replies {
            let _ = reply.send(outcome.clone());
        }
    }
}

async fn commit(store: &Store, records: Vec<AuditFields>) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    for fields in records {
        audit::append(&mut tx, fields).await?;
    }
    store.commit(tx).await?;
    Ok(())
}
