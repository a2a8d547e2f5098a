//! Settings, read from the environment. Secrets are `SecretString` and never printed.
//!
//! With nothing set, Countersign runs embedded: SQLite in `./countersign-data`, the Plaid
//! simulator in-process, a demo item and agent seeded.

use crate::auth::SessionPolicy;
use crate::domain::{Money, Policy};
use crate::plaid::PlaidEnvironment;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub max_connections: u32,
    pub migrate_on_start: bool,
    pub plaid_env: PlaidEnvironment,
    /// Overrides the environment's host (e.g. a standalone simulator).
    pub plaid_base_url: Option<String>,
    pub plaid_client_id: String,
    pub plaid_secret: SecretString,
    pub plaid_timeout: Duration,
    /// An `executing` request unresolved this long is alerted (`COUNTERSIGN_EXECUTING_ALERT_SECS`, default 900).
    pub executing_alert_after: Duration,
    /// Base64 of 32 bytes; `None` only in embedded mode, which keeps a key file in `data_dir`.
    pub master_key: Option<SecretString>,
    /// Plaid's authorization lifetime (1 h unless Plaid support changed it).
    pub authorization_ttl: Duration,
    /// Safety margin before the authorization lapses: approvals stop this long before.
    pub expiry_margin: Duration,
    pub sweep_interval: Duration,
    /// How often Plaid's transfer events are polled even without a webhook (`COUNTERSIGN_EVENT_SYNC_SECS`, default 60).
    pub event_sync_interval: Duration,
    /// How often the chain head is signed (`COUNTERSIGN_AUDIT_CHECKPOINT_SECS`, default 300).
    pub audit_checkpoint_interval: Duration,
    /// Where each signed checkpoint is also appended (`audit-anchors.jsonl`), outside the
    /// database's reach, so `audit verify` can catch a chain rewritten or cut together with its
    /// stored checkpoints. Default: the data dir.
    pub audit_anchor_dir: PathBuf,
    /// Days after a terminal state before a request's legal name is purged (`COUNTERSIGN_PII_RETENTION_DAYS`, default 90).
    pub pii_retention_days: u32,
    /// How often stale idempotency keys are pruned, by wall clock across restarts and replicas
    /// (`COUNTERSIGN_PRUNE_INTERVAL_SECS`, default 3600).
    pub prune_interval: Duration,
    /// The active risk policy: `COUNTERSIGN_POLICY_FILE`, or the built-in one (today's thresholds
    /// from the environment plus the 24 h anti-splitting window).
    pub policy: Policy,
    pub sessions: SessionPolicy,
    /// Seed a demo item and agent on first start (embedded mode).
    pub seed_demo: bool,
    pub json_logs: bool,
    /// The approver session cookie is `Secure` and `__Host-` prefixed; `COUNTERSIGN_COOKIE_SECURE=false`
    /// only for plain http on localhost.
    pub cookie_secure: bool,
    /// Sign-in throttling keys on the peer address; behind a reverse proxy that sets
    /// `X-Forwarded-For`, `COUNTERSIGN_TRUST_FORWARDED_FOR=true` uses its last entry instead.
    pub trust_forwarded_for: bool,
    /// Re-read on SIGHUP and `countersign policy reload`.
    pub policy_file: Option<PathBuf>,
    /// A candidate policy evaluated beside the active one; its differences are stored, not enforced.
    pub policy_shadow: Option<Policy>,
    pub policy_shadow_file: Option<PathBuf>,
    /// Tier 3: approving sooner than this after opening the request asks "did you read it?"
    /// (`COUNTERSIGN_TIER3_MIN_READING_SECS`, 0 turns it off).
    pub tier3_min_reading: Duration,
    /// Outbound messages (issue 13): destinations allowed, timeouts, retries, alert channels.
    pub outbound: crate::notify::Outbound,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_var<T: std::str::FromStr>(name: &str, default: T) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|_| ConfigError(format!("{name} has an invalid value"))),
    }
}

fn money_var(name: &str, default: &str) -> Result<Money, ConfigError> {
    let text = var(name).unwrap_or_else(|| default.to_owned());
    Money::parse(text.trim()).map_err(|e| ConfigError(format!("{name}: {e}")))
}

/// Reads and checks a policy file: `Err` names the file, the line and the column.
pub fn read_policy_file(path: &std::path::Path) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Policy::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The read gateway's tiers and rate were once read from their own file; they are now the
/// `[reads]` section of the policy file, so that one versioned file says what every call needs.
/// A setting that would be silently ignored is refused instead.
fn refuse_removed_read_settings() -> Result<(), ConfigError> {
    for name in ["COUNTERSIGN_READS_FILE", "COUNTERSIGN_READS_PER_MINUTE"] {
        if var(name).is_some() {
            return Err(ConfigError(format!(
                "{name} is no longer read: put the read gateway's tiers and rate in the policy file's [reads] \
                 section (COUNTERSIGN_POLICY_FILE; `countersign policy check FILE` validates it)"
            )));
        }
    }
    Ok(())
}

/// `COUNTERSIGN_OUTBOUND_*`, `COUNTERSIGN_OUTBOX_*` and `COUNTERSIGN_ALERT_*`.
fn outbound_from_env(embedded_default: bool) -> Result<crate::notify::Outbound, ConfigError> {
    use crate::notify::{parse_backoff, ssrf::DestinationPolicy, Outbound};
    let defaults = Outbound::default();
    let backoff = match var("COUNTERSIGN_OUTBOX_BACKOFF") {
        Some(text) => parse_backoff(&text).ok_or_else(|| {
            ConfigError("COUNTERSIGN_OUTBOX_BACKOFF must be a list like 5s,5m,30m,2h (units ms, s, m, h)".into())
        })?,
        None => defaults.backoff,
    };
    let secret = var("COUNTERSIGN_ALERT_WEBHOOK_SECRET");
    if let Some(secret) = &secret {
        crate::notify::signing::signature_header(std::slice::from_ref(secret), "check", 0, "")
            .map_err(|_| ConfigError("COUNTERSIGN_ALERT_WEBHOOK_SECRET must be whsec_ followed by base64".into()))?;
    }
    let policy = DestinationPolicy {
        allow_private: parse_var("COUNTERSIGN_OUTBOUND_ALLOW_PRIVATE", false)?,
        allow_http: parse_var("COUNTERSIGN_OUTBOUND_ALLOW_HTTP", false)?,
    };
    // The embedded default prints alerts, so a newcomer sees them without configuring anything.
    let team = var("COUNTERSIGN_ALERT_TEAM_CHANNEL").or_else(|| embedded_default.then(|| "console".to_owned()));
    let team_channel = team
        .map(|text| crate::notify::alerts::Channel::parse(&text, policy))
        .transpose()
        .map_err(|e| ConfigError(format!("COUNTERSIGN_ALERT_TEAM_CHANNEL: {e}")))?;
    Ok(Outbound {
        policy,
        timeout: Duration::from_secs(parse_var("COUNTERSIGN_OUTBOUND_TIMEOUT_SECS", 10)?.max(1)),
        backoff,
        poll: Duration::from_millis(parse_var("COUNTERSIGN_OUTBOX_POLL_MS", 500)?.max(10)),
        alert_webhook_secret: secret.map(SecretString::from),
        team_channel,
        public_url: var("COUNTERSIGN_PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into()),
        smtp: smtp_from_env()?,
    })
}

/// `COUNTERSIGN_SMTP_HOST` (none: no email alerts), `_PORT`, `_USERNAME`, `_PASSWORD`, `_FROM`,
/// `_TLS` (`starttls`, the default, or `none`) and `_CA_FILE`.
fn smtp_from_env() -> Result<Option<crate::notify::email::Smtp>, ConfigError> {
    let Some(host) = var("COUNTERSIGN_SMTP_HOST") else { return Ok(None) };
    let from = var("COUNTERSIGN_SMTP_FROM")
        .ok_or_else(|| ConfigError("COUNTERSIGN_SMTP_FROM is required with COUNTERSIGN_SMTP_HOST".into()))?;
    let starttls = match var("COUNTERSIGN_SMTP_TLS").as_deref().map(str::trim) {
        None | Some("starttls") => true,
        Some("none") => false,
        Some(_) => return Err(ConfigError("COUNTERSIGN_SMTP_TLS must be starttls or none".into())),
    };
    Ok(Some(crate::notify::email::Smtp {
        host,
        port: parse_var("COUNTERSIGN_SMTP_PORT", 587)?,
        username: var("COUNTERSIGN_SMTP_USERNAME"),
        password: var("COUNTERSIGN_SMTP_PASSWORD").map(SecretString::from),
        from,
        starttls,
        ca_file: var("COUNTERSIGN_SMTP_CA_FILE").map(PathBuf::from),
    }))
}

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        let data_dir = PathBuf::from(var("COUNTERSIGN_DATA_DIR").unwrap_or_else(|| "countersign-data".into()));
        let audit_anchor_dir = var("COUNTERSIGN_AUDIT_ANCHOR_DIR").map_or_else(|| data_dir.clone(), PathBuf::from);
        let explicit_database = var("DATABASE_URL");
        let plaid_env_text = var("PLAID_ENV").unwrap_or_else(|| "sim".into());
        let plaid_env = PlaidEnvironment::parse(&plaid_env_text)
            .ok_or_else(|| ConfigError("PLAID_ENV must be sim, sandbox or production".into()))?;
        let is_sim = plaid_env == PlaidEnvironment::Sim;
        let (client_id, secret) = match (var("PLAID_CLIENT_ID"), var("PLAID_SECRET")) {
            (Some(id), Some(secret)) => (id, secret),
            (None, None) if is_sim => ("sim-client-id".into(), "sim-secret".into()),
            _ => return Err(ConfigError("PLAID_CLIENT_ID and PLAID_SECRET are required outside PLAID_ENV=sim".into())),
        };
        let embedded_default = is_sim && explicit_database.is_none() && var("PLAID_BASE_URL").is_none();
        let database_url = explicit_database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("countersign.db").display()));
        let policy_file = var("COUNTERSIGN_POLICY_FILE").map(PathBuf::from);
        let policy_shadow_file = var("COUNTERSIGN_POLICY_SHADOW_FILE").map(PathBuf::from);
        // An invalid file stops the start here, naming the line and column.
        let policy = match &policy_file {
            Some(path) => read_policy_file(path).map_err(ConfigError)?,
            None => Policy::builtin(
                money_var("COUNTERSIGN_STEP_UP_AMOUNT", "1000.00")?,
                money_var("COUNTERSIGN_TIER3_AMOUNT", "10000.00")?,
                parse_var("COUNTERSIGN_TIER3_APPROVERS", 2)?,
            ),
        };
        refuse_removed_read_settings()?;
        let policy_shadow = policy_shadow_file.as_deref().map(read_policy_file).transpose().map_err(ConfigError)?;
        Ok(Settings {
            bind: parse_var("COUNTERSIGN_BIND", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            database_url,
            data_dir,
            max_connections: parse_var("COUNTERSIGN_DB_MAX_CONNECTIONS", 16)?,
            migrate_on_start: parse_var("COUNTERSIGN_MIGRATE_ON_START", true)?,
            plaid_env,
            plaid_base_url: var("PLAID_BASE_URL"),
            plaid_client_id: client_id,
            plaid_secret: SecretString::from(secret),
            plaid_timeout: Duration::from_secs(parse_var("PLAID_TIMEOUT_SECS", 30)?),
            executing_alert_after: Duration::from_secs(parse_var("COUNTERSIGN_EXECUTING_ALERT_SECS", 900)?),
            master_key: var("COUNTERSIGN_MASTER_KEY").map(SecretString::from),
            authorization_ttl: Duration::from_secs(parse_var("COUNTERSIGN_AUTHORIZATION_TTL_SECS", 3600)?),
            expiry_margin: Duration::from_secs(parse_var("COUNTERSIGN_EXPIRY_MARGIN_SECS", 300)?),
            sweep_interval: Duration::from_millis(parse_var("COUNTERSIGN_SWEEP_INTERVAL_MS", 1000)?),
            event_sync_interval: Duration::from_secs(parse_var("COUNTERSIGN_EVENT_SYNC_SECS", 60)?),
            audit_checkpoint_interval: Duration::from_secs(parse_var("COUNTERSIGN_AUDIT_CHECKPOINT_SECS", 300)?.max(1)),
            audit_anchor_dir,
            pii_retention_days: parse_var("COUNTERSIGN_PII_RETENTION_DAYS", 90)?,
            prune_interval: Duration::from_secs(parse_var("COUNTERSIGN_PRUNE_INTERVAL_SECS", 3600)?.max(1)),
            policy,
            policy_file,
            policy_shadow,
            policy_shadow_file,
            sessions: SessionPolicy {
                idle: Duration::from_secs(parse_var("COUNTERSIGN_SESSION_IDLE_SECS", 900)?),
                absolute: Duration::from_secs(parse_var("COUNTERSIGN_SESSION_ABSOLUTE_SECS", 43_200)?),
                recent_auth: Duration::from_secs(parse_var("COUNTERSIGN_RECENT_AUTH_SECS", 900)?),
                max_failures: parse_var("COUNTERSIGN_MAX_FAILED_ATTEMPTS", 5)?,
                lockout: Duration::from_secs(parse_var("COUNTERSIGN_LOCKOUT_SECS", 900)?),
                throttle_first_delay: Duration::from_millis(parse_var("COUNTERSIGN_THROTTLE_FIRST_DELAY_MS", 1000)?),
                address_max_failures: parse_var("COUNTERSIGN_ADDRESS_MAX_FAILED_ATTEMPTS", 100)?,
                throttle_forget: Duration::from_secs(parse_var("COUNTERSIGN_THROTTLE_FORGET_SECS", 3600)?),
            },
            trust_forwarded_for: parse_var("COUNTERSIGN_TRUST_FORWARDED_FOR", false)?,
            tier3_min_reading: Duration::from_secs(parse_var("COUNTERSIGN_TIER3_MIN_READING_SECS", 20)?),
            seed_demo: embedded_default,
            json_logs: parse_var("COUNTERSIGN_JSON_LOGS", false)?,
            // The embedded default serves plain http on 127.0.0.1, where not every browser keeps
            // `Secure` cookies; everything else defaults to `__Host-` + `Secure`.
            cookie_secure: parse_var("COUNTERSIGN_COOKIE_SECURE", !embedded_default)?,
            outbound: outbound_from_env(embedded_default)?,
        })
    }

    pub fn is_embedded_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}
