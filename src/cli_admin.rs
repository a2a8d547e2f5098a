//! `countersign approver list | disable | reset-totp` and `countersign agent list | rotate-key |
//! disable`: the operator's side of administration, the same service functions the admin pages
//! and the admin API call (as `Actor::Operator`: no step-up, the operator holds the database).

use crate::config::Settings;
use crate::domain::{AgentId, ApproverId};
use crate::service::admin::{self, Actor};
use crate::service::{format_ms, Context};
use crate::startup;
use anyhow::{anyhow, bail};
use clap::Subcommand;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum ApproverAdminCommand {
    /// List approvers: roles, items, active or deactivated, live sessions.
    List,
    /// Deactivate an approver: no more sign-ins; their sessions and unspent approval tokens are
    /// void at once. Approvals they already gave stay.
    Disable { username: String },
    /// Replace an approver's TOTP secret and end their sessions; prints a one-time enrollment
    /// link (valid 24 h) where they set a new password and authenticator.
    ResetTotp {
        username: String,
        #[arg(long, env = "COUNTERSIGN_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
        public_url: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentAdminCommand {
    /// List agents: owner, items, active or disabled, a rotated key's remaining overlap.
    List,
    /// Give an agent a new API key (printed once); the old key keeps working for the overlap.
    RotateKey {
        /// The agent's id (`ag_…`) or name.
        agent: String,
        /// How long the old key keeps working: e.g. `24h` (default), `30m`, `90s`, `2d`, `0`.
        #[arg(long, default_value = "24h", value_parser = crate::domain::duration::parse_duration)]
        overlap: Duration,
    },
    /// Disable an agent: every key of it is refused from the next request on (403 `agent_disabled`).
    Disable {
        /// The agent's id (`ag_…`) or name.
        agent: String,
    },
}

pub async fn approver(command: ApproverAdminCommand, settings: Settings) -> anyhow::Result<()> {
    let (ctx, _sim) = startup::connect(&settings).await?;
    match command {
        ApproverAdminCommand::List => {
            println!("{:<36} {:<24} {:<22} {:<9} {:>8}  items", "id", "username", "roles", "status", "sessions");
            for a in admin::list_approvers(&ctx, Actor::Operator).await? {
                let status = if a.active { "active" } else { "disabled" };
                let items = a.items.map_or_else(|| "all".to_owned(), |items| items.join(","));
                let roles = a.roles.join(",");
                println!("{:<36} {:<24} {roles:<22} {status:<9} {:>8}  {items}", a.id, a.username, a.live_sessions);
            }
        }
        ApproverAdminCommand::Disable { username } => {
            let id = approver_named(&ctx, &username).await?;
            let revoked = admin::disable_approver(&ctx, Actor::Operator, &id).await?;
            println!("{username}: deactivated; {revoked} session(s) revoked, unspent approval tokens void");
        }
        ApproverAdminCommand::ResetTotp { username, public_url } => {
            let id = approver_named(&ctx, &username).await?;
            let link = admin::reset_totp(&ctx, Actor::Operator, &id).await?;
            println!(
                "{username}: TOTP secret replaced and sessions ended. One-time enrollment link (valid until {}):",
                format_ms(link.expires_at)
            );
            println!("{}{}", public_url.trim_end_matches('/'), link.path());
        }
    }
    crate::cli::chain_before_exit(&ctx.store).await
}

async fn approver_named(ctx: &Context, username: &str) -> anyhow::Result<ApproverId> {
    let normalized = crate::domain::username::normalized(username);
    let found = crate::store::approvers::find_by_username(ctx.store.reader(), &normalized).await?;
    found.map(|a| a.id).ok_or_else(|| anyhow!("no approver is named {username:?}"))
}

pub async fn agent(command: AgentAdminCommand, settings: Settings) -> anyhow::Result<()> {
    let (ctx, _sim) = startup::connect(&settings).await?;
    match command {
        AgentAdminCommand::List => {
            println!("{:<36} {:<24} {:<16} {:<9} items", "id", "name", "owner", "status");
            for a in admin::list_agents(&ctx, Actor::Operator).await? {
                let status = if a.active { "active" } else { "disabled" };
                let items = a.items.map_or_else(|| "all".to_owned(), |items| items.join(","));
                let overlap = a
                    .previous_key_valid_until
                    .map(|until| format!("  (old key valid until {until})"))
                    .unwrap_or_default();
                println!("{:<36} {:<24} {:<16} {status:<9} {items}{overlap}", a.id, a.name, a.owner);
            }
        }
        AgentAdminCommand::RotateKey { agent, overlap } => {
            let id = agent_named(&ctx, &agent).await?;
            let rotated = admin::rotate_key(&ctx, Actor::Operator, &id, overlap).await?;
            println!("agent {id}: new API key (shown once, store it now): {}", rotated.api_key);
            println!("the old key works until {}", format_ms(rotated.previous_valid_until));
        }
        AgentAdminCommand::Disable { agent } => {
            let id = agent_named(&ctx, &agent).await?;
            admin::disable_agent(&ctx, Actor::Operator, &id).await?;
            println!("agent {id}: disabled; its keys are refused from now on");
        }
    }
    crate::cli::chain_before_exit(&ctx.store).await
}

/// An agent by id, or by its (unique) name.
async fn agent_named(ctx: &Context, agent: &str) -> anyhow::Result<AgentId> {
    if let Some(id) = AgentId::parse(agent) {
        return Ok(id);
    }
    let agents = admin::list_agents(ctx, Actor::Operator).await?;
    match agents.into_iter().find(|a| a.name == agent.trim()) {
        Some(found) => AgentId::parse(&found.id).ok_or_else(|| anyhow!("stored agent id {:?}", found.id)),
        None => bail!("no agent has the id or name {agent:?}"),
    }
}
