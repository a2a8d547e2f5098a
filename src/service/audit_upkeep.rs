//! Keeping the trail provable: periodic checkpoints of the chain head, PII retention, and
//! verification of the live table (`countersign audit verify`).

use super::{now_ms, retention, Context};
use crate::audit::checkpoint::{self, Checkpoint, CheckpointKey};
use crate::audit::verify::{Break, ChainVerifier, Summary};
use crate::error::Result;
use crate::store::{audit as rows, checkpoints};
use std::time::Duration;

const VERIFY_PAGE: i64 = 5_000;

/// Signs the chain head if it moved since the last checkpoint.
pub async fn checkpoint_once(ctx: &Context) -> Result<Option<Checkpoint>> {
    crate::audit::settle(&ctx.store).await?;
    let (head, _) = rows::head(ctx.store.reader()).await?;
    let latest = checkpoints::latest(ctx.store.reader()).await?.map_or(0, |c| c.seq);
    if head <= latest {
        return Ok(None);
    }
    let key = CheckpointKey::from_master(&ctx.master_key);
    Ok(checkpoint::sign_head(&ctx.store, &key, &ctx.audit_anchors, now_ms()).await?)
}

/// Recomputes the whole chain from seq 1, page by page, against the newest checkpoint anchored
/// outside the database, every stored checkpoint (which must carry this service's key) and
/// `extra` ones an auditor kept; then checks that every anchored checkpoint is still stored.
/// Records after the newest anchor are proved by the chain alone. The outer error is the
/// database's (or an unreadable anchor file); the inner one is the first break.
pub async fn verify_live(ctx: &Context, extra: &[Checkpoint]) -> Result<Result<Summary, Break>> {
    let key = CheckpointKey::from_master(&ctx.master_key).public_key_hex();
    crate::audit::settle(&ctx.store).await?;
    let mut verifier = ChainVerifier::from_genesis();
    // Anchors first, then stored checkpoints, then the rows: a checkpoint is stored before it is
    // anchored, and signed at or below the head read after it, unless records were cut off.
    let place = ctx.audit_anchors.path().display().to_string();
    let anchored = ctx.audit_anchors.read().map_err(anyhow::Error::msg)?;
    if let Some(newest) = anchored.iter().max_by_key(|c| c.seq) {
        if let Err(broken) = verifier.add_anchor(newest, &key, &place) {
            return Ok(Err(broken));
        }
    }
    let stored: Vec<Checkpoint> =
        checkpoints::all(ctx.store.reader()).await?.iter().map(Checkpoint::from_row).collect();
    for checkpoint in stored.iter().chain(extra) {
        if let Err(broken) = verifier.add_checkpoint(checkpoint, Some(&key)) {
            return Ok(Err(broken));
        }
    }
    let (head_seq, head_hash) = match push_every_row(ctx, &mut verifier).await? {
        Ok(head) => head,
        Err(broken) => return Ok(Err(broken)),
    };
    let summary = match verifier.finish(true) {
        Ok(summary) => summary,
        Err(broken) => return Ok(Err(broken)),
    };
    let last = summary.last_seq.unwrap_or(0);
    if last > head_seq {
        let reason = format!(
            "the chain head is seq {head_seq}, but the table holds records up to seq {last}: seq {} was not \
             written by the chainer (inserted directly)",
            head_seq + 1
        );
        return Ok(Err(Break { seq: head_seq + 1, reason }));
    }
    if last != head_seq {
        let reason = format!("the chain head says seq {head_seq} but the table ends at seq {last}");
        return Ok(Err(Break { seq: last.min(head_seq) + 1, reason }));
    }
    if last > 0 && summary.last_hash.as_deref() != Some(head_hash.as_str()) {
        let reason = "the chain head holds another hash for this seq: the last record was replaced".to_owned();
        return Ok(Err(Break { seq: last, reason }));
    }
    if let Some(missing) = anchored.iter().find(|a| !stored.contains(a)) {
        let reason = format!(
            "the checkpoints table lacks the checkpoint anchored in {place} (signed at {}): stored checkpoints \
             were deleted or replaced",
            missing.signed_at
        );
        return Ok(Err(Break { seq: missing.seq, reason }));
    }
    Ok(Ok(summary))
}

/// Pushes every stored row into `verifier`, not only those up to the head: a row inserted past
/// the head by someone other than the chainer must be seen. Returns the head, read after the
/// rows, so records chained meanwhile show up as a head beyond what was read, and are read too.
async fn push_every_row(ctx: &Context, verifier: &mut ChainVerifier) -> Result<Result<(i64, String), Break>> {
    let mut after = 0;
    let mut head: Option<(i64, String)> = None;
    loop {
        let page = rows::page(ctx.store.reader(), after, VERIFY_PAGE).await?;
        if let Some(last) = page.last() {
            after = last.seq;
            for row in &page {
                if let Err(broken) = verifier.push(row) {
                    return Ok(Err(broken));
                }
            }
            continue;
        }
        let now = rows::head(ctx.store.reader()).await?;
        // A head that stays beyond the table's end is not a chainer at work: the caller reports it.
        if now.0 <= after || head.as_ref() == Some(&now) {
            return Ok(Ok(now));
        }
        head = Some(now);
    }
}

/// Signs the head every `interval` and purges PII past `retain`, until `shutdown` fires.
pub async fn run(ctx: Context, interval: Duration, retain: Duration, shutdown: tokio::sync::watch::Receiver<bool>) {
    super::every(interval, shutdown, ctx.metrics.clone(), "audit_upkeep", || {
        let ctx = ctx.clone();
        async move {
            // A failed checkpoint must not keep PII past its retention.
            let signed = checkpoint_once(&ctx).await;
            retention::purge_once(&ctx, retain).await?;
            signed.map(|_| ())
        }
    })
    .await
}
