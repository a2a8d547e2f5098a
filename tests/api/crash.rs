//! A real `countersign` process killed with SIGKILL while `/transfer/create` is in flight, or while
//! it syncs Plaid's transfer events, then started again: exactly one transfer, the request ends
//! `submitted`, and every event is stored and acted on once.

use crate::helpers::{body, database_url, sandbox_access_token, Db, PASSWORD};
use countersign::config::Settings;
use countersign::crypto::MasterKey;
use countersign::plaid::sim::{SimConfig, Simulator};
use countersign::service::{approvers, registry};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::process::{Child, Command};

pub(crate) struct Launch {
    pub(crate) database_url: String,
    pub(crate) sim_url: String,
    pub(crate) master_key: String,
    pub(crate) port: u16,
    /// More settings for the process (e.g. the notify tests' outbound ones).
    pub(crate) env: Vec<(&'static str, String)>,
}

impl Launch {
    pub(crate) fn start(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_countersign"))
            .envs(self.env.iter().map(|(name, value)| (*name, value.as_str())))
            .arg("serve")
            .env("DATABASE_URL", &self.database_url)
            .env("PLAID_ENV", "sim")
            .env("PLAID_BASE_URL", &self.sim_url)
            .env("PLAID_CLIENT_ID", "sim-client-id")
            .env("PLAID_SECRET", "sim-secret")
            .env("PLAID_TIMEOUT_SECS", "1")
            .env("COUNTERSIGN_MASTER_KEY", &self.master_key)
            .env("COUNTERSIGN_BIND", format!("127.0.0.1:{}", self.port))
            .env("COUNTERSIGN_SWEEP_INTERVAL_MS", "100")
            .env("COUNTERSIGN_EVENT_SYNC_SECS", "1")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .expect("countersign starts")
    }
}

pub(crate) async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "countersign did not become healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A $75.00 debit on `item`'s `account`.
pub(crate) fn proposal(item: &countersign::domain::ItemId, account: &str) -> Value {
    json!({
        "item_id": item.to_string(), "account_id": account, "type": "debit", "network": "ach",
        "ach_class": "web", "amount": "75.00", "description": "Invoice 9", "user": {"legal_name": "Ada Lovelace"},
        "thread_id": "crash", "reason": "crash test",
    })
}

/// A database, a simulator and the operator's set-up (item, agent, approver), done through the
/// library on the database and key the process will use; and one request proposed and a session
/// and approval token for it, through the process.
struct World {
    _dir: tempfile::TempDir,
    _sim: countersign::plaid::sim::RunningSimulator,
    client: reqwest::Client,
    launch: Launch,
    ctx: countersign::service::Context,
    agent_key: String,
    base: String,
}

struct Ready {
    id: String,
    session: String,
    token: String,
}

impl World {
    async fn new(db: Db) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = Simulator::new(SimConfig::default()).spawn(([127, 0, 0, 1], 0).into()).await.expect("sim");
        let master_key = MasterKey::generate_base64();
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let database_url = database_url(db, dir.path()).await;
        let launch = Launch { database_url, sim_url: sim.base_url(), master_key, port, env: vec![] };
        let mut settings = Settings::from_env().expect("settings");
        settings.database_url = launch.database_url.clone();
        settings.plaid_base_url = Some(launch.sim_url.clone());
        settings.master_key = Some(SecretString::from(launch.master_key.clone()));
        let (ctx, _) = countersign::startup::connect(&settings).await.expect("connect");
        let agent = registry::add_agent(&ctx.store, "crash-agent", "owner", None).await.expect("agent");
        let base = format!("http://127.0.0.1:{port}");
        World { _dir: dir, _sim: sim, client: reqwest::Client::new(), launch, ctx, agent_key: agent.api_key, base }
    }

    /// Proposes a $75.00 debit and gets alice's session and approval token for it.
    async fn ready_to_approve(&self) -> Ready {
        let (client, base) = (&self.client, &self.base);
        let access_token = sandbox_access_token(client, &self.launch.sim_url).await;
        let item = registry::add_item(&self.ctx, &access_token).await.expect("item");
        let accounts = countersign::store::items::accounts(self.ctx.store.reader(), &item).await.expect("accounts");
        let enrollment =
            approvers::add_approver(&self.ctx.store, &self.ctx.master_key, "alice", "approver", Some(PASSWORD), None)
                .await
                .expect("approver");
        let authenticator = totp_rs::TOTP::from_url(&enrollment.otpauth_uri).expect("otpauth");
        let proposal = proposal(&item, &accounts[0].account_id);
        let post = client
            .post(format!("{base}/v1/transfers"))
            .bearer_auth(&self.agent_key)
            .header("Idempotency-Key", "crash-1");
        let (status, request) = body(post.json(&proposal).send().await.expect("propose")).await;
        assert_eq!(status, StatusCode::CREATED, "{request}");
        let id = request["id"].as_str().expect("id").to_owned();
        let now = crate::helpers::unix_now();
        let sign_in = json!({"username": "alice", "password": PASSWORD, "totp": authenticator.generate(now)});
        let (_, session) =
            body(client.post(format!("{base}/v1/approver/sessions")).json(&sign_in).send().await.expect("sign in"))
                .await;
        let session = session["token"].as_str().expect("session").to_owned();
        let grant = json!({"payload_hash": request["payload_hash"]});
        let (_, token) = body(
            client
                .post(format!("{base}/v1/transfers/{id}/approval-token"))
                .bearer_auth(&session)
                .json(&grant)
                .send()
                .await
                .expect("token"),
        )
        .await;
        let token = token["approval_token"].as_str().expect("approval token").to_owned();
        Ready { id, session, token }
    }

    fn approve(&self, ready: &Ready) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/v1/transfers/{}/approve", self.base, ready.id))
            .bearer_auth(&ready.session)
            .json(&json!({"approval_token": ready.token}))
    }

    async fn view(&self, id: &str, wait: u64) -> Value {
        let url = format!("{}/v1/transfers/{id}?wait={wait}", self.base);
        body(self.client.get(url).bearer_auth(&self.agent_key).send().await.expect("get")).await.1
    }

    async fn arm(&self, fault: Value) {
        self.client.post(format!("{}/sim/faults", self.launch.sim_url)).json(&fault).send().await.expect("fault");
    }

    /// Waits until every armed fault was taken: the call it delays is in flight.
    async fn faults_taken(&self, what: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let url = format!("{}/sim/faults", self.launch.sim_url);
            let armed: Vec<Value> = self.client.get(url).send().await.expect("faults").json().await.expect("json");
            if armed.is_empty() {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what} never reached Plaid");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn start(&self) -> Child {
        let child = self.launch.start();
        wait_healthy(&self.client, &self.base).await;
        child
    }
}

/// An approver of the crash world: signs in through the process and gets approval tokens, with a
/// fresh TOTP code for each (the sign-in's step, then the next).
struct CrashApprover {
    username: &'static str,
    authenticator: totp_rs::TOTP,
}

impl CrashApprover {
    async fn add(world: &World, username: &'static str) -> CrashApprover {
        let enrollment = approvers::add_approver(
            &world.ctx.store,
            &world.ctx.master_key,
            username,
            "approver",
            Some(PASSWORD),
            None,
        )
        .await
        .expect("approver");
        CrashApprover { username, authenticator: totp_rs::TOTP::from_url(&enrollment.otpauth_uri).expect("otpauth") }
    }

    /// Signs in and gets a step-up approval token for `request`: (session, token).
    async fn ready(&self, world: &World, request: &Value) -> (String, String) {
        let step = crate::helpers::unix_now() / 30;
        let sign_in =
            json!({"username": self.username, "password": PASSWORD, "totp": self.authenticator.generate(step * 30)});
        let url = format!("{}/v1/approver/sessions", world.base);
        let (_, session) = body(world.client.post(url).json(&sign_in).send().await.expect("sign in")).await;
        let session = session["token"].as_str().expect("session").to_owned();
        let grant =
            json!({"payload_hash": request["payload_hash"], "totp": self.authenticator.generate((step + 1) * 30)});
        let url = format!("{}/v1/transfers/{}/approval-token", world.base, request["id"].as_str().expect("id"));
        let (status, token) =
            body(world.client.post(url).bearer_auth(&session).json(&grant).send().await.expect("token")).await;
        assert_eq!(status, StatusCode::CREATED, "{token}");
        (session, token["approval_token"].as_str().expect("approval token").to_owned())
    }
}

/// Killed between the quorum's claim and Plaid's answer to `/transfer/recurring/create`, then
/// started again: the reconciler creates again with the key stored at proposal, and Plaid holds
/// exactly one recurring transfer.
async fn killing_the_process_mid_recurring_create_still_yields_one_recurring_transfer(db: Db) {
    let world = World::new(db).await;
    let first = world.start().await;
    let access_token = sandbox_access_token(&world.client, &world.launch.sim_url).await;
    let item = registry::add_item(&world.ctx, &access_token).await.expect("item");
    let accounts = countersign::store::items::accounts(world.ctx.store.reader(), &item).await.expect("accounts");
    let mut proposal = proposal(&item, &accounts[0].account_id);
    proposal["schedule"] = json!({"interval_unit": "week", "interval_count": 1, "interval_execution_day": 5,
        "start_date": "2027-01-01", "end_date": "2027-03-31"});
    let post = world
        .client
        .post(format!("{}/v1/transfers", world.base))
        .bearer_auth(&world.agent_key)
        .header("Idempotency-Key", "crash-recurring");
    let (status, request) = body(post.json(&proposal).send().await.expect("propose")).await;
    assert_eq!((status, request["approvals_required"].as_i64()), (StatusCode::CREATED, Some(2)), "{request}");
    let id = request["id"].as_str().expect("id").to_owned();
    let approve = |session: &str, token: &str| {
        world
            .client
            .post(format!("{}/v1/transfers/{id}/approve", world.base))
            .bearer_auth(session)
            .json(&json!({"approval_token": token}))
    };
    let alice = CrashApprover::add(&world, "alice").await;
    let bob = CrashApprover::add(&world, "bob").await;
    let (session, token) = alice.ready(&world, &request).await;
    let (status, waiting) = body(approve(&session, &token).send().await.expect("approve")).await;
    assert_eq!((status, waiting["state"].as_str()), (StatusCode::OK, Some("pending_approval")), "{waiting}");

    let (session, token) = bob.ready(&world, &request).await;
    world.arm(json!({"endpoint": "/transfer/recurring/create", "kind": "delay", "delay_ms": 3000, "times": 1})).await;
    let in_flight = tokio::spawn(approve(&session, &token).send());
    world.faults_taken("the recurring create").await;
    kill(first).await;
    assert!(in_flight.await.expect("join").is_err(), "the approve call died with the process");

    let second = world.start().await;
    let finished = world.view(&id, 20).await;
    assert_eq!(finished["state"], "submitted", "{finished}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let creates = || async {
        let url = format!("{}/sim/calls?endpoint=/transfer/recurring/create", world.launch.sim_url);
        let calls: Vec<Value> = world.client.get(url).send().await.expect("calls").json().await.expect("json");
        calls.len()
    };
    while creates().await < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the delayed create never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let list = json!({"client_id": "sim-client-id", "secret": "sim-secret", "count": 25, "offset": 0});
    let url = format!("{}/transfer/recurring/list", world.launch.sim_url);
    let (_, listed) = body(world.client.post(url).json(&list).send().await.expect("list")).await;
    let held = listed["recurring_transfers"].as_array().map_or(0, Vec::len);
    assert_eq!(held, 1, "exactly one recurring transfer at Plaid: {listed}");
    assert_eq!(
        finished["recurring"]["recurring_transfer_id"],
        listed["recurring_transfers"][0]["recurring_transfer_id"]
    );
    kill(second).await;
}

async fn kill(mut child: Child) {
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
}

async fn killing_the_process_mid_create_still_yields_exactly_one_transfer(db: Db) {
    let world = World::new(db).await;
    let first = world.start().await;
    let ready = world.ready_to_approve().await;
    // Plaid will take 3 s to answer /transfer/create, and does the work after that delay.
    world.arm(json!({"endpoint": "/transfer/create", "kind": "delay", "delay_ms": 3000, "times": 1})).await;
    let in_flight = tokio::spawn(world.approve(&ready).send());
    // Kill only once the create has reached Plaid (its fault taken), so it is truly in flight.
    world.faults_taken("the create").await;
    kill(first).await;
    assert!(in_flight.await.expect("join").is_err(), "the approve call died with the process");

    let second = world.start().await;
    let finished = world.view(&ready.id, 20).await;
    assert_eq!(finished["state"], "submitted", "{finished}");
    // Wait for the killed process's delayed create to land too: both calls reach Plaid.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let creates = || async {
        let url = format!("{}/sim/calls?endpoint=/transfer/create", world.launch.sim_url);
        let calls: Vec<Value> = world.client.get(url).send().await.expect("calls").json().await.expect("json");
        calls.len()
    };
    while creates().await < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the delayed create never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let transfers = crate::helpers::transfers_held_by(&world.launch.sim_url).await;
    assert_eq!(transfers, 1, "exactly one transfer at Plaid");
    kill(second).await;
}

/// Killed while its event sync holds the lease and waits for Plaid: after a restart (once the dead
/// process's lease lapsed) every event is stored once and each status change happens once.
async fn killing_the_process_mid_sync_loses_and_doubles_nothing(db: Db) {
    let world = World::new(db).await;
    let first = world.start().await;
    let ready = world.ready_to_approve().await;
    let (status, done) = body(world.approve(&ready).send().await.expect("approve")).await;
    assert_eq!((status, done["state"].as_str()), (StatusCode::OK, Some("submitted")), "{done}");
    let transfer_id = done["transfer_id"].as_str().expect("transfer id").to_owned();

    let stored = || async {
        let count = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM transfer_events");
        count.fetch_one(world.ctx.store.reader()).await.expect("count")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while stored().await < 1 {
        assert!(tokio::time::Instant::now() < deadline, "the `pending` event never synced");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The next sync waits 3 s at Plaid, then reads what exists by then: both steps.
    world.arm(json!({"endpoint": "/transfer/event/sync", "kind": "delay", "delay_ms": 3000, "times": 1})).await;
    world.faults_taken("the sync").await;
    for step in ["posted", "settled"] {
        let simulate = json!({"client_id": "sim-client-id", "secret": "sim-secret",
            "transfer_id": transfer_id, "event_type": step});
        let url = format!("{}/sandbox/transfer/simulate", world.launch.sim_url);
        world.client.post(url).json(&simulate).send().await.expect("simulate");
    }
    kill(first).await;
    assert_eq!(stored().await, 1, "killed before the sync stored what it was reading (only `pending` is in)");

    let second = world.start().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if world.view(&ready.id, 5).await["transfer_status"] == "settled" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never synced after the restart");
    }
    let reader = world.ctx.store.reader();
    assert_eq!(stored().await, 3, "pending, posted, settled: each once");
    countersign::audit::chain::settle(&world.ctx.store).await.expect("chain what is queued");
    let trail = countersign::store::audit::for_request(reader, &ready.id).await.expect("trail");
    for step in ["transfer.posted", "transfer.settled"] {
        assert_eq!(trail.iter().filter(|r| r.fields.event_type == step).count(), 1, "{step} once");
    }
    kill(second).await;
}

crate::on_both_backends!(
    killing_the_process_mid_recurring_create_still_yields_one_recurring_transfer,
    killing_the_process_mid_create_still_yields_exactly_one_transfer,
    killing_the_process_mid_sync_loses_and_doubles_nothing,
);
