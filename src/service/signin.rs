//! Sign-in (password + TOTP) that survives a burst, and the throttle it shares with step-up.
//!
//! Every attempt first reserves itself against its throttle keys — the normalized username
//! (known or not) and the client address — in one compare-and-set per key, before any password is
//! hashed or code checked, so concurrency on any number of replicas never evaluates more than
//! the limit. Past the limit each attempt waits a doubling delay (429 with `Retry-After`), never a
//! lockout an attacker can hold at will. Known and unknown usernames take the same path: one
//! lookup, one reservation, one argon2 evaluation (a dummy hash for unknown names), one audit
//! record, the same answer. Password hashing is bounded by `Context::hashing` (503 when full).

use super::approvers::{approver_event, audit_outside, check_code, NewSession, SESSION_PREFIX};
use super::{now_ms, Context};
use crate::audit;
use crate::auth::password::HashingRefused;
use crate::auth::{millis, tokens};
use crate::domain::{username, ApproverId};
use crate::error::{Error, Result};
use crate::store::approvers;
use crate::store::sessions::{self, SessionRecord};
use crate::store::throttle::{self, Limits};
use crate::store::Tx;
use axum::http::StatusCode;

/// One attempt's throttle keys, and what to audit if it is refused.
pub(crate) struct Attempt<'a> {
    event: &'static str,
    approver: Option<&'a ApproverId>,
    keys: Vec<(String, Limits)>,
}

fn limits(ctx: &Context, limit: i64) -> Limits {
    let policy = &ctx.sessions;
    Limits {
        limit,
        first_delay_ms: millis(policy.throttle_first_delay),
        max_delay_ms: millis(policy.lockout),
        forget_ms: millis(policy.throttle_forget).max(millis(policy.lockout)),
    }
}

/// The row key for a throttled value: a keyed hash (from the master key), so neither what people
/// type as a username (sometimes their password) nor client addresses are stored readable.
fn throttle_key(ctx: &Context, kind: &str, value: &str) -> String {
    format!("{kind}:{}", hex::encode(ctx.master_key.derive(&format!("signin-throttle:{kind}:{value}"))))
}

impl<'a> Attempt<'a> {
    fn sign_in(ctx: &Context, normalized: &str, client: &str, approver: Option<&'a ApproverId>) -> Self {
        let keys = vec![
            (throttle_key(ctx, "user", normalized), limits(ctx, ctx.sessions.max_failures)),
            (throttle_key(ctx, "addr", client), limits(ctx, ctx.sessions.address_max_failures)),
        ];
        Attempt { event: "approver.sign_in", approver, keys }
    }

    /// A signed-in approver's step-up code: throttled per approver, apart from sign-in, so a
    /// stranger guessing passwords for a name can't block its owner's step-up.
    pub(crate) fn step_up(ctx: &Context, approver: &'a ApproverId) -> Self {
        let keys = vec![(throttle_key(ctx, "step_up", approver.as_str()), limits(ctx, ctx.sessions.max_failures))];
        Attempt { event: "approval_token.step_up", approver: Some(approver), keys }
    }

    /// Reserves the attempt on every key in one transaction (all or none). A blocked key refuses
    /// it with 429, audited; nothing has been checked yet, so refusals cost no hashing.
    pub(crate) async fn reserve(&self, ctx: &Context, now: i64) -> Result<()> {
        let mut tx = ctx.store.begin().await?;
        for (key, limits) in &self.keys {
            if let Err(blocked_until) = throttle::reserve(&mut tx, key, *limits, now).await? {
                drop(tx);
                count(ctx, "throttled");
                audit_outside(ctx, approver_event(self.event, self.approver, "error", Some("throttled"), now)).await?;
                let seconds = u64::try_from((blocked_until - now + 999) / 1000).unwrap_or(1).max(1);
                return Err(too_many_attempts(seconds));
            }
        }
        ctx.store.commit(tx).await?;
        Ok(())
    }

    /// Takes the reservation back: the attempt succeeded, or was never evaluated.
    pub(crate) async fn release(&self, tx: &mut Tx) -> Result<()> {
        for (key, _) in &self.keys {
            throttle::release(tx, key).await?;
        }
        Ok(())
    }

    async fn release_alone(&self, ctx: &Context) -> Result<()> {
        let mut tx = ctx.store.begin().await?;
        self.release(&mut tx).await?;
        ctx.store.commit(tx).await?;
        Ok(())
    }
}

/// Counts a sign-in attempt's outcome on `countersign_sign_in_attempts`.
fn count(ctx: &Context, outcome: &'static str) {
    ctx.metrics.sign_in_attempts.get_or_create(&vec![("outcome", outcome.to_owned())]).inc();
}

/// "1 second", "40 seconds", "2 minutes": how long to wait, for people.
pub fn wait_phrase(seconds: u64) -> String {
    let plural = |n: u64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if seconds < 60 {
        plural(seconds.max(1), "second")
    } else {
        plural(seconds.div_ceil(60), "minute")
    }
}

fn too_many_attempts(seconds: u64) -> Error {
    let message = format!("Too many attempts; try again in {}", wait_phrase(seconds));
    Error::client(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message).with_retry_after(seconds)
}

fn invalid_credentials() -> Error {
    Error::client(StatusCode::UNAUTHORIZED, "invalid_credentials", "username, password or code is wrong")
}

fn busy() -> Error {
    Error::client(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many sign-ins at once; try again in a second")
        .with_retry_after(1)
}

/// Password + TOTP sign-in from `client` (the address throttling keys on).
pub async fn sign_in(ctx: &Context, client: &str, name: &str, password_text: &str, code: &str) -> Result<NewSession> {
    let now = now_ms();
    let normalized = username::normalized(name);
    // A name no approver can have (control characters, too long) is unknown without asking.
    let approver = if username::is_valid(&username::display_form(name)) {
        approvers::find_by_username(ctx.store.reader(), &normalized).await?
    } else {
        None
    };
    let attempt = Attempt::sign_in(ctx, &normalized, client, approver.as_ref().map(|a| &a.id));
    attempt.reserve(ctx, now).await?;
    let phc = approver.as_ref().map(|a| a.password_hash.clone());
    let password_ok = match ctx.hashing.verify(password_text.to_owned(), phc).await {
        Ok(verified) => verified,
        Err(HashingRefused::Busy) => {
            attempt.release_alone(ctx).await?;
            count(ctx, "busy");
            return Err(busy());
        }
        Err(failed) => return Err(anyhow::Error::from(failed).into()),
    };
    let checked = match (&approver, password_ok) {
        // Deactivated: the same answer as a wrong password, audited with its own reason.
        (Some(approver), true) if approver.disabled => Err("approver_disabled"),
        (Some(approver), true) => check_code(ctx, approver, code, now).map(|step| (approver, step)),
        (Some(_), false) => Err("bad_password"),
        (None, _) => Err("unknown_user"),
    };
    let approver_id = approver.as_ref().map(|a| &a.id);
    let failed = |reason: &'static str| async move {
        count(ctx, "invalid");
        match audit_outside(ctx, approver_event("approver.sign_in", approver_id, "error", Some(reason), now)).await {
            Ok(()) => invalid_credentials(),
            Err(error) => error,
        }
    };
    let (approver, step) = match checked {
        Ok(found) => found,
        Err(reason) => return Err(failed(reason).await),
    };
    let mut tx = ctx.store.begin().await?;
    if !approvers::advance_totp_step(&mut tx, &approver.id, step).await? {
        drop(tx);
        return Err(failed("totp_reused").await);
    }
    attempt.release(&mut tx).await?;
    let token = tokens::generate(SESSION_PREFIX);
    let session = SessionRecord {
        id: format!("ses_{}", uuid::Uuid::now_v7().simple()),
        approver_id: approver.id.clone(),
        authenticated_at: now,
        last_seen_at: now,
        expires_at: now + millis(ctx.sessions.absolute),
        revoked: false,
    };
    sessions::insert(&mut tx, &session, &token.hash).await?;
    audit::append(&mut tx, approver_event("approver.sign_in", Some(&approver.id), "success", None, now)).await?;
    ctx.store.commit(tx).await?;
    count(ctx, "success");
    Ok(NewSession { token: token.token, session_id: session.id, expires_at: session.expires_at })
}

/// An admin clears a username's sign-in throttle (and its step-up throttle, if the name is an
/// approver's), audited. Returns whether anything was throttled.
pub async fn unlock(ctx: &Context, name: &str) -> Result<bool> {
    let mut tx = ctx.store.begin().await?;
    let cleared = unlock_in(ctx, &mut tx, name).await?;
    ctx.store.commit(tx).await?;
    Ok(cleared)
}

/// [`unlock`] inside the caller's transaction (an admin's, with its own audit record).
pub(crate) async fn unlock_in(ctx: &Context, tx: &mut Tx, name: &str) -> Result<bool> {
    let normalized = username::normalized(name);
    let approver = approvers::find_by_username(ctx.store.reader(), &normalized).await?;
    let mut cleared = throttle::clear(tx, &throttle_key(ctx, "user", &normalized)).await?;
    if let Some(approver) = &approver {
        cleared |= throttle::clear(tx, &throttle_key(ctx, "step_up", approver.id.as_str())).await?;
    }
    let approver_id = approver.as_ref().map(|a| &a.id);
    audit::append(tx, approver_event("approver.unlocked", approver_id, "success", None, now_ms())).await?;
    Ok(cleared)
}

/// Until when the approver's sign-in or step-up is throttled, if it is at `now`.
pub(crate) async fn throttled_until(ctx: &Context, username: &str, id: &ApproverId, now: i64) -> Result<Option<i64>> {
    let pool = ctx.store.reader();
    let sign_in =
        throttle::blocked_until(pool, &throttle_key(ctx, "user", &username::normalized(username)), now).await?;
    let step_up = throttle::blocked_until(pool, &throttle_key(ctx, "step_up", id.as_str()), now).await?;
    Ok(sign_in.max(step_up))
}

/// Deletes throttle streaks that went quiet and no longer block (run by the sweeper).
pub async fn prune_throttle(ctx: &Context) -> Result<u64> {
    let now = now_ms();
    let quiet_since = now - millis(ctx.sessions.throttle_forget).max(millis(ctx.sessions.lockout));
    let mut tx = ctx.store.begin().await?;
    let pruned = throttle::prune(&mut tx, quiet_since, now).await?;
    ctx.store.commit(tx).await?;
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::wait_phrase;

    #[test]
    fn waits_read_in_seconds_then_whole_minutes_rounded_up() {
        assert_eq!(wait_phrase(0), "1 second");
        assert_eq!(wait_phrase(1), "1 second");
        assert_eq!(wait_phrase(40), "40 seconds");
        assert_eq!(wait_phrase(60), "1 minute");
        assert_eq!(wait_phrase(61), "2 minutes");
        assert_eq!(wait_phrase(900), "15 minutes");
    }
}
