//! `countersign plaid-sim`: the simulator in its own process, for several service replicas or any
//! Plaid client to share. It prints what a stranger needs to point a client at it (address,
//! credentials, webhook key id, where the `/sim` controls are) and stops on Ctrl-C or SIGTERM.
//! It must never print anything but the simulator's own test credentials.

use std::net::SocketAddr;

use super::{SimConfig, Simulator};

/// Serves a standalone simulator (`countersign plaid-sim`) until Ctrl-C or SIGTERM. All state is
/// in this process, so every service replica pointed at it sees the same Plaid; with a state file
/// it also survives a restart of the simulator.
pub async fn run_standalone(
    config: SimConfig,
    addr: SocketAddr,
    state_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let simulator = match state_file {
        Some(path) => Simulator::with_state_file(config, path)?,
        None => Simulator::new(config),
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "plaid simulator listening");
    print_banner(&simulator, bound);
    let app = simulator.router();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("plaid simulator stopped");
    Ok(())
}

/// What a stranger needs to point a Plaid client at the standalone simulator, on stdout (the
/// first line is stable for scripts: `tests/plaid_clients/run` reads the URL from it). The
/// credentials are the simulator's own test pair, not a secret of anyone's.
fn print_banner(simulator: &Simulator, bound: SocketAddr) {
    use std::io::Write;
    let settings = &simulator.inner.settings;
    let base = format!("http://{bound}");
    let banner = format!(
        "Plaid simulator listening on {base}\n\
         \x20 client_id: {}\n\
         \x20 secret:    {}\n\
         \x20 webhook verification key id: {} (POST /webhook_verification_key/get)\n\
         \x20 test controls: GET {base}/sim lists the /sim/* paths (README, \"The Plaid simulator\")\n",
        settings.client_id,
        settings.secret,
        simulator.webhook_kid(),
    );
    let mut stdout = std::io::stdout().lock();
    // A closed stdout must not stop the simulator; the same facts are in the log line above.
    let _ = stdout.write_all(banner.as_bytes()).and_then(|()| stdout.flush());
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
