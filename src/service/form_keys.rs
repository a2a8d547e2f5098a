//! Idempotency for the approver web form: every form carries a hidden key; the first submission
//! claims it and records where it led, so a double submit decides once and the repeat lands on
//! the same page. Keys are scoped to the approver and kept in the database (any replica sees them).

use super::Context;
use crate::domain::ApproverId;
use crate::error::{Error, Result};
use crate::store::enrollment as keys;

/// What to do with a submitted form.
pub enum Claim {
    /// First time: do the action, then `finish` with where it led.
    Fresh,
    /// Seen before and finished: redirect here.
    Done(String),
    /// Seen before, still being handled.
    InFlight,
}

fn valid(key: &str) -> bool {
    (8..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn claim(ctx: &Context, approver: &ApproverId, key: &str) -> Result<Claim> {
    if !valid(key) {
        return Err(Error::bad_request("invalid_idempotency_key", "the form's idempotency key is malformed"));
    }
    let mut tx = ctx.store.begin().await?;
    match keys::claim_form_key(&mut tx, approver, key, super::now_ms()).await {
        Ok(()) => {
            ctx.store.commit(tx).await?;
            Ok(Claim::Fresh)
        }
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            Ok(match keys::form_key_location(ctx.store.reader(), approver, key).await? {
                Some(Some(location)) => Claim::Done(location),
                _ => Claim::InFlight,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Records where the submission led (a path on our own site, with a fixed message code).
pub async fn finish(ctx: &Context, approver: &ApproverId, key: &str, location: &str) -> Result<()> {
    let mut tx = ctx.store.begin().await?;
    keys::finish_form_key(&mut tx, approver, key, location).await?;
    ctx.store.commit(tx).await?;
    Ok(())
}
