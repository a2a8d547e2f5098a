//! The `countersign` command line: serve (default), migrate, plaid-sim, agent add|list|rotate-key|disable, item add,
//! approver add|unlock|list|disable|reset-totp, audit export|verify|pubkey, policy check|reload|backtest,
//! outbox list|retry (with agent set-callback|rotate-callback-secret and approver set-channel in `cli_notify`).

use crate::config::Settings;
use crate::domain::ItemId;
use crate::service::registry;
use crate::startup::{self, Application};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(name = "countersign", version, about = "Agents propose Plaid transfers; humans countersign.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Run the Plaid simulator on its own, for several replicas or other clients to share.
    PlaidSim {
        #[arg(long, default_value_t = 4010)]
        port: u16,
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Keep the simulator's world in this file (loaded at start, saved after every change), so
        /// a restart loses no authorization or transfer.
        #[arg(long)]
        state_file: Option<std::path::PathBuf>,
        /// Send webhooks here when a call or item names no URL of its own (e.g. a Countersign's
        /// `http://127.0.0.1:8080/webhooks/plaid`), so simulated transfer events reach it.
        #[arg(long)]
        webhook_url: Option<String>,
        /// The client id the simulator accepts (default `sim-client-id`).
        #[arg(long)]
        client_id: Option<String>,
        /// The secret the simulator accepts (default `sim-secret`).
        #[arg(long)]
        secret: Option<String>,
    },
    /// Manage agents.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Manage Plaid items.
    Item {
        #[command(subcommand)]
        command: ItemCommand,
    },
    /// Benchmark the full approval cycle under load (see README, Performance).
    Bench(crate::bench::BenchArgs),
    /// Manage approvers (people).
    Approver {
        #[command(subcommand)]
        command: ApproverCommand,
    },
    /// The compliance audit trail: export, verify, print the checkpoint public key.
    Audit {
        #[command(subcommand)]
        command: crate::cli_audit::AuditCommand,
    },
    /// The risk policy file: check, reload, backtest.
    Policy {
        #[command(subcommand)]
        command: crate::cli_policy::PolicyCommand,
    },
    /// Messages to agents and approvers: list them with their attempts, retry a failed one.
    Outbox {
        #[command(subcommand)]
        command: crate::cli_notify::OutboxCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApproverCommand {
    /// Create an approver; prints a generated password (if none given) and the TOTP enrollment.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["approver", "compliance", "admin"])]
        role: String,
        /// Read from the environment to keep it out of shell history; generated when absent.
        #[arg(long, env = "COUNTERSIGN_APPROVER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Comma-separated item ids whose accounts this approver may approve for (default: all).
        #[arg(long, value_delimiter = ',')]
        items: Option<Vec<String>>,
        /// Comma-separated approver groups (e.g. `finance,ops`): policy rules may require
        /// approvals from named groups ("one of finance and one of ops").
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
        /// Print a one-time enrollment link (valid 24 h) instead of a password and TOTP secret:
        /// the approver sets their password and adds the authenticator on that page.
        #[arg(long, conflicts_with = "password")]
        enroll_link: bool,
        /// Where approvers reach this service, for the enrollment link.
        #[arg(long, env = "COUNTERSIGN_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
        public_url: String,
    },
    /// Clear a username's sign-in (and step-up) throttle at once, instead of waiting out the delay.
    Unlock {
        /// Compared ignoring case, like every username.
        username: String,
    },
    #[command(flatten)]
    Admin(crate::cli_admin::ApproverAdminCommand),
    /// Where this approver gets alerts: `--channel slack|email|webhook|console --destination D`
    /// (a Slack incoming-webhook URL, an address, a URL), or `--clear`.
    SetChannel {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["slack", "email", "webhook", "console"])]
        channel: String,
        #[arg(long, required_unless_present = "clear")]
        destination: Option<String>,
        #[arg(long, conflicts_with = "destination")]
        clear: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent and print its API key (once).
    Add {
        #[arg(long)]
        name: String,
        /// Who is responsible for the agent; the owner can never approve its requests.
        #[arg(long, default_value = "operator")]
        owner: String,
        /// Comma-separated item ids the agent may use (default: every item).
        #[arg(long, value_delimiter = ',')]
        items: Option<Vec<String>>,
        /// Plaid read products the agent may call through the gateway (default: none): accounts,
        /// balance, transactions, investments, liabilities, identity, auth.
        #[arg(long, value_delimiter = ',')]
        products: Vec<String>,
        /// Of those, the ones whose answers reach this agent unmasked (full account numbers,
        /// identity details); every such read is audited as unmasked.
        #[arg(long, value_delimiter = ',')]
        unmasked: Vec<String>,
        /// Where Countersign POSTs signed events about the agent's requests (https; checked now).
        #[arg(long)]
        callback_url: Option<String>,
    },
    /// Set the agent's callback URL (prints a signing secret if it has none yet), or `--clear` it.
    SetCallback {
        #[arg(long)]
        name: String,
        #[arg(long, required_unless_present = "clear")]
        url: Option<String>,
        #[arg(long, conflicts_with = "url")]
        clear: bool,
    },
    /// Give the agent a new callback signing secret; the old one keeps signing beside it for the overlap.
    RotateCallbackSecret {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 24)]
        overlap_hours: u64,
    },
    #[command(flatten)]
    Admin(crate::cli_admin::AgentAdminCommand),
}

#[derive(Debug, Subcommand)]
pub enum ItemCommand {
    /// Register a Plaid item.
    Add {
        /// An existing item's access token (read from the environment to keep it out of shell history).
        #[arg(long, env = "PLAID_ACCESS_TOKEN", hide_env_values = true, conflicts_with = "sandbox")]
        access_token: Option<String>,
        /// Create a sandbox item through /sandbox/public_token/create and the exchange.
        #[arg(long)]
        sandbox: bool,
    },
}

pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Bench(args) => crate::bench::run(args).await,
        Command::Migrate => {
            startup::prepare_data_dir(&settings)?;
            let store = crate::store::Store::connect(&settings.database_url, 2).await?;
            store.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::PlaidSim { port, host, state_file, webhook_url, client_id, secret } => {
            let defaults = crate::plaid::sim::SimConfig::default();
            let config = crate::plaid::sim::SimConfig {
                webhook_url,
                client_id: client_id.unwrap_or(defaults.client_id.clone()),
                secret: secret.unwrap_or(defaults.secret.clone()),
                ..defaults
            };
            crate::plaid::sim::run_standalone(config, SocketAddr::new(host, port), state_file.as_deref()).await
        }
        Command::Agent { command: AgentCommand::Add { name, owner, items, products, unmasked, callback_url } } => {
            let (ctx, _sim) = startup::connect(&settings).await?;
            let items = parse_items(items)?;
            let products = crate::service::gateway::parse_products(&products)?;
            let unmasked = crate::service::gateway::parse_products(&unmasked)?;
            crate::service::gateway::grants::check_unmasked(&products, &unmasked)?;
            if let Some(url) = &callback_url {
                // A bad URL is refused before the agent exists.
                crate::service::outbound::check_destination(&ctx, url).await?;
            }
            let created = registry::add_agent(&ctx.store, &name, &owner, items.as_deref()).await?;
            crate::service::gateway::grant_products(&ctx.store, &created.id, &products, &unmasked).await?;
            println!("agent {} created", created.id);
            println!("API key (shown once, store it now): {}", created.api_key);
            if let Some(url) = &callback_url {
                crate::cli_notify::set_callback(&ctx, &name, Some(url)).await?;
            }
            chain_before_exit(&ctx.store).await
        }
        Command::Agent { command: AgentCommand::SetCallback { name, url, clear: _ } } => {
            let (ctx, _sim) = startup::connect(&settings).await?;
            crate::cli_notify::set_callback(&ctx, &name, url.as_deref()).await?;
            chain_before_exit(&ctx.store).await
        }
        Command::Agent { command: AgentCommand::RotateCallbackSecret { name, overlap_hours } } => {
            crate::cli_notify::rotate_callback_secret(settings, &name, overlap_hours).await
        }
        Command::Approver { command: ApproverCommand::SetChannel { username, channel, destination, clear: _ } } => {
            crate::cli_notify::set_channel(settings, &username, &channel, destination.as_deref()).await
        }
        Command::Outbox { command } => crate::cli_notify::outbox(command, settings).await,
        Command::Approver {
            command: ApproverCommand::Add { username, role, password, items, groups, enroll_link, public_url },
        } => {
            let (ctx, _sim) = startup::connect(&settings).await?;
            let items = parse_items(items)?;
            let groups = crate::service::approver_groups::parse_groups(&groups.unwrap_or_default())?;
            if enroll_link {
                let grant = crate::service::enrollment::add_with_link(
                    &ctx.store,
                    &ctx.master_key,
                    &username,
                    &role,
                    items.as_deref(),
                )
                .await?;
                println!("approver {} ({username}, {role}) created", grant.enrollment.id);
                set_groups(&ctx.store, &grant.enrollment.id, &groups).await?;
                println!("one-time enrollment link (valid until {}):", crate::service::format_ms(grant.expires_at));
                println!("{}/ui/enroll/{}", public_url.trim_end_matches('/'), grant.token);
                return chain_before_exit(&ctx.store).await;
            }
            let enrollment = crate::service::approvers::add_approver(
                &ctx.store,
                &ctx.master_key,
                &username,
                &role,
                password.as_deref(),
                items.as_deref(),
            )
            .await?;
            println!("approver {} ({username}, {role}) created", enrollment.id);
            set_groups(&ctx.store, &enrollment.id, &groups).await?;
            if let Some(generated) = &enrollment.generated_password {
                println!("password (shown once): {generated}");
            }
            println!(
                "TOTP: scan this with an authenticator app, or enter the secret {}",
                enrollment.totp_secret_base32
            );
            println!("{}", enrollment.otpauth_uri);
            if let Some(qr) = crate::auth::totp::qr_terminal(&enrollment.otpauth_uri) {
                println!("{qr}");
            }
            chain_before_exit(&ctx.store).await
        }
        Command::Approver { command: ApproverCommand::Unlock { username } } => {
            let (ctx, _sim) = startup::connect(&settings).await?;
            if crate::service::signin::unlock(&ctx, &username).await? {
                println!("{username}: throttle cleared; the next sign-in is checked at once");
            } else {
                println!("{username}: was not throttled");
            }
            chain_before_exit(&ctx.store).await
        }
        Command::Approver { command: ApproverCommand::Admin(command) } => {
            crate::cli_admin::approver(command, settings).await
        }
        Command::Agent { command: AgentCommand::Admin(command) } => crate::cli_admin::agent(command, settings).await,
        Command::Audit { command } => crate::cli_audit::run(command, settings).await,
        Command::Policy { command } => crate::cli_policy::run(command, settings).await,
        Command::Item { command: ItemCommand::Add { access_token, sandbox } } => {
            let (ctx, _sim) = startup::connect(&settings).await?;
            let id = match (access_token, sandbox) {
                (_, true) => registry::add_sandbox_item(&ctx).await?,
                (Some(token), false) => registry::add_item(&ctx, &token).await?,
                (None, false) => {
                    anyhow::bail!("give --access-token (or PLAID_ACCESS_TOKEN) or --sandbox")
                }
            };
            println!("item {id} registered");
            chain_before_exit(&ctx.store).await
        }
    }
}

/// Gives a new approver their groups, if any were named.
async fn set_groups(
    store: &crate::store::Store,
    id: &crate::domain::ApproverId,
    groups: &[String],
) -> anyhow::Result<()> {
    if !groups.is_empty() {
        crate::service::approver_groups::set(store, id, groups).await?;
        println!("groups: {}", groups.join(", "));
    }
    Ok(())
}

/// A CLI command's audit records join the chain before it exits, rather than when a server next
/// looks for queued records.
pub(crate) async fn chain_before_exit(store: &crate::store::Store) -> anyhow::Result<()> {
    crate::audit::settle(store).await?;
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let seed = settings.seed_demo;
    let data_dir = settings.data_dir.clone();
    let app = Application::build(settings).await?;
    if seed {
        let banner = crate::demo::seed(app.context(), &data_dir, app.port()).await?;
        println!("{banner}");
    }
    tracing::info!(port = app.port(), "countersign listening");
    app.run_until_stopped().await
}

fn parse_items(items: Option<Vec<String>>) -> anyhow::Result<Option<Vec<ItemId>>> {
    items
        .map(|ids| {
            ids.iter()
                .map(|id| ItemId::parse(id.trim()).ok_or_else(|| anyhow::anyhow!("{id:?} is not an item id (it_...)")))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .transpose()
}
