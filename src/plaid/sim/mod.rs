//! An in-memory Plaid (Sandbox flavour) for tests, demos and the embedded default.
//!
//! It serves the Plaid paths Countersign uses with Plaid's request validation, error objects,
//! authorization decisions, transfer lifecycle and ES256-signed webhooks, so the real Plaid client
//! can be pointed at it unchanged. It must never be reachable as if it were Plaid in production:
//! it accepts one fixed pair of credentials and moves no money.
//!
//! Besides Plaid's paths it has non-Plaid admin paths under `/sim/` (no credentials; never exposed
//! by Plaid):
//! - `GET /sim` — these controls in plain text; `GET /sim/paths` — the Plaid paths served.
//! - `GET /sim/calls[?endpoint=/transfer/create]` — the calls answered so far, oldest first:
//!   `[{endpoint, at, status, fields: {authorization_id, transfer_id, idempotency_key, account_id,
//!   amount, access_token_present}}]` (only the fields the request had; never secrets or tokens).
//! - `POST /sim/faults {endpoint, kind, times = 1, delay_ms = 0}` — arm a fault for the next `times`
//!   calls of one Plaid path; kinds: `error_500`, `error_500_after_commit`, `rate_limit`, `delay`,
//!   `delay_after_commit` (documented on `faults::FaultKind`). `DELETE /sim/faults` disarms all.
//! - `POST /sim/accounts/balance {account_id, available}` — set an account's available balance
//!   (decimal string) to steer authorization decisions.
//! - `POST /sim/items/repair {access_token}` — leave ITEM_LOGIN_REQUIRED, as if the user fixed the
//!   login at the bank; sends ITEM/LOGIN_REPAIRED when the item has a webhook.
//! - `POST /sim/items/fire_webhook {access_token, webhook_code}` — `/sandbox/item/fire_webhook`
//!   for the codes Plaid's enum lacks: also PENDING_EXPIRATION (with `consent_expiration_time`).

mod admin;
mod errors;
mod faults;
mod handlers;
mod money;
mod persist;
pub mod spec;
mod standalone;
mod state;
mod validate;
mod webhooks;

pub use standalone::run_standalone;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use state::{Account, Item, State};
use webhooks::WebhookSigner;

/// How the simulator behaves; the defaults match a fresh Plaid Sandbox client.
#[derive(Clone)]
pub struct SimConfig {
    pub client_id: String,
    pub secret: String,
    /// Available (and current) balance of every new sandbox account, decimal string.
    pub initial_available_balance: String,
    /// The ledger balance that credits (payouts) are checked against, decimal string.
    pub ledger_available_balance: String,
    /// Authorizations above this amount are declined with TRANSFER_LIMIT_REACHED.
    pub per_transfer_limit: String,
    /// An unused authorization older than this cannot be used by /transfer/create.
    pub authorization_ttl: Duration,
    /// Where webhooks go when a call or item names no URL of its own (see `set_webhook_url`).
    pub webhook_url: Option<String>,
}

/// Written by hand so the secret never reaches a log line.
impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("client_id", &self.client_id)
            .field("secret", &"[redacted]")
            .field("initial_available_balance", &self.initial_available_balance)
            .field("ledger_available_balance", &self.ledger_available_balance)
            .field("per_transfer_limit", &self.per_transfer_limit)
            .field("authorization_ttl", &self.authorization_ttl)
            .field("webhook_url", &self.webhook_url)
            .finish()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            client_id: "sim-client-id".into(),
            secret: "sim-secret".into(),
            initial_available_balance: "50000.00".into(),
            ledger_available_balance: "1000000.00".into(),
            per_transfer_limit: "100000.00".into(),
            // Plaid's documented default lifetime of an unused authorization.
            authorization_ttl: Duration::from_secs(3600),
            webhook_url: None,
        }
    }
}

/// An item the service already knows, re-created after a restart of an in-memory simulator.
#[derive(Debug, Clone)]
pub struct SeedItem {
    pub access_token: String,
    pub item_id: String,
    pub accounts: Vec<SeedAccount>,
}

#[derive(Debug, Clone)]
pub struct SeedAccount {
    pub account_id: String,
    pub name: String,
    pub mask: String,
    pub subtype: String,
    /// Decimal string, e.g. "50000.00".
    pub available: String,
}

/// [`SimConfig`] with the amounts parsed into cents once.
pub(crate) struct Settings {
    pub client_id: String,
    pub secret: String,
    pub initial_available_cents: i64,
    pub ledger_available_cents: i64,
    pub per_transfer_limit_cents: i64,
    pub authorization_ttl: Duration,
}

pub(crate) struct Inner {
    pub settings: Settings,
    pub signer: WebhookSigner,
    state: Mutex<State>,
    webhook_url: Mutex<Option<String>>,
    /// Where the world is saved after every change (the embedded default); `None` keeps it in memory.
    pub(crate) state_file: Option<persist::StateFile>,
}

impl Inner {
    /// The world, even if a previous holder panicked: a simulator keeps serving rather than
    /// turning one bug into a cascade of poisoned-lock failures.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The URL a webhook goes to: the one the call or item named, else the configured default.
    pub fn webhook_url(&self, named: Option<&str>) -> Option<String> {
        named.map(str::to_owned).or_else(|| self.webhook_url.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// The simulator. Cheap to clone; all clones share one world.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

/// Parses a configured amount, falling back to the default (with an error log) when it is not a
/// two-decimal string: a typo in a demo setting should not take the whole simulator down.
fn config_cents(name: &str, value: &str, default: &str) -> i64 {
    money::parse_cents(value).unwrap_or_else(|| {
        tracing::error!(setting = name, %value, "not a decimal amount like 10.00; using {default}");
        money::parse_cents(default).unwrap_or(0)
    })
}

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        Self::build(config, State::default(), None)
    }

    /// A simulator whose world is loaded from `path` (when it exists) and saved there, atomically,
    /// after every call that may change it: restarting the process is invisible to its clients.
    pub fn with_state_file(config: SimConfig, path: &std::path::Path) -> anyhow::Result<Self> {
        let file = persist::StateFile::new(path);
        let state = file.load()?;
        Ok(Self::build(config, state, Some(file)))
    }

    fn build(config: SimConfig, state: State, state_file: Option<persist::StateFile>) -> Self {
        let defaults = SimConfig::default();
        let webhook_url = config.webhook_url.clone();
        let settings = Settings {
            initial_available_cents: config_cents(
                "initial_available_balance",
                &config.initial_available_balance,
                &defaults.initial_available_balance,
            ),
            ledger_available_cents: config_cents(
                "ledger_available_balance",
                &config.ledger_available_balance,
                &defaults.ledger_available_balance,
            ),
            per_transfer_limit_cents: config_cents(
                "per_transfer_limit",
                &config.per_transfer_limit,
                &defaults.per_transfer_limit,
            ),
            client_id: config.client_id,
            secret: config.secret,
            authorization_ttl: config.authorization_ttl,
        };
        Self {
            inner: Arc::new(Inner {
                settings,
                signer: WebhookSigner::generate(),
                state: Mutex::new(state),
                webhook_url: Mutex::new(webhook_url),
                state_file,
            }),
        }
    }

    /// All Plaid paths plus the `/sim/*` admin paths.
    pub fn router(&self) -> axum::Router {
        handlers::routes()
            .merge(admin::routes())
            .layer(axum::middleware::from_fn_with_state(self.clone(), persist::save_after_changes))
            .with_state(self.clone())
    }

    /// Binds `addr` (port 0 picks a free port) and serves in the background.
    pub async fn spawn(self, addr: SocketAddr) -> std::io::Result<RunningSimulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = self.router();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "plaid simulator stopped with an error");
            }
        });
        Ok(RunningSimulator { addr, stop, task, simulator: self })
    }

    /// A `Plaid-Verification` header for these body bytes as of `iat`, signed with this
    /// simulator's webhook key (tests use it to build deliveries Plaid could have sent).
    pub fn sign_webhook(&self, body: &[u8], iat: i64) -> String {
        self.inner.signer.sign(body, iat)
    }

    /// Marks this simulator's webhook key expired as of `at` (unix seconds); it keeps signing.
    pub fn expire_webhook_key(&self, at: i64) {
        self.inner.signer.expire(at);
    }

    /// Appends an event of any type to a transfer's history, as Plaid does for types the
    /// simulator has no sandbox call for (sweeps, refunds, types added later): what a receiver
    /// must store and otherwise ignore. False when the transfer is unknown.
    pub fn push_transfer_event(&self, transfer_id: &str, event_type: &str) -> bool {
        let mut state = self.inner.lock();
        let Some(transfer) = state.transfers.get(transfer_id).cloned() else { return false };
        let now = OffsetDateTime::now_utc();
        state.push_event(&transfer, event_type, serde_json::Value::Null, now);
        true
    }

    /// The id of this simulator's webhook key.
    pub fn webhook_kid(&self) -> String {
        self.inner.signer.kid().to_owned()
    }

    /// Where webhooks go when a call names no URL of its own (an item created without
    /// `options.webhook`, `/sandbox/transfer/simulate` without `webhook`): the embedded default
    /// points it at the service it runs in, so simulated events reach it without more set-up.
    pub fn set_webhook_url(&self, url: Option<String>) {
        *self.inner.webhook_url.lock().unwrap_or_else(|e| e.into_inner()) = url;
    }

    /// Whether the world holds an item with this access token.
    pub fn has_item(&self, access_token: &str) -> bool {
        self.inner.lock().items.contains_key(access_token)
    }

    /// Re-creates an item the service already knows, replacing any item with the same token.
    pub fn seed_item(&self, item: SeedItem) {
        let mut state = self.inner.lock();
        let mut account_ids = Vec::with_capacity(item.accounts.len());
        for seed in item.accounts {
            let available = money::parse_cents(&seed.available).unwrap_or_else(|| {
                tracing::warn!(account_id = %seed.account_id, available = %seed.available,
                    "seed balance is not a decimal amount; using the configured initial balance");
                self.inner.settings.initial_available_cents
            });
            account_ids.push(seed.account_id.clone());
            state.accounts.insert(
                seed.account_id.clone(),
                Account {
                    account_id: seed.account_id,
                    item_id: item.item_id.clone(),
                    name: seed.name,
                    official_name: None,
                    mask: seed.mask,
                    subtype: seed.subtype,
                    available_cents: available,
                    current_cents: available,
                },
            );
        }
        state.items.insert(
            item.access_token,
            Item {
                item_id: item.item_id,
                institution_id: handlers::DEFAULT_INSTITUTION_ID.into(),
                webhook: None,
                products: vec!["transfer".into()],
                created_at: OffsetDateTime::now_utc(),
                login_required: false,
                account_ids,
            },
        );
    }
}

/// A simulator serving on a socket; dropping it without [`RunningSimulator::shutdown`] leaves the
/// server running until the runtime ends.
pub struct RunningSimulator {
    simulator: Simulator,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RunningSimulator {
    /// The simulator this server runs.
    pub fn simulator(&self) -> &Simulator {
        &self.simulator
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (the loopback address even when bound to 0.0.0.0).
    pub fn base_url(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { self.addr.ip() };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// Stops accepting connections and waits for in-flight requests to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "plaid simulator task failed");
        }
    }
}
