//! Appending to the chain: `hash = SHA-256(prev_hash || canonical JSON of the record with its seq)`.

use crate::domain::canonical::{canonical_json, sha256_hex};
use crate::domain::AuditEventId;
use crate::store::audit::{self as rows, AuditFields};
use crate::store::{StoreResult, Tx};

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

/// Appends one record inside the caller's transaction and returns its sequence number.
/// An empty `event_id` gets a fresh one.
pub async fn append(tx: &mut Tx, mut fields: AuditFields) -> StoreResult<i64> {
    if fields.event_id.is_empty() {
        fields.event_id = AuditEventId::generate().to_string();
    }
    let (seq, prev_hash) = rows::advance_head(tx).await?;
    let hash = record_hash(seq, &fields, &prev_hash);
    rows::insert(tx, seq, &fields, &prev_hash, &hash).await?;
    Ok(seq)
}

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
