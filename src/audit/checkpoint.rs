//! Signed checkpoints: the service signs (seq, hash) of the chain with Ed25519, so an auditor
//! holding a checkpoint can later prove that no record at or below `seq` changed — even against
//! a database administrator who can rewrite the whole table and recompute every hash.
//!
//! Signed message (UTF-8): `countersign-audit-checkpoint/v1\n{seq}\n{hash}\n{signed_at}`, where
//! `signed_at` is the RFC 3339 text exactly as it appears in the checkpoint. Signature and public
//! key are lowercase hex. The signing key is derived from the master key (purpose
//! `audit-checkpoint`); rotating the master key rotates it, and old checkpoints keep verifying
//! against the old public key.

use super::anchor::AnchorLog;
use crate::crypto::MasterKey;
use crate::domain::timestamp::{format_audit_time as format_time, parse_audit_time as parse_time};
use crate::store::checkpoints::{self, CheckpointRow};
use crate::store::{audit as rows, StoreResult};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

const DOMAIN: &str = "countersign-audit-checkpoint/v1";

/// A checkpoint as exported and as an auditor keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub signed_at: String,
    pub algorithm: String,
    pub signature: String,
    pub public_key: String,
}

impl Checkpoint {
    pub fn from_row(row: &CheckpointRow) -> Self {
        Self {
            seq: row.seq,
            hash: row.hash.clone(),
            signed_at: format_time(row.signed_at),
            algorithm: "ed25519".into(),
            signature: row.signature.clone(),
            public_key: row.public_key.clone(),
        }
    }

    fn message(&self) -> String {
        message(self.seq, &self.hash, &self.signed_at)
    }

    /// Checks the signature, against `pinned` when given (an auditor should always pin the key
    /// `countersign audit pubkey` printed), else against the key the checkpoint names.
    pub fn verify_signature(&self, pinned: Option<&str>) -> Result<(), String> {
        let key_hex = pinned.unwrap_or(&self.public_key);
        if pinned.is_some_and(|p| !p.eq_ignore_ascii_case(&self.public_key)) {
            return Err(format!("checkpoint at seq {} was signed by another key ({})", self.seq, self.public_key));
        }
        let key = parse_public_key(key_hex)?;
        let signature = hex::decode(&self.signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .ok_or_else(|| format!("checkpoint at seq {}: the signature is not 64 bytes of hex", self.seq))?;
        if self.algorithm != "ed25519" || parse_time(&self.signed_at).is_none() {
            return Err(format!("checkpoint at seq {}: unknown algorithm or malformed signed_at", self.seq));
        }
        key.verify(self.message().as_bytes(), &signature)
            .map_err(|_| format!("checkpoint at seq {}: the signature does not verify", self.seq))
    }
}

pub fn parse_public_key(hex_text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the public key must be 32 bytes of hex")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not an Ed25519 public key".to_owned())
}

fn message(seq: i64, hash: &str, signed_at: &str) -> String {
    format!("{DOMAIN}\n{seq}\n{hash}\n{signed_at}")
}

/// The service's checkpoint signing key. `Debug` is redacted.
#[derive(Clone)]
pub struct CheckpointKey(SigningKey);

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckpointKey(redacted)")
    }
}

impl CheckpointKey {
    pub fn from_master(master: &MasterKey) -> Self {
        Self(SigningKey::from_bytes(&master.derive("audit-checkpoint")))
    }

    /// Hex of the 32-byte Ed25519 public key.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.0.verifying_key().as_bytes())
    }

    pub fn sign(&self, seq: i64, hash: &str, signed_at_ms: i64) -> CheckpointRow {
        let signed_at = format_time(signed_at_ms);
        let signature = self.0.sign(message(seq, hash, &signed_at).as_bytes());
        CheckpointRow {
            seq,
            hash: hash.to_owned(),
            signed_at: signed_at_ms,
            signature: hex::encode(signature.to_bytes()),
            public_key: self.public_key_hex(),
        }
    }
}

/// Signs the record at `seq` (reusing the stored checkpoint for that seq if there is one) and
/// anchors a new checkpoint outside the database. `None` when there is no such record.
pub async fn sign_at(
    store: &crate::store::Store,
    key: &CheckpointKey,
    anchors: &AnchorLog,
    seq: i64,
    now_ms: i64,
) -> StoreResult<Option<Checkpoint>> {
    if let Some(existing) = checkpoints::find(store.reader(), seq).await? {
        return Ok(Some(Checkpoint::from_row(&existing)));
    }
    let Some(hash) = rows::hash_at(store.reader(), seq).await? else { return Ok(None) };
    let signed = key.sign(seq, &hash, now_ms);
    let mut tx = store.begin().await?;
    let stored = checkpoints::insert_or_get(&mut tx, &signed).await?;
    store.commit(tx).await?;
    let checkpoint = Checkpoint::from_row(&stored);
    // Another signer that got there first anchors its own; a checkpoint that could not be anchored
    // still stands (the database has it), with an alert: verification is weaker until the next.
    if stored == signed {
        if let Err(error) = anchors.append(&checkpoint).await {
            let message = format!("checkpoint at seq {seq} not anchored in {}: {error}", anchors.path().display());
            super::chain::alert(store, "anchor_write", &message);
        }
    }
    Ok(Some(checkpoint))
}

/// Signs the current chain head, unless it is empty.
pub async fn sign_head(
    store: &crate::store::Store,
    key: &CheckpointKey,
    anchors: &AnchorLog,
    now_ms: i64,
) -> StoreResult<Option<Checkpoint>> {
    super::chain::settle(store).await?;
    let (seq, _) = rows::head(store.reader()).await?;
    if seq == 0 {
        return Ok(None);
    }
    sign_at(store, key, anchors, seq, now_ms).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_key() -> CheckpointKey {
        CheckpointKey::from_master(&MasterKey::from_base64(&MasterKey::generate_base64()).expect("key"))
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_breaks_it() {
        let key = new_key();
        let checkpoint = Checkpoint::from_row(&key.sign(42, &"ab".repeat(32), 1_700_000_000_000));
        assert_eq!(checkpoint.verify_signature(Some(&key.public_key_hex())), Ok(()));
        let moved = Checkpoint { seq: 41, ..checkpoint.clone() };
        assert!(moved.verify_signature(None).is_err());
        let rehashed = Checkpoint { hash: "cd".repeat(32), ..checkpoint.clone() };
        assert!(rehashed.verify_signature(None).is_err());
        let other = new_key();
        let forged = Checkpoint::from_row(&other.sign(42, &"ab".repeat(32), 1_700_000_000_000));
        assert!(forged.verify_signature(Some(&key.public_key_hex())).is_err(), "pinned key refuses other signers");
    }

    #[test]
    fn the_key_is_stable_for_one_master_key() {
        let master = MasterKey::from_base64(&MasterKey::generate_base64()).expect("key");
        assert_eq!(
            CheckpointKey::from_master(&master).public_key_hex(),
            CheckpointKey::from_master(&master).public_key_hex()
        );
    }
}
