//! Appending to the chain: `hash = SHA-256(prev_hash || canonical JSON of the record with its seq)`.
//!
//! A transaction's records are written when it commits, in the same transaction as the change
//! (`Store::commit`). On SQLite they are chained right there. On PostgreSQL they are queued
//! (`audit_pending`) and `settle` moves them into the chain under the head's row lock, a batch
//! per commit: a lock taken by every write transaction and held through its commit's flush would
//! run all writes of all replicas one after another.

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

/// Appends one record to the caller's transaction: it commits or rolls back with the change it
/// describes. On PostgreSQL it takes its place in the chain moments after the commit ([`settle`]).
/// An empty `event_id` gets a fresh one.
pub async fn append(tx: &mut Tx, fields: AuditFields) -> StoreResult<()> {
    tx.append_audit(identified(fields));
    Ok(())
}

/// `fields` with a fresh `event_id` if it has none: a record as [`append`] queues it, for a
/// whole transition (`store::transitions`) that writes it itself.
pub fn identified(mut fields: AuditFields) -> AuditFields {
    if fields.event_id.is_empty() {
        fields.event_id = AuditEventId::generate().to_string();
    }
    fields
}

/// Gives `records` their places after `(seq, prev_hash)`; returns them with the new head.
pub fn link(records: Vec<AuditFields>, mut seq: i64, mut prev_hash: String) -> (Vec<AuditRow>, i64, String) {
    let mut chained = Vec::with_capacity(records.len());
    for fields in records {
        seq += 1;
        let hash = record_hash(seq, &fields, &prev_hash);
        chained.push(AuditRow { seq, fields, prev_hash: std::mem::replace(&mut prev_hash, hash.clone()), hash });
    }
    (chained, seq, prev_hash)
}

/// Records chained per transaction: one multi-row statement, and little memory held at once.
const BATCH: i64 = 200;

/// Chains every record queued so far, oldest queue id first, and returns how many. Safe to
/// call from any task of any replica at any time: the head's row lock makes one caller at a time
/// the chainer, and a caller that waited finds the queue already drained. Readers of the trail
/// call it first, so a record is readable as soon as the transaction that wrote it has committed.
///
/// Rows someone else inserted past the head never block it: it chains after the highest stored
/// seq, linked to its own last record, raises an alert, and leaves the intruder for `verify`
/// to name (its successor does not link to it).
pub async fn settle(store: &Store) -> StoreResult<usize> {
    // Only what was queued before this call: under load, new records keep arriving and are the
    // background chainer's to take.
    let Some(upto) = rows::last_pending(store.reader()).await? else { return Ok(0) };
    let mut chained = 0;
    let mut collisions = 0;
    loop {
        let mut tx = store.begin().await?;
        let (head_seq, head_hash, last_stored) = rows::lock_head_and_last_stored(&mut tx).await?;
        let queued = rows::pending(&mut tx, upto, BATCH).await?;
        if queued.is_empty() {
            return Ok(chained);
        }
        if last_stored > head_seq {
            let message = format!(
                "audit_events holds seq {}..={last_stored} past the chain head (seq {head_seq}), not written by the \
                 chainer: chaining after them; `countersign audit verify` names them",
                head_seq + 1
            );
            alert(store, "foreign_record", &message);
        }
        let full = queued.len() as i64 == BATCH;
        let (ids, fields): (Vec<i64>, Vec<AuditFields>) = queued.into_iter().unzip();
        match rows::chain_after(&mut tx, (head_seq.max(last_stored), head_hash), fields).await {
            // A row inserted at one of our seqs after the head was read: read again, once or twice.
            Err(error) if error.is_unique_violation() && collisions < MAX_COLLISIONS => {
                collisions += 1;
                alert(
                    store,
                    "foreign_record",
                    &format!("chaining collided with a row the chainer did not write: {error}"),
                );
                continue;
            }
            result => result?,
        }
        rows::delete_pending(&mut tx, &ids).await?;
        store.commit(tx).await?;
        chained += ids.len();
        if !full {
            return Ok(chained);
        }
    }
}

/// Retries of one `settle` after its insert collided with a foreign row.
const MAX_COLLISIONS: u32 = 3;

/// Logs an audit integrity alert and counts it in `countersign_audit_chain_errors{kind}`.
pub fn alert(store: &Store, kind: &'static str, message: &str) {
    tracing::error!(kind, "audit integrity alert: {message}");
    store.audit_alerts().get_or_create(&vec![("kind", kind.to_owned())]).inc();
}

/// Chains queued records as they arrive: woken by commits in this process that queued some, and every
/// `interval` for records other processes (the CLI, another replica) queued.
pub async fn run_chainer(store: Store, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let queued = store.queued();
    loop {
        tokio::select! {
            _ = queued.notified() => {
                // Let more commits join this batch: fewer, larger chaining transactions. Readers
                // never wait for this; they chain what is queued themselves (`settle`).
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

const GATHER: Duration = Duration::from_millis(20);

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
