//! `Application::build(settings)`: connect, migrate, wire Plaid (or the in-process simulator),
//! bind (port 0 works), and serve until a shutdown signal. Tests call exactly this.

use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::plaid::sim::{RunningSimulator, SeedAccount, SeedItem, SimConfig, Simulator};
use crate::plaid::{PlaidClient, PlaidEnvironment};
use crate::private_fs;
use crate::service::{audit_upkeep, expire, plaid_events, reconcile, AuthorizationWindow, Context};
use crate::store::{items, Store};
use anyhow::Context as _;
use secrecy::ExposeSecret;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

/// The embedded simulator's world, in the data directory.
const SIMULATOR_STATE_FILE: &str = "plaid-sim.json";

/// How often the audit chainer looks for records queued by other processes (its own process's
/// commits wake it at once).
const CHAIN_INTERVAL: Duration = Duration::from_millis(500);
use tokio::net::TcpListener;
use tokio::sync::watch;

pub struct Application {
    port: u16,
    listener: TcpListener,
    ctx: Context,
    simulator: Option<RunningSimulator>,
    sweep_interval: std::time::Duration,
    event_sync_interval: std::time::Duration,
    prune_interval: std::time::Duration,
    audit_upkeep: (std::time::Duration, std::time::Duration),
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let (ctx, simulator) = connect(&settings).await?;
        let listener = TcpListener::bind(settings.bind).await.with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        if let Some(simulator) = &simulator {
            // The embedded simulator tells this very service about the events it makes.
            let ip = if settings.bind.ip().is_unspecified() { [127, 0, 0, 1].into() } else { settings.bind.ip() };
            let address = std::net::SocketAddr::new(ip, port);
            simulator.simulator().set_webhook_url(Some(format!("http://{address}/webhooks/plaid")));
        }
        let retain = std::time::Duration::from_secs(u64::from(settings.pii_retention_days) * 86_400);
        let audit_upkeep = (settings.audit_checkpoint_interval, retain);
        Ok(Application {
            port,
            listener,
            ctx,
            simulator,
            sweep_interval: settings.sweep_interval,
            event_sync_interval: settings.event_sync_interval,
            prune_interval: settings.prune_interval,
            audit_upkeep,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The in-process Plaid simulator and its URL, when this application runs one.
    pub fn simulator(&self) -> Option<(&crate::plaid::sim::Simulator, String)> {
        self.simulator.as_ref().map(|running| (running.simulator(), running.base_url()))
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The in-process Plaid simulator's address, when this application runs one.
    pub fn simulator_url(&self) -> Option<String> {
        self.simulator.as_ref().map(RunningSimulator::base_url)
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests and stops.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let sweeper =
            tokio::spawn(expire::run(self.ctx.clone(), self.sweep_interval, self.prune_interval, stop_rx.clone()));
        let reconciler = tokio::spawn(reconcile::run(self.ctx.clone(), self.sweep_interval, stop_rx.clone()));
        let event_sync = tokio::spawn(plaid_events::run(self.ctx.clone(), self.event_sync_interval, stop_rx.clone()));
        let (every, retain) = self.audit_upkeep;
        let upkeep = tokio::spawn(audit_upkeep::run(self.ctx.clone(), every, retain, stop_rx.clone()));
        let policy_reloads =
            tokio::spawn(crate::service::policy::run(self.ctx.clone(), self.sweep_interval, stop_rx.clone()));
        let outbox = tokio::spawn(self.ctx.outbox_worker().run(stop_rx.clone()));
        let chainer = tokio::spawn(crate::audit::chain::run_chainer(self.ctx.store.clone(), CHAIN_INTERVAL, stop_rx));
        let app = crate::http::router(self.ctx.clone());
        // The peer address reaches handlers (sign-in throttling keys on it).
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                stop.await;
                tracing::info!("shutting down");
            })
            .await;
        let _ = stop_tx.send(true);
        let _ = sweeper.await;
        let _ = reconciler.await;
        let _ = event_sync.await;
        let _ = upkeep.await;
        let _ = chainer.await;
        let _ = policy_reloads.await;
        let _ = outbox.await;
        if let Some(simulator) = self.simulator {
            simulator.shutdown().await;
        }
        self.ctx.store.close().await;
        served.context("serving HTTP")
    }
}

/// With SQLite: the data directory exists and is private (0700), and so is the database file
/// (0600) before SQLite first opens it. Every command that opens the database calls this first.
pub fn prepare_data_dir(settings: &Settings) -> anyhow::Result<()> {
    if settings.is_embedded_sqlite() {
        private_fs::create_private_dir(&settings.data_dir)?;
        if let Some(database) = private_fs::sqlite_path(&settings.database_url) {
            private_fs::prepare_sqlite_file(&database)?;
        }
    }
    Ok(())
}

/// Builds the use-case context (store, Plaid, key), starting the in-process simulator when
/// `PLAID_ENV=sim` names no standalone one. Also used by CLI commands.
pub async fn connect(settings: &Settings) -> anyhow::Result<(Context, Option<RunningSimulator>)> {
    prepare_data_dir(settings)?;
    let store =
        Store::connect(&settings.database_url, settings.max_connections).await.context("connecting to the database")?;
    if settings.migrate_on_start {
        store.migrate().await.context("running migrations")?;
    }
    let master_key = resolve_master_key(settings)?;
    let (base_url, simulator) = match (&settings.plaid_base_url, settings.plaid_env.default_base_url()) {
        (Some(url), _) => (url.clone(), None),
        (None, Some(url)) => (url.to_owned(), None),
        (None, None) => {
            let config = SimConfig {
                client_id: settings.plaid_client_id.clone(),
                secret: settings.plaid_secret.expose_secret().to_owned(),
                ..SimConfig::default()
            };
            // The embedded default keeps Plaid's side beside its database, so a restart loses
            // no pending authorization; CLI commands on other databases keep theirs in memory.
            let simulator = if settings.is_embedded_sqlite() {
                Simulator::with_state_file(config, &settings.data_dir.join(SIMULATOR_STATE_FILE))?
            } else {
                Simulator::new(config)
            };
            seed_simulator(&simulator, &store, &master_key).await?;
            let running = simulator.spawn(([127, 0, 0, 1], 0).into()).await.context("starting the Plaid simulator")?;
            (running.base_url(), Some(running))
        }
    };
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::for_store(&store));
    let plaid = PlaidClient::new(
        &base_url,
        settings.plaid_client_id.clone(),
        settings.plaid_secret.clone(),
        settings.plaid_timeout,
    )?
    .with_metrics(metrics.clone());
    let window = AuthorizationWindow { ttl: settings.authorization_ttl, margin: settings.expiry_margin };
    let mut ctx = Context::new(store, plaid, master_key, settings.policy.clone(), window);
    ctx.metrics = metrics;
    ctx.policies = std::sync::Arc::new(crate::service::policy::Policies::new(
        settings.policy.clone(),
        settings.policy_shadow.clone(),
        settings.policy_file.clone(),
        settings.policy_shadow_file.clone(),
    ));
    ctx.sessions = settings.sessions;
    ctx.cookie_secure = settings.cookie_secure;
    ctx.audit_anchors = crate::audit::anchor::AnchorLog::in_dir(&settings.audit_anchor_dir);
    ctx.trust_forwarded_for = settings.trust_forwarded_for;
    ctx.tier3_min_reading = settings.tier3_min_reading;
    // Longer than any Plaid call can take, so the reconciler never races a call still in flight.
    ctx.reconcile_after = settings.plaid_timeout + std::time::Duration::from_secs(1);
    ctx.executing_alert_after = settings.executing_alert_after;
    // One page is one Plaid call and one transaction: twice the longest call, and some.
    ctx.event_sync_lease = settings.plaid_timeout * 2 + std::time::Duration::from_secs(5);
    ctx.outbound = std::sync::Arc::new(settings.outbound.clone());
    Ok((ctx, simulator))
}

/// Re-creates the items we know that the simulator does not (an in-memory one, or a data dir from
/// before the state file), so the embedded default keeps working across restarts.
async fn seed_simulator(simulator: &Simulator, store: &Store, key: &MasterKey) -> anyhow::Result<()> {
    let defaults = SimConfig::default();
    for item in items::all(store.reader()).await? {
        let access_token = key.decrypt(&item.access_token_enc)?;
        if simulator.has_item(&access_token) {
            continue;
        }
        let accounts = items::accounts(store.reader(), &item.id).await?;
        simulator.seed_item(SeedItem {
            access_token,
            item_id: item.plaid_item_id,
            accounts: accounts
                .into_iter()
                .map(|a| SeedAccount {
                    account_id: a.account_id,
                    name: a.name,
                    mask: a.mask.unwrap_or_default(),
                    subtype: a.subtype.unwrap_or_default(),
                    available: defaults.initial_available_balance.clone(),
                })
                .collect(),
        });
    }
    Ok(())
}

fn resolve_master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(key) = &settings.master_key {
        return MasterKey::from_base64(key.expose_secret()).context("COUNTERSIGN_MASTER_KEY");
    }
    if !settings.is_embedded_sqlite() || settings.plaid_env != PlaidEnvironment::Sim {
        anyhow::bail!("COUNTERSIGN_MASTER_KEY is required outside the embedded default (generate one with `openssl rand -base64 32`)");
    }
    let path = settings.data_dir.join("master.key");
    let text = read_or_create_secret_file(&path, MasterKey::generate_base64)?;
    MasterKey::from_base64(&text).with_context(|| format!("{} is not a valid key", path.display()))
}

/// Reads a secret file, or creates it with mode 0600.
pub fn read_or_create_secret_file(path: &Path, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return Ok(text.trim().to_owned());
    }
    let value = make();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(value.as_bytes())?;
    Ok(value)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
