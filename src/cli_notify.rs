//! `countersign outbox list|retry`, `agent set-callback|rotate-callback-secret` and
//! `approver set-channel`: the operator's side of issue 13 (the service functions live in
//! `service::outbound`).

use crate::config::Settings;
use crate::service::{format_ms, outbound};
use crate::startup;
use clap::Subcommand;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// The newest messages with their attempts (time, HTTP status or error, latency).
    List {
        /// Only messages in this state.
        #[arg(long, value_parser = ["pending", "delivered", "failed"])]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Send a failed message again now (same id, so receivers still deduplicate).
    Retry { id: String },
}

pub async fn outbox(command: OutboxCommand, settings: Settings) -> anyhow::Result<()> {
    let (ctx, _sim) = startup::connect(&settings).await?;
    match command {
        OutboxCommand::List { state, limit } => {
            for (message, attempts) in outbound::outbox_list(&ctx, state.as_deref(), limit).await? {
                println!(
                    "{}  {:<9} {:<14} {:<28} request={} created={} attempts={}",
                    message.id,
                    message.state,
                    message.channel,
                    message.event_type,
                    message.request_id.as_deref().unwrap_or("-"),
                    format_ms(message.created_at),
                    message.attempts,
                );
                for attempt in attempts {
                    let outcome = match (attempt.http_status, &attempt.error) {
                        (Some(status), _) => format!("HTTP {status}"),
                        (None, Some(error)) => error.clone(),
                        (None, None) => "-".into(),
                    };
                    println!(
                        "    #{} {} {} {} ms",
                        attempt.attempt,
                        format_ms(attempt.started_at),
                        outcome,
                        attempt.latency_ms
                    );
                }
                if message.state == crate::store::outbox::PENDING && message.attempts > 0 {
                    println!("    next attempt {}", format_ms(message.next_attempt_at));
                }
            }
        }
        OutboxCommand::Retry { id } => {
            outbound::outbox_retry(&ctx, &id).await?;
            println!("{id}: due again now");
        }
    }
    Ok(())
}

/// Prints a callback secret the one time it is shown.
fn show_secret(secret: &str) {
    println!("callback signing secret (shown once; verify callbacks with a Standard Webhooks library): {secret}");
}

/// `agent add --callback-url`, `agent set-callback`: sets the URL, prints a first secret.
pub async fn set_callback(ctx: &crate::service::Context, agent: &str, url: Option<&str>) -> anyhow::Result<()> {
    match outbound::set_callback(ctx, agent, url).await? {
        Some(secret) => show_secret(&secret),
        None if url.is_some() => println!("{agent}: callback URL set (the agent keeps its signing secret)"),
        None => println!("{agent}: callbacks stopped"),
    }
    Ok(())
}

pub async fn rotate_callback_secret(settings: Settings, agent: &str, overlap_hours: u64) -> anyhow::Result<()> {
    let (ctx, _sim) = startup::connect(&settings).await?;
    let secret = outbound::rotate_callback_secret(&ctx, agent, Duration::from_secs(overlap_hours * 3600)).await?;
    show_secret(&secret);
    println!("the previous secret also signs for {overlap_hours} h (both signatures are sent)");
    crate::audit::settle(&ctx.store).await?;
    Ok(())
}

pub async fn set_channel(
    settings: Settings,
    username: &str,
    channel: &str,
    destination: Option<&str>,
) -> anyhow::Result<()> {
    let (ctx, _sim) = startup::connect(&settings).await?;
    outbound::set_approver_channel(&ctx, username, channel, destination).await?;
    match destination {
        Some(_) => println!("{username}: {channel} alerts on"),
        None => println!("{username}: {channel} alerts off"),
    }
    crate::audit::settle(&ctx.store).await?;
    Ok(())
}
