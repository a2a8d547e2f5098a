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
    Ok(checkpoint::sign_head(&ctx.store, &key, now_ms()).await?)
}

/// Recomputes the whole chain from seq 1, page by page, against every stored checkpoint (which
/// must carry this service's key) and `extra` ones an auditor kept. The outer error is the
/// database's; the inner one is the first break.
pub async fn verify_live(ctx: &Context, extra: &[Checkpoint]) -> Result<Result<Summary, Break>> {
    let key = CheckpointKey::from_master(&ctx.master_key).public_key_hex();
    crate::audit::settle(&ctx.store).await?;
    let mut verifier = ChainVerifier::from_genesis();
    // Checkpoints first, then the head: every checkpoint read was signed at or below this head,
    // unless records were cut off the end.
    let stored = checkpoints::all(ctx.store.reader()).await?;
    for checkpoint in stored.iter().map(Checkpoint::from_row).chain(extra.iter().cloned()) {
        if let Err(broken) = verifier.add_checkpoint(&checkpoint, Some(&key)) {
            return Ok(Err(broken));
        }
    }
    // Every stored row, not only those up to the head: a row inserted past the head by someone
    // other than the chainer must be seen. The head is read after the rows, so records chained
    // meanwhile show up as a head beyond what was read, and are read too.
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
        // A head that stays beyond the table's end is not a chainer at work: reported below.
        let settled = now.0 <= after || head.as_ref() == Some(&now);
        head = Some(now);
        if settled {
            break;
        }
    }
    let (head_seq, head_hash) = head.unwrap_or_else(|| (0, crate::audit::GENESIS_HASH.to_owned()));
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
    Ok(Ok(summary))
}

/// Signs the head every `interval` and purges PII past `retain`, until `shutdown` fires.
pub async fn run(ctx: Context, interval: Duration, retain: Duration, shutdown: tokio::sync::watch::Receiver<bool>) {
    super::every(interval, shutdown, "audit checkpoint and retention", || {
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
