//! PII retention: a request's legal name is purged from its stored intent, from the agent's
//! stored replies that show it (idempotency keys) and from the callbacks about it in the outbox
//! (delivered or still waiting), a configurable number of days after it reached a terminal state. The payload hash (and every approval's hash) stays,
//! so what was approved can still be proven; audit records are never deleted (they hold no PII).

use super::{now_ms, trail, Context};
use crate::audit;
use crate::error::Result;
use crate::store::requests::RequestRecord;
use crate::store::{requests, retention, Tx};
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
            redact_legal_names(&mut intent);
            if retention::purge(&mut tx, id, &intent, now).await? {
                redact_stored_replies(&mut tx, &record).await?;
                redact_callbacks(&mut tx, &record).await?;
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

/// The agent's stored replies about this request keep their status and shape (a replay still
/// answers the same request), with every legal name in them redacted.
async fn redact_stored_replies(tx: &mut Tx, record: &RequestRecord) -> Result<()> {
    for reply in retention::replies_naming(tx, &record.agent_id, &record.id).await? {
        let Ok(mut body) = serde_json::from_str::<serde_json::Value>(&reply.body) else { continue };
        if redact_legal_names(&mut body) {
            retention::replace_reply(tx, &record.agent_id, &reply.idempotency_key, &body.to_string()).await?;
        }
    }
    Ok(())
}

/// Callbacks keep their message id and shape (`data` is the request as `GET` showed it), with
/// every legal name in them redacted; one still waiting is delivered redacted.
async fn redact_callbacks(tx: &mut Tx, record: &RequestRecord) -> Result<()> {
    for callback in retention::callbacks_about(tx, &record.id).await? {
        let Ok(mut body) = serde_json::from_str::<serde_json::Value>(&callback.payload) else { continue };
        if redact_legal_names(&mut body) {
            retention::replace_callback(tx, &callback.message_id, &body.to_string()).await?;
        }
    }
    Ok(())
}

/// Replaces the value of every `legal_name` key, at any depth; returns whether any was found.
fn redact_legal_names(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => {
            let mut found = false;
            for (key, field) in map.iter_mut() {
                if key == "legal_name" && field.is_string() {
                    *field = REDACTED.into();
                    found = true;
                } else {
                    found |= redact_legal_names(field);
                }
            }
            found
        }
        serde_json::Value::Array(items) => items.iter_mut().fold(false, |found, item| redact_legal_names(item) | found),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_legal_name_at_any_depth_is_redacted_and_nothing_else() {
        let mut reply = json!({"id": "tr_1", "intent": {"user": {"legal_name": "Ada"}}, "versions": [{"user": {"legal_name": "Bob"}}]});
        assert!(redact_legal_names(&mut reply));
        assert_eq!(
            reply,
            json!({"id": "tr_1", "intent": {"user": {"legal_name": REDACTED}}, "versions": [{"user": {"legal_name": REDACTED}}]})
        );
        assert!(!redact_legal_names(&mut json!({"id": "tr_1"})));
    }
}
