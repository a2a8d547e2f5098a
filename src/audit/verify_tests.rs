//! Unit tests of the verifier: every kind of tampering names the first bad seq.

use super::*;
use crate::audit::checkpoint::CheckpointKey;
use crate::crypto::MasterKey;
use crate::store::audit::AuditFields;

fn chain(n: i64) -> Vec<AuditRow> {
    let mut prev = GENESIS_HASH.to_owned();
    (1..=n)
        .map(|seq| {
            let fields = AuditFields {
                event_id: format!("ev_{seq}"),
                occurred_at: 1_700_000_000_000 + seq,
                event_type: "transfer.proposed".into(),
                outcome: "success".into(),
                ..AuditFields::default()
            };
            let hash = record_hash(seq, &fields, &prev);
            let row = AuditRow { seq, fields, prev_hash: prev.clone(), hash: hash.clone() };
            prev = hash;
            row
        })
        .collect()
}

/// Re-links every row from `from` on, as a dishonest administrator would after a change.
fn rechain(rows: &mut [AuditRow], from: usize) {
    for i in from..rows.len() {
        let prev = if i == 0 { GENESIS_HASH.to_owned() } else { rows[i - 1].hash.clone() };
        rows[i].seq = i as i64 + 1;
        rows[i].prev_hash = prev;
        rows[i].hash = record_hash(rows[i].seq, &rows[i].fields, &rows[i].prev_hash);
    }
}

fn verify(rows: &[AuditRow], checkpoints: &[Checkpoint]) -> Result<Summary, Break> {
    let mut verifier = ChainVerifier::from_genesis();
    for checkpoint in checkpoints {
        verifier.add_checkpoint(checkpoint, None)?;
    }
    for row in rows {
        verifier.push(row)?;
    }
    verifier.finish(true)
}

fn first_bad(rows: &[AuditRow], checkpoints: &[Checkpoint]) -> i64 {
    verify(rows, checkpoints).expect_err("tampering is detected").seq
}

fn checkpoint_of(rows: &[AuditRow], seq: i64) -> Checkpoint {
    let key = CheckpointKey::from_master(&MasterKey::from_base64(&MasterKey::generate_base64()).expect("key"));
    Checkpoint::from_row(&key.sign(seq, &rows[seq as usize - 1].hash, 1_700_000_100_000))
}

#[test]
fn an_untouched_chain_verifies_against_its_checkpoint() {
    let rows = chain(50);
    let summary = verify(&rows, &[checkpoint_of(&rows, 50), checkpoint_of(&rows, 20)]).expect("verifies");
    assert_eq!((summary.records, summary.last_seq), (50, Some(50)));
    assert_eq!(summary.checkpoints_matched, vec![20, 50]);
}

#[test]
fn a_changed_field_is_named() {
    let mut rows = chain(10);
    rows[6].fields.outcome = "forged".into();
    assert_eq!(first_bad(&rows, &[]), 7);
}

#[test]
fn a_removed_record_is_named() {
    let mut rows = chain(10);
    rows.remove(3);
    assert_eq!(first_bad(&rows, &[]), 4);
}

#[test]
fn swapped_records_are_named() {
    let mut rows = chain(10);
    rows.swap(4, 5);
    assert_eq!(first_bad(&rows, &[]), 5);
}

#[test]
fn a_forged_record_with_a_recomputed_hash_is_named() {
    let mut rows = chain(10);
    rows[4].fields.outcome = "forged".into();
    rows[4].hash = record_hash(5, &rows[4].fields, &rows[4].prev_hash);
    assert_eq!(first_bad(&rows, &[]), 5);
}

#[test]
fn an_inserted_record_is_named() {
    let mut rows = chain(10);
    let mut forged = rows[4].clone();
    forged.seq = 6;
    forged.fields.event_id = "ev_forged".into();
    forged.prev_hash = rows[4].hash.clone();
    forged.hash = record_hash(6, &forged.fields, &forged.prev_hash);
    rows.insert(5, forged);
    assert_eq!(first_bad(&rows, &[]), 6);
}

#[test]
fn a_consistently_rewritten_chain_is_caught_by_the_checkpoint_signed_before() {
    let original = chain(10);
    let signed = checkpoint_of(&original, 8);
    let mut rows = original.clone();
    let mut forged = rows[3].clone();
    forged.fields.event_id = "ev_forged".into();
    rows.insert(4, forged);
    rechain(&mut rows, 4);
    let broken = verify(&rows, &[signed]).expect_err("detected");
    assert_eq!(broken.seq, 8);
    assert!(broken.reason.contains("seq 1..=8"), "{}", broken.reason);
}

#[test]
fn a_previously_verified_export_names_the_exact_forged_seq() {
    let original = chain(10);
    let mut rows = original.clone();
    let mut forged = rows[3].clone();
    forged.fields.event_id = "ev_forged".into();
    rows.insert(4, forged);
    rechain(&mut rows, 4);
    let mut verifier = ChainVerifier::from_genesis();
    for row in &original {
        verifier.add_trusted(row.seq, &row.hash).expect("trusted");
    }
    let broken = rows.iter().try_for_each(|row| verifier.push(row)).expect_err("detected");
    assert_eq!(broken.seq, 5);
}

#[test]
fn records_cut_off_the_end_are_caught_by_a_checkpoint() {
    let rows = chain(10);
    let signed = checkpoint_of(&rows, 10);
    assert_eq!(first_bad(&rows[..7], &[signed]), 8);
}

#[test]
fn a_checkpoint_with_a_bad_signature_is_refused() {
    let rows = chain(3);
    let mut signed = checkpoint_of(&rows, 3);
    signed.hash = rows[1].hash.clone();
    assert_eq!(first_bad(&rows, &[signed]), 3);
}

#[test]
fn a_slice_verifies_from_any_start_and_reports_what_it_cannot_cover() {
    let rows = chain(20);
    let mut verifier = ChainVerifier::slice();
    verifier.add_checkpoint(&checkpoint_of(&rows, 3), None).expect("valid");
    verifier.add_checkpoint(&checkpoint_of(&rows, 15), None).expect("valid");
    for row in &rows[9..] {
        verifier.push(row).expect("valid");
    }
    let summary = verifier.finish(false).expect("verifies");
    assert_eq!((summary.first_seq, summary.checkpoints_matched), (Some(10), vec![15]));
    assert_eq!(summary.checkpoints_not_covered, vec![3]);
}

#[test]
fn an_exports_own_checkpoint_must_sign_its_last_record() {
    let rows = chain(10);
    let own = checkpoint_of(&rows, 10);
    let summary_of = |rows: &[AuditRow]| {
        let mut verifier = ChainVerifier::slice();
        verifier.add_checkpoint(&own, None).expect("valid");
        rows.iter().for_each(|row| verifier.push(row).expect("valid"));
        verifier.finish(false).expect("verifies as a slice")
    };
    assert_eq!(summary_of(&rows).ends_at(&own), Ok(()));
    assert_eq!(summary_of(&rows[..8]).ends_at(&own).map_err(|b| b.seq), Err(9), "two records cut");
    assert_eq!(summary_of(&[]).ends_at(&own).map_err(|b| b.seq), Err(1), "every record cut");
    let earlier = checkpoint_of(&rows, 7);
    assert_eq!(summary_of(&rows).ends_at(&earlier).map_err(|b| b.seq), Err(8), "records appended");
}

#[test]
fn rows_the_chainer_skipped_over_are_named_from_the_first() {
    let mut rows = chain(3);
    // Two well-formed rows inserted past the head, then the chainer's next record: after them in
    // seq, linked to its own last record (seq 3).
    let mut intruders = chain(5)[3..].to_vec();
    intruders.iter_mut().for_each(|row| row.fields.outcome = "forged".into());
    rows.extend(intruders);
    rechain(&mut rows, 3);
    let fields = AuditFields { event_id: "ev_next".into(), outcome: "success".into(), ..AuditFields::default() };
    let prev_hash = rows[2].hash.clone();
    let hash = record_hash(6, &fields, &prev_hash);
    rows.push(AuditRow { seq: 6, fields, prev_hash, hash });
    let broken = verify(&rows, &[]).expect_err("caught");
    assert_eq!(broken.seq, 4, "{broken}");
    assert!(broken.reason.contains("4..=5"), "{broken}");
}
