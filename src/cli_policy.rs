//! `countersign policy check | reload | backtest`: the risk policy file on the command line.

use crate::config::{read_policy_file, Settings};
use crate::domain::policy::backtest;
use crate::domain::policy::window::parse_period;
use crate::service::{format_ms, now_ms};
use crate::store::Store;
use anyhow::{bail, Context as _};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy file: prints its version, or what is wrong with line and column (exit 1).
    Check { file: PathBuf },
    /// Ask every running replica to re-read COUNTERSIGN_POLICY_FILE (each polls the database
    /// once per sweep interval; `kill -HUP PID` reloads one process at once). Checked here first:
    /// an invalid file is refused and the running policy stays.
    Reload,
    /// Replay stored requests against FILE and the active policy, and print what would change.
    Backtest {
        file: PathBuf,
        /// How far back: `30d`, `12h`, …
        #[arg(long, default_value = "30d")]
        since: String,
    },
}

pub async fn run(command: PolicyCommand, settings: Settings) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Check { file } => {
            let policy = match read_policy_file(&file) {
                Ok(policy) => policy,
                Err(why) => {
                    // Just the file, line, column and reason: this is the answer, not a crash.
                    eprintln!("{why}");
                    std::process::exit(1);
                }
            };
            println!("{}: valid; version {} ({} rules)", file.display(), policy.describe(), policy.rules.len());
            println!("read tiers: {}", policy.reads.summary());
            println!("sha256:{}", policy.version);
            Ok(())
        }
        PolicyCommand::Reload => {
            let Some(file) = &settings.policy_file else {
                bail!(
                    "COUNTERSIGN_POLICY_FILE is not set: the built-in policy is in use and there is nothing to reload"
                );
            };
            // Settings already refused an invalid file; read it again in case it changed since.
            let policy = read_policy_file(file)
                .map_err(|why| anyhow::anyhow!("{why}\nnot reloaded: the running policy stays"))?;
            let store = connect(&settings).await?;
            crate::service::policy::request_reload(&store, "cli").await?;
            crate::audit::settle(&store).await?;
            println!(
                "reload of {} ({}) requested; every replica switches within its sweep interval",
                file.display(),
                policy.describe()
            );
            Ok(())
        }
        PolicyCommand::Backtest { file, since } => {
            let candidate = read_policy_file(&file).map_err(anyhow::Error::msg)?;
            let secs = parse_period(&since).with_context(|| format!("--since {since:?}: use e.g. 30d, 12h, 90m"))?;
            let from = now_ms() - secs * 1000;
            let store = connect(&settings).await?;
            let history = crate::store::policy::history_since(store.reader(), from).await?;
            let report = backtest::run(&history, &settings.policy, &candidate, |past| account_tail(&past.account_id));
            println!("backtest since {} of {}", format_ms(from), file.display());
            print!("{}", report.to_table(&settings.policy.describe(), &candidate.describe()));
            store.close().await;
            Ok(())
        }
    }
}

async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    crate::startup::prepare_data_dir(settings)?;
    let store = Store::connect(&settings.database_url, 2).await.context("connecting to the database")?;
    if settings.migrate_on_start {
        store.migrate().await.context("running migrations")?;
    }
    Ok(store)
}

/// `••1234`: the backtest prints no account ids.
fn account_tail(account_id: &str) -> String {
    let tail: Vec<char> = account_id.chars().rev().take(4).collect();
    format!("••{}", tail.into_iter().rev().collect::<String>())
}
