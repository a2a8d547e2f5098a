use clap::Parser;
use countersign::{cli, config::Settings};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
