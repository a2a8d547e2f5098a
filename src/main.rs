use clap::Parser;
use countersign::{cli, config::Settings};
use tracing_subscriber::EnvFilter;

/// How many tasks a runtime worker polls from its own queue between looks at the shared one.
/// Database replies (sqlx's SQLite threads, and wake-ups from other threads) land in the shared
/// queue; tokio's default (31 or more) lets a transaction holding SQLite's one writer wait behind
/// dozens of HTTP tasks for each statement's reply. Measured with `countersign bench` at C=16:
/// SQLite 137 → 159 cycles/s, PostgreSQL 133 → 142.
const GLOBAL_QUEUE_INTERVAL: u32 = 1;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .global_queue_interval(GLOBAL_QUEUE_INTERVAL)
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
    if settings.json_logs {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
    cli::run(cli::Cli::parse(), settings).await
}
