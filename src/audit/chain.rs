//! Appending to the chain: `hash = SHA-256(prev_hash || canonical JSON of the record with its seq)`.
//!
//! Business transactions only queue their records (`audit_pending`), in the same transaction as
//! the change; `settle` moves queued records into the chain under the head's row lock, a batch per
//! commit. A shared lock taken by every write transaction and held through its commit would
//! serialize all writes of all replicas.

use crate::domain::canonical::{canonical_json, sha256_hex};
use crate::domain::AuditEventId;
use crate::store::audit::{self as rows, AuditFields, AuditRow};
use crate::store::{Store, StoreResult, Tx};
use std::time::Duration;
use tokio::sync::watch;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of one record given its predecessor's hash. Verification recomputes exactly this.
pub fn record_hash(seq: i64, fields: &AuditFields, prev_hash: &str) -> String {
    let mut value = serde_json::to_value(fields).unwrap_or(serde_json::Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.insert("seq".into(), seq.into());
    }
    let mut input = prev_hash.as_bytes().to_vec();
    input.extend_from_slice(canonical_json(&value).as_bytes());
    sha256_hex(&input)
}

/// Appends one record inside the caller's transaction: it commits or rolls back with the change
/// it describes. The record is queued; [`settle`] gives it its place in the chain moments later.
/// An empty `event_id` gets a fresh one.
pub async fn append(tx: &mut Tx, mut fields: AuditFields) -> StoreResult<()> {
    if fields.event_id.is_empty() {
        fields.event_id = AuditEventId::generate().to_string();
    }
    rows::insert_pending(tx, &fields).await
}

/// Records chained per transaction.
const BATCH: i64 = 1_000;

/// Chains every record queued so far, oldest queue id first, and returns how many. Safe to
/// call from any task of any replica at any time: the head's row lock makes one caller at a time
/// the chainer, and a caller that waited finds the queue already drained. Readers of the trail
/// call it first, so a record is readable as soon as the transaction that wrote it has committed.
pub async fn settle(store: &Store) -> StoreResult<usize> {
    // Only what was queued before this call: under load, new records keep arriving and are the
    // background chainer's to take.
    let Some(upto) = rows::last_pending(store.reader()).await? else { return Ok(0) };
    let mut chained = 0;
    loop {
        let mut tx = store.begin().await?;
        let (mut seq, mut prev_hash) = rows::lock_head(&mut tx).await?;
        let queued = rows::pending(&mut tx, upto, BATCH).await?;
        if queued.is_empty() {
            return Ok(chained);
        }
        let full = queued.len() as i64 == BATCH;
        let mut ids = Vec::with_capacity(queued.len());
        let mut records = Vec::with_capacity(queued.len());
        for (id, fields) in queued {
            seq += 1;
            let hash = record_hash(seq, &fields, &prev_hash);
            ids.push(id);
            records.push(AuditRow { seq, fields, prev_hash: std::mem::replace(&mut prev_hash, hash.clone()), hash });
        }
        rows::insert(&mut tx, &records).await?;
        rows::delete_pending(&mut tx, &ids).await?;
        rows::set_head(&mut tx, seq, &prev_hash).await?;
        store.commit(tx).await?;
        chained += records.len();
        if !full {
            return Ok(chained);
        }
    }
}

/// Chains queued records as they arrive: woken by every commit in this process, and every
/// `interval` for records other processes (the CLI, another replica) queued.
pub async fn run_chainer(store: Store, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let committed = store.committed();
    loop {
        tokio::select! {
            _ = committed.notified() => {
                // Let a few more commits join this batch.
                tokio::time::sleep(GATHER).await;
            }
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => break,
        }
        if let Err(error) = settle(&store).await {
            tracing::error!(error = %error, "chaining audit records failed");
        }
    }
    // Leave nothing queued behind on a clean stop.
    if let Err(error) = settle(&store).await {
        tracing::error!(error = %error, "chaining audit records at shutdown failed");
    }
}

const GATHER: Duration = Duration::from_millis(2);

/// Keeps the last four characters of an account id: enough to tell accounts apart, not enough
/// to use one.
pub fn mask_account(account_id: &str) -> String {
    let chars: Vec<char> = account_id.chars().collect();
    let visible = chars.len().min(4);
    let tail: String = chars[chars.len() - visible..].iter().collect();
    format!("••{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_only_the_last_four() {
        assert_eq!(mask_account("BxBXxLj1m4HMXBm9WZZmCWVbPjX16EHwv99vp"), "••99vp");
        assert_eq!(mask_account("ab"), "••ab");
    }

    #[test]
    fn the_hash_covers_every_field_the_sequence_and_the_predecessor() {
        let fields = AuditFields { event_id: "ev_1".into(), outcome: "success".into(), ..AuditFields::default() };
        let base = record_hash(1, &fields, GENESIS_HASH);
        assert_ne!(base, record_hash(2, &fields, GENESIS_HASH));
        assert_ne!(base, record_hash(1, &fields, &"1".repeat(64)));
        let changed = AuditFields { outcome: "error".into(), ..fields.clone() };
        assert_ne!(base, record_hash(1, &changed, GENESIS_HASH));
        assert_eq!(base, record_hash(1, &fields, GENESIS_HASH));
    }
}
