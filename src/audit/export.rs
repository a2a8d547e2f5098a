//! The export formats of the audit trail, and reading them back for offline verification.
//!
//! One record per CSV row or JSON line, with every DESIGN §7 field plus `seq`, `prev_hash` and
//! `hash`, in that fixed order. Times are RFC 3339 UTC with milliseconds (`2024-01-02T03:04:05.678Z`),
//! which round-trips the stored milliseconds exactly, so a verifier can recompute every hash from
//! the file alone. A JSON Lines export ends with one `{"checkpoint": {...}}` line. Pure: no I/O
//! beyond the reader or buffer it is handed.

use super::checkpoint::Checkpoint;
use crate::domain::timestamp::{format_audit_time as format_time, parse_audit_time as parse_time};
use crate::store::audit::{AuditFields, AuditRow};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

impl ExportFormat {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "csv" => Some(Self::Csv),
            "jsonl" => Some(Self::Jsonl),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Jsonl => "application/x-ndjson",
        }
    }
}

/// One exported record. Field order is the column order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRecord {
    pub seq: i64,
    pub event_id: String,
    pub occurred_at: String,
    pub event_type: String,
    pub transfer_request_id: Option<String>,
    pub agent_id: Option<String>,
    pub thread_id: Option<String>,
    pub plaid_product: Option<String>,
    pub plaid_endpoint: Option<String>,
    pub plaid_item_id: Option<String>,
    pub account_id: Option<String>,
    pub action_type: Option<String>,
    pub risk_tier: Option<i64>,
    pub approval_required: Option<bool>,
    pub approver_id: Option<String>,
    pub approval_timestamp: Option<String>,
    pub payload_hash: Option<String>,
    pub executed_payload_hash: Option<String>,
    pub plaid_request_id: Option<String>,
    pub outcome: String,
    pub error_code: Option<String>,
    pub ttl_seconds: Option<i64>,
    /// Absent in exports made before the column existed.
    #[serde(default)]
    pub plaid_event_id: Option<i64>,
    /// Absent from exports made before it existed.
    #[serde(default)]
    pub policy_version: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

pub const CSV_HEADER: [&str; 26] = [
    "seq",
    "event_id",
    "occurred_at",
    "event_type",
    "transfer_request_id",
    "agent_id",
    "thread_id",
    "plaid_product",
    "plaid_endpoint",
    "plaid_item_id",
    "account_id",
    "action_type",
    "risk_tier",
    "approval_required",
    "approver_id",
    "approval_timestamp",
    "payload_hash",
    "executed_payload_hash",
    "plaid_request_id",
    "outcome",
    "error_code",
    "ttl_seconds",
    "plaid_event_id",
    "policy_version",
    "prev_hash",
    "hash",
];

impl ExportRecord {
    pub fn from_row(row: &AuditRow) -> Self {
        let f = &row.fields;
        Self {
            seq: row.seq,
            event_id: f.event_id.clone(),
            occurred_at: format_time(f.occurred_at),
            event_type: f.event_type.clone(),
            transfer_request_id: f.transfer_request_id.clone(),
            agent_id: f.agent_id.clone(),
            thread_id: f.thread_id.clone(),
            plaid_product: f.plaid_product.clone(),
            plaid_endpoint: f.plaid_endpoint.clone(),
            plaid_item_id: f.plaid_item_id.clone(),
            account_id: f.account_id.clone(),
            action_type: f.action_type.clone(),
            risk_tier: f.risk_tier,
            approval_required: f.approval_required,
            approver_id: f.approver_id.clone(),
            approval_timestamp: f.approval_timestamp.map(format_time),
            payload_hash: f.payload_hash.clone(),
            executed_payload_hash: f.executed_payload_hash.clone(),
            plaid_request_id: f.plaid_request_id.clone(),
            outcome: f.outcome.clone(),
            error_code: f.error_code.clone(),
            ttl_seconds: f.ttl_seconds,
            plaid_event_id: f.plaid_event_id,
            policy_version: f.policy_version.clone(),
            prev_hash: row.prev_hash.clone(),
            hash: row.hash.clone(),
        }
    }

    /// Back to the stored form, whose hash can be recomputed.
    pub fn into_row(self) -> Result<AuditRow, String> {
        let occurred_at = parse_time(&self.occurred_at)
            .ok_or_else(|| format!("seq {}: occurred_at {:?} is not RFC 3339", self.seq, self.occurred_at))?;
        let approval_timestamp = match &self.approval_timestamp {
            None => None,
            Some(text) => Some(
                parse_time(text)
                    .ok_or_else(|| format!("seq {}: approval_timestamp {text:?} is not RFC 3339", self.seq))?,
            ),
        };
        Ok(AuditRow {
            seq: self.seq,
            fields: AuditFields {
                event_id: self.event_id,
                occurred_at,
                event_type: self.event_type,
                transfer_request_id: self.transfer_request_id,
                agent_id: self.agent_id,
                thread_id: self.thread_id,
                plaid_product: self.plaid_product,
                plaid_endpoint: self.plaid_endpoint,
                plaid_item_id: self.plaid_item_id,
                account_id: self.account_id,
                action_type: self.action_type,
                risk_tier: self.risk_tier,
                approval_required: self.approval_required,
                approver_id: self.approver_id,
                approval_timestamp,
                payload_hash: self.payload_hash,
                executed_payload_hash: self.executed_payload_hash,
                plaid_request_id: self.plaid_request_id,
                outcome: self.outcome,
                error_code: self.error_code,
                ttl_seconds: self.ttl_seconds,
                plaid_event_id: self.plaid_event_id,
                policy_version: self.policy_version,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Encodes one page of rows; the CSV header goes before the first page only.
pub fn encode_page(rows: &[AuditRow], format: ExportFormat, first_page: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(rows.len() * 600);
    match format {
        ExportFormat::Jsonl => {
            for row in rows {
                serde_json::to_writer(&mut out, &ExportRecord::from_row(row)).map_err(|e| e.to_string())?;
                out.push(b'\n');
            }
        }
        ExportFormat::Csv => {
            let mut writer =
                csv::WriterBuilder::new().has_headers(false).terminator(csv::Terminator::CRLF).from_writer(&mut out);
            if first_page {
                writer.write_record(CSV_HEADER).map_err(|e| e.to_string())?;
            }
            for row in rows {
                writer.serialize(ExportRecord::from_row(row)).map_err(|e| e.to_string())?;
            }
            writer.flush().map_err(|e| e.to_string())?;
        }
    }
    Ok(out)
}

/// The last line of a JSON Lines export.
pub fn checkpoint_line(checkpoint: &Checkpoint) -> Vec<u8> {
    let mut line = serde_json::json!({ "checkpoint": checkpoint }).to_string().into_bytes();
    line.push(b'\n');
    line
}

/// One line of a JSON Lines export, read back.
pub enum Line {
    Record(Box<AuditRow>),
    Checkpoint(Checkpoint),
}

pub fn parse_jsonl_line(line: &str, number: usize) -> Result<Line, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("line {number}: not a JSON object: {e}"))?;
    if let Some(checkpoint) = value.get("checkpoint") {
        let checkpoint = Checkpoint::deserialize(checkpoint).map_err(|e| format!("line {number}: checkpoint: {e}"))?;
        return Ok(Line::Checkpoint(checkpoint));
    }
    let record = ExportRecord::deserialize(&value).map_err(|e| format!("line {number}: record: {e}"))?;
    Ok(Line::Record(Box::new(record.into_row()?)))
}

/// Reads a CSV export back into rows (header row required).
pub fn read_csv<R: std::io::Read>(reader: R) -> impl Iterator<Item = Result<AuditRow, String>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader)
        .into_deserialize::<ExportRecord>()
        .map(|record| record.map_err(|e| format!("CSV: {e}")).and_then(ExportRecord::into_row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            seq: 7,
            fields: AuditFields {
                event_id: "ev_1".into(),
                occurred_at: 1_700_000_000_120,
                event_type: "transfer.rejected".into(),
                error_code: Some("said \"no\", twice\nreally".into()),
                approval_required: Some(true),
                approval_timestamp: Some(1_700_000_000_000),
                outcome: "rejected_by_human".into(),
                ..AuditFields::default()
            },
            prev_hash: "a".repeat(64),
            hash: "b".repeat(64),
        }
    }

    #[test]
    fn times_have_milliseconds_and_round_trip() {
        assert_eq!(format_time(1_700_000_000_120), "2023-11-14T22:13:20.120Z");
        assert_eq!(parse_time(&format_time(1_700_000_000_120)), Some(1_700_000_000_120));
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn csv_quotes_per_rfc_4180_and_reads_back_the_same_row() {
        let bytes = encode_page(&[row()], ExportFormat::Csv, true).expect("encodes");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        assert!(text.starts_with("seq,event_id,occurred_at,"));
        assert!(text.contains("\"said \"\"no\"\", twice\nreally\""), "{text}");
        let back: Vec<_> = read_csv(bytes.as_slice()).collect::<Result<_, _>>().expect("parses");
        assert_eq!(back, vec![row()]);
    }

    #[test]
    fn jsonl_reads_back_the_same_row() {
        let bytes = encode_page(&[row()], ExportFormat::Jsonl, true).expect("encodes");
        let text = String::from_utf8(bytes).expect("utf-8");
        match parse_jsonl_line(text.trim_end(), 1) {
            Ok(Line::Record(back)) => assert_eq!(*back, row()),
            _ => panic!("not a record"),
        }
    }
}
