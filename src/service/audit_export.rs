//! Compliance export of the audit trail, streamed page by page (constant memory) as CSV or JSON
//! Lines, with a signed checkpoint of its last record.
//!
//! The export covers the contiguous seq range from the first record that occurred at or after
//! `from` to the last one before `to` (clocks of replicas may disagree by a few ms, so a record
//! near a boundary may fall outside the times but is kept to leave the chain unbroken). The
//! range is fixed before streaming starts, and the checkpoint for a seq is signed once and then
//! reused, so repeating an export with the same `from`/`to` gives the same bytes.

use super::{now_ms, Context};
use crate::audit::checkpoint::{self, Checkpoint, CheckpointKey};
use crate::audit::export::{checkpoint_line, encode_page, ExportFormat};
use crate::audit::{self, AuditFields};
use crate::error::{Error, Result};
use crate::service::approvers::ApproverSession;
use crate::store::{audit as rows, Store};
use axum::body::Bytes;
use futures_util::Stream;

const PAGE: i64 = 1_000;

/// What an export will contain, decided before the first byte is sent.
#[derive(Debug, Clone)]
pub struct ExportPlan {
    /// Seqs `lo..=hi`; empty when `lo > hi`.
    pub lo: i64,
    pub hi: i64,
    pub checkpoint: Option<Checkpoint>,
    pub format: ExportFormat,
}

/// Exports (and per-transfer evidence) are for the compliance role only.
pub fn require_compliance(who: &ApproverSession) -> Result<()> {
    if who.approver.has_role("compliance") {
        Ok(())
    } else {
        Err(Error::forbidden("not_compliance", "only a compliance approver may read the audit trail"))
    }
}

/// Records the export and fixes its range and checkpoint. `who` is `None` for the CLI.
pub async fn plan(
    ctx: &Context,
    who: Option<&ApproverSession>,
    from_ms: i64,
    to_ms: i64,
    format: ExportFormat,
) -> Result<ExportPlan> {
    // `from` at or after `to` selects nothing: an empty export with the head's checkpoint, not an
    // error (a request the spec calls valid is not refused).
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    let fields = AuditFields {
        occurred_at: now,
        event_type: "audit.exported".into(),
        approver_id: who.map(|w| w.approver.id.to_string()),
        action_type: Some("read".into()),
        outcome: "success".into(),
        ..AuditFields::default()
    };
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    audit::settle(&ctx.store).await?;
    let key = CheckpointKey::from_master(&ctx.master_key);
    let (lo, hi, checkpoint) = match rows::seq_range(ctx.store.reader(), from_ms, to_ms).await? {
        Some((lo, hi)) => (lo, hi, checkpoint::sign_at(&ctx.store, &key, &ctx.audit_anchors, hi, now).await?),
        // Nothing to sign: an export's checkpoint signs its own last record, and verifying an
        // export that holds none against one would read as records cut from it.
        None => (1, 0, None),
    };
    Ok(ExportPlan { lo, hi, checkpoint, format })
}

enum Next {
    Page { after: i64, first: bool },
    Done,
}

/// The export's bytes: one chunk per page of records, then the checkpoint line (JSON Lines).
pub fn stream(store: Store, plan: ExportPlan) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold(Next::Page { after: plan.lo - 1, first: true }, move |next| {
        let (store, plan) = (store.clone(), plan.clone());
        async move {
            let Next::Page { after, first } = next else { return None };
            let page = if after < plan.hi {
                match rows::page_until(store.reader(), after, plan.hi, PAGE).await {
                    Ok(page) => page,
                    Err(error) => return Some((Err(std::io::Error::other(error)), Next::Done)),
                }
            } else {
                Vec::new()
            };
            let mut chunk = match encode_page(&page, plan.format, first) {
                Ok(chunk) => chunk,
                Err(error) => return Some((Err(std::io::Error::other(error)), Next::Done)),
            };
            let next = match page.last() {
                Some(last) if last.seq < plan.hi => Next::Page { after: last.seq, first: false },
                _ => {
                    if let (ExportFormat::Jsonl, Some(checkpoint)) = (plan.format, &plan.checkpoint) {
                        chunk.extend_from_slice(&checkpoint_line(checkpoint));
                    }
                    Next::Done
                }
            };
            Some((Ok(Bytes::from(chunk)), next))
        }
    })
}

/// `countersign audit export`: writes the export to `out` and its checkpoint to
/// `<out>.checkpoint.json` (for either format; JSON Lines also carries it as its last line).
pub async fn write_file(
    ctx: &Context,
    from_ms: i64,
    to_ms: i64,
    format: ExportFormat,
    out: &std::path::Path,
) -> Result<ExportPlan> {
    use futures_util::StreamExt;
    use std::io::Write;
    let plan = plan(ctx, None, from_ms, to_ms, format).await?;
    let file = std::fs::File::create(out).map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let mut chunks = std::pin::pin!(stream(ctx.store.clone(), plan.clone()));
    while let Some(chunk) = chunks.next().await {
        writer.write_all(&chunk.map_err(anyhow::Error::from)?).map_err(anyhow::Error::from)?;
    }
    writer.flush().map_err(anyhow::Error::from)?;
    if let Some(checkpoint) = &plan.checkpoint {
        let sidecar = sidecar_path(out);
        let text = serde_json::to_string_pretty(checkpoint).map_err(anyhow::Error::from)?;
        std::fs::write(&sidecar, text + "\n").map_err(|e| anyhow::anyhow!("writing {}: {e}", sidecar.display()))?;
    }
    Ok(plan)
}

pub fn sidecar_path(out: &std::path::Path) -> std::path::PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".checkpoint.json");
    std::path::PathBuf::from(name)
}
