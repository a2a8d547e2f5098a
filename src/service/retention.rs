//! PII retention: a request's legal name is purged from its stored intent a configurable number
//! of days after it reached a terminal state. The payload hash (and every approval's hash) stays,
//! so what was approved can still be proven; audit records are never deleted (they hold no PII).

use super::{now_ms, trail, Context};
use crate::audit;
use crate::error::Result;
use crate::store::{requests, retention};
use std::time::Duration;

/// What replaces a purged legal name.
pub const REDACTED: &str = "REDACTED";
const BATCH: i64 = 200;

/// Purges every request due; returns how many this call purged.
pub async fn purge_once(ctx: &Context, retain: Duration) -> Result<usize> {
    let now = now_ms();
    let cutoff = now.saturating_sub(i64::try_from(retain.as_millis()).unwrap_or(i64::MAX));
    let mut purged = 0;
    loop {
        let due = retention::due(ctx.store.reader(), cutoff, BATCH).await?;
        if due.is_empty() {
            return Ok(purged);
        }
        for id in &due {
            let mut tx = ctx.store.begin().await?;
            let Some(record) = requests::find_in(&mut tx, id).await? else { continue };
            let mut intent = record.intent.clone();
            if let Some(user) = intent.get_mut("user").and_then(|u| u.as_object_mut()) {
                user.insert("legal_name".into(), REDACTED.into());
            }
            if retention::purge(&mut tx, id, &intent, now).await? {
                audit::append(&mut tx, trail::for_request(&record, "transfer.pii_purged", "success", now)).await?;
                purged += 1;
            }
            ctx.store.commit(tx).await?;
        }
        if due.len() < BATCH as usize {
            return Ok(purged);
        }
    }
}
