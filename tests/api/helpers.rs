//! Test harness: the real application on port 0, a fresh database per test (a new SQLite file or
//! a new PostgreSQL database on `TEST_DATABASE_URL`), and a Plaid simulator over HTTP.

use countersign::config::Settings;
use countersign::crypto::MasterKey;
use countersign::domain::{ItemId, Policy};
use countersign::plaid::sim::{RunningSimulator, SimConfig, Simulator};
use countersign::plaid::PlaidEnvironment;
use countersign::service::{registry, Context};
use countersign::startup::Application;
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn name(db: Db)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Db::Sqlite).await } )+
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Db::Postgres).await } )+
        }
    };
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub ctx: Context,
    _sim: RunningSimulator,
    /// The simulator itself, for what only Plaid could do (sign a webhook).
    pub simulator: Simulator,
    pub sim_url: String,
    pub api_key: String,
    pub item_id: ItemId,
    pub account_id: String,
    pub access_token: String,
    _data_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// What a second replica needs to join the same database.
    settings: Settings,
}

/// Knobs a test may turn before the app starts.
pub struct Options {
    pub sim: SimConfig,
    pub sessions: countersign::auth::SessionPolicy,
    pub authorization_ttl: Duration,
    pub expiry_margin: Duration,
    pub policy: Policy,
    /// Plain-http cookies by default, as on localhost; the web form tests turn it on to see the flags.
    pub cookie_secure: bool,
    /// How long an `executing` request may stay unresolved before it is alerted.
    pub executing_alert_after: Duration,
    /// How often Plaid's transfer events are polled.
    pub event_sync_interval: Duration,
    /// Run the simulator inside the application, as the embedded default does.
    pub embedded_simulator: bool,
    /// How often stale idempotency keys are pruned (wall clock, shared by all replicas).
    pub prune_interval: Duration,
    /// Sign-in throttling keys on `X-Forwarded-For` (as behind a proxy) instead of the peer.
    pub trust_forwarded_for: bool,
    /// A policy file (`COUNTERSIGN_POLICY_FILE`): read at start instead of `policy`, and re-read on reload.
    pub policy_file: Option<std::path::PathBuf>,
    /// A shadow policy file (`COUNTERSIGN_POLICY_SHADOW_FILE`).
    pub policy_shadow_file: Option<std::path::PathBuf>,
    /// Tier 3's minimum reading time (off by default, so tests approve at once).
    pub tier3_min_reading: Duration,
    /// Outbound messages: loopback receivers allowed over http, quick retries, a short poll.
    pub outbound: countersign::notify::Outbound,
}

/// What tests deliver with: receivers on loopback over plain http, retries 50 ms apart (seven of
/// them, as in production), a 2 s timeout, a 50 ms poll.
pub fn test_outbound() -> countersign::notify::Outbound {
    countersign::notify::Outbound {
        policy: countersign::notify::ssrf::DestinationPolicy { allow_private: true, allow_http: true },
        timeout: Duration::from_secs(2),
        backoff: vec![Duration::from_millis(50); 7],
        poll: Duration::from_millis(50),
        ..countersign::notify::Outbound::default()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sim: SimConfig::default(),
            sessions: countersign::auth::SessionPolicy::default(),
            authorization_ttl: Duration::from_secs(3600),
            expiry_margin: Duration::from_secs(300),
            // Today's thresholds without the built-in 24 h anti-splitting window: most tests propose
            // several debits to one account and are about something else. The policy tests
            // (tests/api/policy) run the built-in policy itself.
            policy: Policy::from_toml("label = \"thresholds only\"").expect("an empty policy file is valid"),
            cookie_secure: false,
            executing_alert_after: Duration::from_secs(900),
            event_sync_interval: Duration::from_millis(200),
            embedded_simulator: false,
            prune_interval: Duration::from_secs(3600),
            trust_forwarded_for: false,
            policy_file: None,
            policy_shadow_file: None,
            tier3_min_reading: Duration::ZERO,
            outbound: test_outbound(),
        }
    }
}

pub async fn database_url(db: Db, dir: &std::path::Path) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
        Db::Postgres => {
            use sqlx::Connection;
            let admin = std::env::var("TEST_DATABASE_URL")
                .expect("TEST_DATABASE_URL is not set: run the suite with `bash tests/run`, which starts PostgreSQL");
            let name = format!("cs_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to TEST_DATABASE_URL");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
            let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
            format!("{base}/{name}")
        }
    }
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, Options::default()).await
}

pub async fn spawn_app_with(db: Db, options: Options) -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let simulator = Simulator::new(options.sim);
    let sim = simulator.clone().spawn(([127, 0, 0, 1], 0).into()).await.expect("simulator");
    let mut sim_url = sim.base_url();
    let settings = Settings {
        bind: ([127, 0, 0, 1], 0).into(),
        database_url: database_url(db, data_dir.path()).await,
        data_dir: data_dir.path().to_owned(),
        max_connections: 8,
        migrate_on_start: true,
        plaid_env: PlaidEnvironment::Sim,
        plaid_base_url: (!options.embedded_simulator).then(|| sim_url.clone()),
        plaid_client_id: "sim-client-id".into(),
        plaid_secret: SecretString::from("sim-secret"),
        plaid_timeout: Duration::from_secs(2),
        executing_alert_after: options.executing_alert_after,
        master_key: Some(SecretString::from(MasterKey::generate_base64())),
        authorization_ttl: options.authorization_ttl,
        expiry_margin: options.expiry_margin,
        sweep_interval: Duration::from_millis(100),
        event_sync_interval: options.event_sync_interval,
        audit_checkpoint_interval: Duration::from_secs(300),
        audit_anchor_dir: data_dir.path().to_owned(),
        pii_retention_days: 90,
        policy: match &options.policy_file {
            Some(file) => countersign::config::read_policy_file(file).expect("the test's policy file is valid"),
            None => options.policy,
        },
        policy_shadow: options
            .policy_shadow_file
            .as_deref()
            .map(|file| countersign::config::read_policy_file(file).expect("the test's shadow policy is valid")),
        policy_file: options.policy_file,
        policy_shadow_file: options.policy_shadow_file,
        sessions: options.sessions,
        seed_demo: false,
        json_logs: false,
        cookie_secure: options.cookie_secure,
        prune_interval: options.prune_interval,
        trust_forwarded_for: options.trust_forwarded_for,
        tier3_min_reading: options.tier3_min_reading,
        outbound: options.outbound,
    };
    let app = Application::build(settings.clone()).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let simulator = match app.simulator() {
        Some((embedded, url)) => {
            sim_url = url;
            embedded.clone()
        }
        None => simulator,
    };
    let ctx = app.context().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let access_token = sandbox_access_token(&client, &sim_url).await;
    let item_id = registry::add_item(&ctx, &access_token).await.expect("item registers");
    let accounts = countersign::store::items::accounts(ctx.store.reader(), &item_id).await.expect("accounts");
    let account_id =
        accounts.iter().find(|a| a.subtype.as_deref() == Some("checking")).expect("checking").account_id.clone();
    let agent = registry::add_agent(&ctx.store, "test-agent", "agent-owner", None).await.expect("agent");
    TestApp {
        address,
        client,
        ctx,
        _sim: sim,
        simulator,
        sim_url,
        api_key: agent.api_key,
        item_id,
        account_id,
        access_token,
        _data_dir: data_dir,
        stop: Some(stop),
        server: Some(server),
        settings,
    }
}

/// Creates an item at the simulator the way an operator would with Plaid's sandbox.
pub async fn sandbox_access_token(client: &reqwest::Client, sim_url: &str) -> String {
    let public: Value = client
        .post(format!("{sim_url}/sandbox/public_token/create"))
        .json(&json!({"client_id": "sim-client-id", "secret": "sim-secret", "institution_id": "ins_109508", "initial_products": ["transfer"]}))
        .send()
        .await
        .expect("public token")
        .json()
        .await
        .expect("json");
    let exchanged: Value = client
        .post(format!("{sim_url}/item/public_token/exchange"))
        .json(&json!({"client_id": "sim-client-id", "secret": "sim-secret", "public_token": public["public_token"]}))
        .send()
        .await
        .expect("exchange")
        .json()
        .await
        .expect("json");
    exchanged["access_token"].as_str().expect("access token").to_owned()
}

/// Another service process's worth of application on the same database and simulator.
pub struct Replica {
    pub address: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}

impl TestApp {
    /// Starts a second replica sharing this app's database, master key and simulator.
    pub async fn spawn_replica(&self) -> Replica {
        let app = Application::build(self.settings.clone()).await.expect("replica builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Replica { address, stop, server }
    }

    /// Stops this app's server and starts it again on the same database and simulator with
    /// `change` applied to its settings — a restart, say, with a wrong Plaid secret.
    pub async fn restart_with(&mut self, change: impl FnOnce(&mut Settings)) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        change(&mut self.settings);
        let app = Application::build(self.settings.clone()).await.expect("app restarts");
        self.address = format!("http://127.0.0.1:{}", app.port());
        self.ctx = app.context().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.server = Some(tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        })));
        self.stop = Some(stop);
    }

    /// The database this app (and its replicas) use, for the command line to join.
    pub fn database_url(&self) -> &str {
        &self.settings.database_url
    }

    /// The value of one sample on `/metrics` (the whole line's name and labels as written there).
    /// The team notices written to the outbox (tier-1 executions, sensitive reads, flags), in order.
    pub async fn team_notices(&self) -> Vec<String> {
        let payloads: Vec<String> =
            sqlx::query_scalar("SELECT payload FROM outbox WHERE channel = 'fan_out' ORDER BY created_at")
                .fetch_all(self.ctx.store.reader())
                .await
                .expect("outbox");
        payloads
            .iter()
            .filter_map(|p| serde_json::from_str::<Value>(p).ok()?["notice"].as_str().map(str::to_owned))
            .collect()
    }

    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let text = self.client.get(format!("{}/metrics", self.address)).send().await.ok()?.text().await.ok()?;
        text.lines().find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// A valid proposal body for this app's item; tests change fields from here.
    pub fn proposal(&self, amount: &str) -> Value {
        json!({
            "item_id": self.item_id.to_string(),
            "account_id": self.account_id,
            "type": "debit",
            "network": "ach",
            "ach_class": "web",
            "amount": amount,
            "description": "Invoice 42",
            "user": {"legal_name": "Ada Lovelace"},
            "thread_id": "thread-7",
            "reason": "collect invoice 42",
        })
    }

    pub async fn propose_with(&self, api_key: &str, key: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}/v1/transfers", self.address))
            .bearer_auth(api_key)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn propose(&self, body: &Value) -> Response {
        self.propose_with(&self.api_key, &uuid::Uuid::new_v4().to_string(), body).await
    }

    /// Proposes and returns the created request, asserting 201.
    pub async fn propose_ok(&self, amount: &str) -> Value {
        let response = self.propose(&self.proposal(amount)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("json")
    }

    pub async fn get_request(&self, id: &str, wait: Option<u64>) -> Response {
        let mut url = format!("{}/v1/transfers/{id}", self.address);
        if let Some(wait) = wait {
            url.push_str(&format!("?wait={wait}"));
        }
        self.client.get(url).bearer_auth(&self.api_key).send().await.expect("request sent")
    }

    pub async fn cancel(&self, id: &str, key: &str) -> Response {
        self.client
            .post(format!("{}/v1/transfers/{id}/cancel", self.address))
            .bearer_auth(&self.api_key)
            .header("Idempotency-Key", key)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn new_agent(&self, name: &str, items: Option<&[ItemId]>) -> String {
        registry::add_agent(&self.ctx.store, name, "owner", items).await.expect("agent").api_key
    }

    /// What the simulator received, optionally for one endpoint.
    pub async fn sim_calls(&self, endpoint: &str) -> Vec<Value> {
        let calls: Vec<Value> = self
            .client
            .get(format!("{}/sim/calls", self.sim_url))
            .query(&[("endpoint", endpoint)])
            .send()
            .await
            .expect("sim calls")
            .json()
            .await
            .expect("json");
        calls
    }

    pub async fn sim_post(&self, path: &str, body: Value) -> Value {
        let response = self.client.post(format!("{}{path}", self.sim_url)).json(&body).send().await.expect("sim");
        response.json().await.unwrap_or(Value::Null)
    }

    pub async fn set_balance(&self, available: &str) {
        self.sim_post("/sim/accounts/balance", json!({"account_id": self.account_id, "available": available})).await;
    }

    /// Every audit row, in order: everything committed so far, chained first.
    pub async fn audit_rows(&self) -> Vec<countersign::store::audit::AuditRow> {
        countersign::audit::settle(&self.ctx.store).await.expect("chain queued audit records");
        countersign::store::audit::page(self.ctx.store.reader(), 0, 1_000_000).await.expect("audit rows")
    }

    pub async fn audit_events_for(&self, request_id: &str) -> Vec<String> {
        self.audit_rows()
            .await
            .into_iter()
            .filter(|r| r.fields.transfer_request_id.as_deref() == Some(request_id))
            .map(|r| r.fields.event_type)
            .collect()
    }

    /// Polls until `check` holds or the deadline passes; never sleeps a fixed time to wait for state.
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !check().await {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops this instance and starts a new one on the same database, simulator and settings, as
    /// an operator's restart would (a new port).
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await;
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

pub async fn body(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let value = response.json().await.unwrap_or(Value::Null);
    (status, value)
}

/// The error code of an error response, asserting the documented shape.
pub fn error_code(value: &Value) -> &str {
    let error = &value["error"];
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "error has a message: {value}");
    assert!(error["request_id"].as_str().is_some(), "error has a request id: {value}");
    error["code"].as_str().unwrap_or("<no code>")
}

/// A person with a password and an authenticator app (totp-rs, fed the enrollment secret).
pub struct TestApprover {
    pub id: String,
    pub username: String,
    pub password: String,
    authenticator: totp_rs::TOTP,
    last_step: std::sync::Mutex<u64>,
}

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApprover {
    /// A code for a step this approver has not used yet, as a person would wait for the next
    /// code: prefers the current step (still valid if a step boundary passes before the server
    /// checks it), then the next one; otherwise waits for the clock.
    pub async fn next_code(&self) -> String {
        loop {
            let now = unix_now();
            let current = now / 30;
            let step = {
                let mut last = self.last_step.lock().expect("lock");
                let step = (*last + 1).max(current);
                if step <= current + 1 {
                    *last = step;
                    Some(step)
                } else {
                    None
                }
            };
            match step {
                Some(step) => return self.authenticator.generate(step * 30),
                None => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// A code for a step already used (to prove replays are refused).
    pub fn last_code(&self) -> String {
        let last = *self.last_step.lock().expect("lock");
        self.authenticator.generate(last * 30)
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl TestApp {
    pub async fn add_approver(&self, username: &str, role: &str, items: Option<&[ItemId]>) -> TestApprover {
        let enrollment = countersign::service::approvers::add_approver(
            &self.ctx.store,
            &self.ctx.master_key,
            username,
            role,
            Some(PASSWORD),
            items,
        )
        .await
        .expect("approver");
        let authenticator = totp_rs::TOTP::from_url(&enrollment.otpauth_uri).expect("otpauth URI parses");
        TestApprover {
            id: enrollment.id.to_string(),
            username: username.to_owned(),
            password: PASSWORD.to_owned(),
            authenticator,
            last_step: std::sync::Mutex::new(0),
        }
    }

    pub async fn sign_in_response(&self, approver: &TestApprover, password: &str, code: &str) -> Response {
        self.client
            .post(format!("{}/v1/approver/sessions", self.address))
            .json(&json!({"username": approver.username, "password": password, "totp": code}))
            .send()
            .await
            .expect("sent")
    }

    /// Signs in and returns the session token.
    pub async fn sign_in(&self, approver: &TestApprover) -> String {
        let code = approver.next_code().await;
        let (status, value) = body(self.sign_in_response(approver, &approver.password, &code).await).await;
        assert_eq!(status, StatusCode::CREATED, "{value}");
        value["token"].as_str().expect("token").to_owned()
    }

    pub async fn approver_post(&self, session: &str, path: &str, payload: Value) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(session)
            .json(&payload)
            .send()
            .await
            .expect("sent")
    }

    pub async fn request_token(&self, session: &str, id: &str, hash: &str, code: Option<String>) -> Response {
        let mut payload = json!({"payload_hash": hash});
        if let Some(code) = code {
            payload["totp"] = code.into();
        }
        self.approver_post(session, &format!("/v1/transfers/{id}/approval-token"), payload).await
    }

    /// Gets an approval token for `request` (with a fresh code when step-up applies).
    pub async fn token_for(&self, approver: &TestApprover, session: &str, request: &Value) -> String {
        let code = if request["step_up_required"] == true { Some(approver.next_code().await) } else { None };
        let id = request["id"].as_str().expect("id");
        let hash = request["payload_hash"].as_str().expect("hash");
        let (status, value) = body(self.request_token(session, id, hash, code).await).await;
        assert_eq!(status, StatusCode::CREATED, "{value}");
        value["approval_token"].as_str().expect("token").to_owned()
    }

    pub async fn approve(&self, session: &str, id: &str, token: &str) -> Response {
        self.approver_post(session, &format!("/v1/transfers/{id}/approve"), json!({"approval_token": token})).await
    }

    /// Signs in, gets a token and approves; returns the approve response body.
    pub async fn approve_as(&self, approver: &TestApprover, request: &Value) -> (StatusCode, Value) {
        let session = self.sign_in(approver).await;
        let token = self.token_for(approver, &session, request).await;
        body(self.approve(&session, request["id"].as_str().expect("id"), &token).await).await
    }

    /// How many transfers the simulator made: its `pending` events, one per new transfer.
    pub async fn transfers_at_plaid(&self) -> usize {
        transfers_held_by(&self.sim_url).await
    }
}

/// How many transfers the simulator at `sim_url` made: its `pending` events, one per transfer.
pub async fn transfers_held_by(sim_url: &str) -> usize {
    let events: Value = reqwest::Client::new()
        .post(format!("{sim_url}/transfer/event/sync"))
        .json(&json!({"client_id": "sim-client-id", "secret": "sim-secret", "after_id": 0, "count": 500}))
        .send()
        .await
        .expect("sync")
        .json()
        .await
        .expect("json");
    events["transfer_events"].as_array().map_or(0, |e| e.iter().filter(|e| e["event_type"] == "pending").count())
}

/// What `Settings::from_env` gives with nothing set, but with the data directory in `dir`: SQLite
/// there, the Plaid simulator in-process, the master key generated into a file, the demo seeded.
pub fn embedded_settings(dir: &std::path::Path) -> Settings {
    Settings {
        bind: ([127, 0, 0, 1], 0).into(),
        database_url: format!("sqlite://{}?mode=rwc", dir.join("countersign.db").display()),
        data_dir: dir.to_owned(),
        max_connections: 4,
        migrate_on_start: true,
        plaid_env: PlaidEnvironment::Sim,
        plaid_base_url: None,
        plaid_client_id: "sim-client-id".into(),
        plaid_secret: SecretString::from("sim-secret"),
        plaid_timeout: Duration::from_secs(2),
        master_key: None,
        authorization_ttl: Duration::from_secs(3600),
        expiry_margin: Duration::from_secs(300),
        sweep_interval: Duration::from_millis(100),
        audit_checkpoint_interval: Duration::from_secs(300),
        pii_retention_days: 90,
        policy: Policy::default(),
        sessions: countersign::auth::SessionPolicy::default(),
        seed_demo: true,
        json_logs: false,
        cookie_secure: false,
        prune_interval: Duration::from_secs(3600),
        executing_alert_after: Duration::from_secs(900),
        event_sync_interval: Duration::from_secs(60),
        audit_anchor_dir: dir.to_owned(),
        trust_forwarded_for: false,
        policy_file: None,
        policy_shadow: None,
        policy_shadow_file: None,
        tier3_min_reading: Duration::ZERO,
        outbound: countersign::notify::Outbound {
            team_channel: Some(countersign::notify::alerts::Channel::Console),
            ..countersign::notify::Outbound::default()
        },
    }
}

/// The embedded default as `countersign serve` runs it: built, demo seeded, serving.
pub struct EmbeddedApp {
    pub address: String,
    /// The in-process simulator's address.
    pub sim_url: String,
    pub ctx: Context,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl EmbeddedApp {
    pub async fn start(dir: &std::path::Path) -> EmbeddedApp {
        let app = Application::build(embedded_settings(dir)).await.expect("embedded default builds");
        countersign::demo::seed(app.context(), dir, app.port()).await.expect("demo seeds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let sim_url = app.simulator_url().expect("the embedded default runs its simulator");
        let ctx = app.context().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        EmbeddedApp { address, sim_url, ctx, stop, server }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.server.await.expect("server task") {
            panic!("server failed: {e:#}");
        }
    }

    pub fn demo_api_key(&self, dir: &std::path::Path) -> String {
        std::fs::read_to_string(dir.join("demo-agent.key")).expect("demo agent key").trim().to_owned()
    }

    /// Proposes `amount` as the demo agent, on the demo item's first account.
    pub async fn propose_demo(&self, dir: &std::path::Path, amount: &str) -> Response {
        let items = countersign::store::items::all(self.ctx.store.reader()).await.expect("items");
        let item = items.first().expect("the demo item");
        let accounts = countersign::store::items::accounts(self.ctx.store.reader(), &item.id).await.expect("accounts");
        let account = &accounts.first().expect("an account").account_id;
        let proposal = json!({
            "item_id": item.id.to_string(), "account_id": account, "type": "debit", "network": "ach",
            "ach_class": "web", "amount": amount, "description": "Invoice 42",
            "user": {"legal_name": "Ada Lovelace"}, "thread_id": "demo-thread", "reason": "collect invoice 42",
        });
        reqwest::Client::new()
            .post(format!("{}/v1/transfers", self.address))
            .bearer_auth(self.demo_api_key(dir))
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&proposal)
            .send()
            .await
            .expect("proposal sent")
    }
}

impl TestApprover {
    /// A six-digit code that is not valid for any step the server would accept now (±1 step,
    /// with a step of margin for the clock moving while the request is in flight).
    pub fn wrong_code(&self) -> String {
        let now = unix_now();
        let valid: Vec<String> = (0..=4).map(|i| self.authenticator.generate(now + i * 30 - 60)).collect();
        (0..).map(|n: u32| format!("{n:06}")).find(|code| !valid.contains(code)).unwrap_or_default()
    }
}

impl TestApp {
    /// `POST /v1/approver/sessions` with any username (known or not) to any replica.
    pub async fn sign_in_as(&self, address: &str, username: &str, password: &str, code: &str) -> Response {
        self.client
            .post(format!("{address}/v1/approver/sessions"))
            .json(&json!({"username": username, "password": password, "totp": code}))
            .send()
            .await
            .expect("sent")
    }
}

impl TestApp {
    /// Runs a `countersign …` command in-process against this app's database, as an operator would.
    pub async fn run_cli(&self, args: &[&str]) -> anyhow::Result<()> {
        use clap::Parser;
        let cli = countersign::cli::Cli::try_parse_from(std::iter::once("countersign").chain(args.iter().copied()))?;
        countersign::cli::run(cli, self.settings.clone()).await
    }
}
