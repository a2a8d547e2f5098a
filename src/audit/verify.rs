//! Verifying the chain, one record at a time in sequence order, in constant memory (apart from
//! the hashes it is told to expect). Pure: the caller streams rows in from the database or a file.
//!
//! What it proves, and the sequence number it names when it can't:
//! - a record whose contents (or seq) changed no longer matches its own hash → that seq;
//! - a missing record leaves a gap → the first missing seq;
//! - reordered or duplicated records break the sequence → the lower of expected and found;
//! - a record replaced by a forgery with a recomputed hash no longer matches its successor's
//!   `prev_hash` → the forged seq (the predecessor of the broken link);
//! - rows inserted by someone other than the chainer, which it then chained past (linking its
//!   next record to its own last one) → the first inserted seq;
//! - a chain rewritten consistently (every later hash recomputed) still contradicts any signed
//!   checkpoint or previously verified export at or above the change → the checkpoint's seq (with
//!   the range the change lies in), or exactly the first changed seq for a previous export.

use super::chain::{record_hash, GENESIS_HASH};
use super::checkpoint::Checkpoint;
use crate::store::audit::AuditRow;
use std::collections::{BTreeMap, VecDeque};

/// How far back `ChainVerifier` looks for the record a link skipped to.
const RECENT: usize = 1024;

/// The first place the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub seq: i64,
    pub reason: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chain broken at seq {}: {}", self.seq, self.reason)
    }
}

/// A hash some trusted source vouches for at a seq.
#[derive(Debug, Clone)]
struct Expected {
    hash: String,
    source: String,
    /// The checkpoint before this one, for the range hint (checkpoints only).
    checkpoint: bool,
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub records: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub last_hash: Option<String>,
    /// Seqs of checkpoints the chain was checked against.
    pub checkpoints_matched: Vec<i64>,
    /// Checkpoints below the first record (a time-sliced export cannot check them).
    pub checkpoints_not_covered: Vec<i64>,
    /// The seq of the anchored checkpoint (kept outside the database) the chain was checked against.
    pub anchored: Option<i64>,
}

impl Summary {
    /// An export's own checkpoint signs its last record: anything missing at the end, or added
    /// after it, shows as a checkpoint that is not the last record's.
    pub fn ends_at(&self, checkpoint: &Checkpoint) -> Result<(), Break> {
        let signed = checkpoint.seq;
        match self.last_seq {
            Some(last) if last == signed => Ok(()),
            Some(last) if last > signed => Err(Break {
                seq: signed + 1,
                reason: format!(
                    "the export's own checkpoint signs seq {signed} as its last record, but the file goes on to seq \
                     {last}: records were appended"
                ),
            }),
            last => {
                let first_missing = last.map_or(1, |last| last + 1);
                let ends = last.map_or_else(|| "holds no records".to_owned(), |last| format!("ends at seq {last}"));
                let reason = format!(
                    "the export's own checkpoint signs seq {signed} as its last record, but the file {ends}: records \
                     {first_missing}..={signed} were cut from the end"
                );
                Err(Break { seq: first_missing, reason })
            }
        }
    }
}

pub struct ChainVerifier {
    /// The seq and prev_hash the next record must have; `None` until the first record of a slice.
    next: Option<(i64, String)>,
    /// The last few (seq, hash) pushed: a record chained after an older one than its predecessor
    /// shows which rows in between were inserted by someone other than the chainer.
    recent: VecDeque<(i64, String)>,
    expected: BTreeMap<i64, Expected>,
    last_good_checkpoint: i64,
    summary: Summary,
}

impl ChainVerifier {
    /// For the whole chain: the first record must be seq 1 after the genesis hash.
    pub fn from_genesis() -> Self {
        Self::new(Some((1, GENESIS_HASH.to_owned())))
    }

    /// For an export that may start anywhere (a time range): the first record anchors the slice.
    pub fn slice() -> Self {
        Self::new(None)
    }

    fn new(next: Option<(i64, String)>) -> Self {
        let summary = Summary {
            records: 0,
            first_seq: None,
            last_seq: None,
            last_hash: None,
            checkpoints_matched: Vec::new(),
            checkpoints_not_covered: Vec::new(),
            anchored: None,
        };
        Self {
            next,
            recent: VecDeque::with_capacity(RECENT),
            expected: BTreeMap::new(),
            last_good_checkpoint: 0,
            summary,
        }
    }

    /// Adds a checkpoint after checking its signature (against `pinned_key` hex when given).
    pub fn add_checkpoint(&mut self, checkpoint: &Checkpoint, pinned_key: Option<&str>) -> Result<(), Break> {
        let source = format!("the checkpoint signed at {}", checkpoint.signed_at);
        self.add_signed(checkpoint, pinned_key, source)
    }

    /// Adds a checkpoint kept outside the database (`place`: the anchor file), likewise.
    pub fn add_anchor(&mut self, checkpoint: &Checkpoint, pinned_key: &str, place: &str) -> Result<(), Break> {
        let source = format!("the checkpoint anchored in {place} (signed at {})", checkpoint.signed_at);
        self.add_signed(checkpoint, Some(pinned_key), source)?;
        self.summary.anchored = Some(checkpoint.seq);
        Ok(())
    }

    fn add_signed(&mut self, checkpoint: &Checkpoint, pinned_key: Option<&str>, source: String) -> Result<(), Break> {
        checkpoint.verify_signature(pinned_key).map_err(|reason| Break { seq: checkpoint.seq, reason })?;
        self.expect(checkpoint.seq, &checkpoint.hash, source, true)
    }

    /// Adds a hash a previously verified export vouches for.
    pub fn add_trusted(&mut self, seq: i64, hash: &str) -> Result<(), Break> {
        self.expect(seq, hash, "a previously verified export".to_owned(), false)
    }

    fn expect(&mut self, seq: i64, hash: &str, source: String, checkpoint: bool) -> Result<(), Break> {
        if let Some(existing) = self.expected.get(&seq) {
            if existing.hash != hash {
                let reason = format!("{} and {source} vouch for different hashes", existing.source);
                return Err(Break { seq, reason });
            }
            if existing.checkpoint || !checkpoint {
                return Ok(());
            }
        }
        self.expected.insert(seq, Expected { hash: hash.to_owned(), source, checkpoint });
        Ok(())
    }

    /// Checks the next record in sequence order.
    pub fn push(&mut self, row: &AuditRow) -> Result<(), Break> {
        if let Some((seq, prev_hash)) = &self.next {
            if row.seq != *seq {
                let reason = if row.seq > *seq {
                    format!("expected seq {seq} but found {}: record(s) removed", row.seq)
                } else {
                    format!("expected seq {seq} but found {}: records reordered, duplicated or inserted", row.seq)
                };
                return Err(Break { seq: row.seq.min(*seq), reason });
            }
            if record_hash(row.seq, &row.fields, &row.prev_hash) != row.hash {
                let reason = "the record does not match its hash: it was changed after it was written".to_owned();
                return Err(Break { seq: row.seq, reason });
            }
            if row.prev_hash != *prev_hash {
                if let Some((linked, _)) = self.recent.iter().find(|(_, hash)| *hash == row.prev_hash) {
                    let (first, last) = (linked + 1, row.seq - 1);
                    let reason = format!(
                        "seq {} is chained after seq {linked}: seq {first}..={last} in between were inserted by \
                         someone other than the chainer",
                        row.seq
                    );
                    return Err(Break { seq: first, reason });
                }
                let bad = if row.seq > 1 { row.seq - 1 } else { row.seq };
                let reason = format!(
                    "seq {} names {} as its predecessor's hash, but seq {bad} hashes to {prev_hash}: seq {bad} was \
                     replaced after seq {} was written, or inserted by someone other than the chainer",
                    row.seq, row.prev_hash, row.seq
                );
                return Err(Break { seq: bad, reason });
            }
        } else {
            if record_hash(row.seq, &row.fields, &row.prev_hash) != row.hash {
                let reason = "the record does not match its hash: it was changed after it was written".to_owned();
                return Err(Break { seq: row.seq, reason });
            }
            let below: Vec<i64> = self.expected.range(..row.seq).map(|(seq, _)| *seq).collect();
            for seq in below {
                if self.expected.remove(&seq).is_some_and(|e| e.checkpoint) {
                    self.summary.checkpoints_not_covered.push(seq);
                }
            }
        }
        if let Some(expected) = self.expected.remove(&row.seq) {
            if expected.hash != row.hash {
                let reason = if expected.checkpoint {
                    format!(
                        "the hash differs from {}: a record in seq {}..={} was changed, removed or inserted after \
                         signing and the later hashes recomputed",
                        expected.source,
                        self.last_good_checkpoint + 1,
                        row.seq
                    )
                } else {
                    format!("the hash differs from the one {} holds: the record was replaced", expected.source)
                };
                return Err(Break { seq: row.seq, reason });
            }
            if expected.checkpoint {
                self.last_good_checkpoint = row.seq;
                self.summary.checkpoints_matched.push(row.seq);
            }
        }
        self.summary.records += 1;
        self.summary.first_seq.get_or_insert(row.seq);
        self.summary.last_seq = Some(row.seq);
        self.summary.last_hash = Some(row.hash.clone());
        self.next = Some((row.seq + 1, row.hash.clone()));
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((row.seq, row.hash.clone()));
        Ok(())
    }

    /// Ends the stream. For the whole chain (`reaches_head`), a checkpoint beyond the last record
    /// means records were cut off the end; for an export, which may end early, it is just not covered.
    pub fn finish(mut self, reaches_head: bool) -> Result<Summary, Break> {
        let beyond: Vec<(i64, Expected)> =
            std::mem::take(&mut self.expected).into_iter().filter(|(_, e)| e.checkpoint).collect();
        if !reaches_head {
            self.summary.checkpoints_not_covered.extend(beyond.iter().map(|(seq, _)| *seq));
            return Ok(self.summary);
        }
        if let Some((seq, expected)) = beyond.into_iter().next() {
            let last = self.summary.last_seq.unwrap_or(0);
            let reason = format!(
                "the chain ends at seq {last}, but {} vouches for seq {seq}: records were removed from the end",
                expected.source
            );
            return Err(Break { seq: last + 1, reason });
        }
        Ok(self.summary)
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
