//! Operator-side configuration of what Countersign tells the outside world: an agent's callback
//! URL and its Standard Webhooks secret (shown once, stored encrypted, rotated with an overlap),
//! approvers' alert channels, and the outbox (list, retry). Every destination is checked by the
//! SSRF guard when it is configured — including a DNS lookup — so a bad one is refused here, with
//! the reason, rather than failing quietly at 3 a.m.

use super::{now_ms, Context};
use crate::audit::{self, AuditFields};
use crate::error::{Error, Result};
use crate::notify::{alerts::Channel, signing, ssrf};
use crate::store::{agents, channels, outbox, Tx};
use std::time::Duration;

/// Checks `url` as a callback or alert destination now (syntax, scheme, resolved addresses).
pub async fn check_destination(ctx: &Context, url: &str) -> Result<String> {
    let destination = ssrf::resolve(url, ctx.outbound.policy)
        .await
        .map_err(|refused| Error::unprocessable("destination_refused", format!("{url:?} refused: {refused}")))?;
    Ok(destination.url.to_string())
}

/// Sets (or with `None` removes) the agent's callback URL. Returns the agent's new signing secret
/// when this is its first one (shown once); an agent that had one keeps it.
pub async fn set_callback(ctx: &Context, agent_name: &str, url: Option<&str>) -> Result<Option<String>> {
    let url = match url {
        Some(url) => Some(check_destination(ctx, url).await?),
        None => None,
    };
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    let id = agent_id(&mut tx, agent_name).await?;
    let had_secret = agents::has_callback_secret(&mut tx, &id).await?;
    let secret = (url.is_some() && !had_secret).then(signing::generate_secret);
    let sealed = secret.as_deref().map(|s| ctx.master_key.encrypt(s)).transpose()?;
    agents::set_callback(&mut tx, &id, url.as_deref(), sealed.as_deref()).await?;
    audit::append(&mut tx, agent_record(&id, "agent.callback_set", now)).await?;
    ctx.store.commit(tx).await?;
    Ok(secret)
}

/// Gives the agent a new signing secret (returned, shown once); the previous one keeps signing
/// beside it for `overlap`, so the agent's receiver can switch without missing a callback.
pub async fn rotate_callback_secret(ctx: &Context, agent_name: &str, overlap: Duration) -> Result<String> {
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    let id = agent_id(&mut tx, agent_name).await?;
    if !agents::has_callback_secret(&mut tx, &id).await? {
        return Err(Error::conflict("no_callback", "the agent has no callback secret yet: set a callback URL first"));
    }
    let secret = signing::generate_secret();
    let until = now + i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX / 2);
    agents::rotate_callback_secret(&mut tx, &id, &ctx.master_key.encrypt(&secret)?, until).await?;
    audit::append(&mut tx, agent_record(&id, "agent.callback_secret_rotated", now)).await?;
    ctx.store.commit(tx).await?;
    Ok(secret)
}

async fn agent_id(tx: &mut Tx, name: &str) -> Result<crate::domain::AgentId> {
    agents::id_by_name(tx, name.trim()).await?.ok_or_else(|| Error::not_found("agent"))
}

fn agent_record(id: &crate::domain::AgentId, event_type: &str, now: i64) -> AuditFields {
    AuditFields {
        occurred_at: now,
        event_type: event_type.into(),
        agent_id: Some(id.to_string()),
        outcome: "success".into(),
        ..AuditFields::default()
    }
}

/// Sets an approver's alert channel (`console`, `slack`, `email` or `webhook`) to `destination`,
/// or removes it when `destination` is `None`. Destinations are stored encrypted.
pub async fn set_approver_channel(ctx: &Context, username: &str, kind: &str, destination: Option<&str>) -> Result<()> {
    let normalized = crate::domain::username::normalized(username);
    let approver = crate::store::approvers::find_by_username(ctx.store.reader(), &normalized)
        .await?
        .ok_or_else(|| Error::not_found("approver"))?;
    let channel = match destination {
        Some(destination) => {
            let channel = Channel::new(kind, destination, ctx.outbound.policy)
                .map_err(|e| Error::unprocessable("destination_refused", e))?;
            if matches!(channel, Channel::Slack(_) | Channel::Webhook(_)) {
                check_destination(ctx, destination).await?;
            }
            Some(channel)
        }
        None => None,
    };
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    match &channel {
        Some(channel) => {
            let sealed = ctx.master_key.encrypt(channel.destination())?;
            channels::set(&mut tx, approver.id.as_str(), channel.kind(), &sealed, now).await?;
        }
        None => {
            channels::clear(&mut tx, approver.id.as_str(), kind).await?;
        }
    }
    let fields = AuditFields {
        occurred_at: now,
        event_type: "approver.alert_channel_set".into(),
        approver_id: Some(approver.id.to_string()),
        outcome: if channel.is_some() { "success".into() } else { "cleared".into() },
        ..AuditFields::default()
    };
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    Ok(())
}

/// The newest outbox messages (optionally in one state) with their attempts.
pub async fn outbox_list(
    ctx: &Context,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<(outbox::Message, Vec<outbox::StoredAttempt>)>> {
    let mut listed = Vec::new();
    for message in outbox::list(ctx.store.reader(), state, limit.clamp(1, 1000)).await? {
        let attempts = outbox::attempts(ctx.store.reader(), &message.id).await?;
        listed.push((message, attempts));
    }
    Ok(listed)
}

/// Makes a failed (or waiting) message due again now. Its attempts are kept, and the schedule is
/// already spent, so this is one more attempt: if it fails, the message is failed again.
pub async fn outbox_retry(ctx: &Context, id: &str) -> Result<()> {
    let mut tx = ctx.store.begin().await?;
    if !outbox::retry(&mut tx, id.trim(), now_ms()).await? {
        return Err(Error::conflict("not_retryable", "no failed or waiting message has that id"));
    }
    ctx.store.commit(tx).await?;
    Ok(())
}
