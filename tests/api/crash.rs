//! A real `countersign` process killed with SIGKILL while `/transfer/create` is in flight, then
//! started again: exactly one transfer, and the request ends `submitted`.

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
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .expect("countersign starts")
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

async fn killing_the_process_mid_create_still_yields_exactly_one_transfer(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Simulator::new(SimConfig::default()).spawn(([127, 0, 0, 1], 0).into()).await.expect("sim");
    let client = reqwest::Client::new();
    let master_key = MasterKey::generate_base64();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let launch = Launch {
        database_url: database_url(db, dir.path()).await,
        sim_url: sim.base_url(),
        master_key,
        port,
        env: vec![],
    };

    // Operator set-up through the library, on the same database and key the process will use.
    let mut settings = Settings::from_env().expect("settings");
    settings.database_url = launch.database_url.clone();
    settings.plaid_base_url = Some(launch.sim_url.clone());
    settings.master_key = Some(SecretString::from(launch.master_key.clone()));
    let (ctx, _) = countersign::startup::connect(&settings).await.expect("connect");
    let access_token = sandbox_access_token(&client, &launch.sim_url).await;
    let item = registry::add_item(&ctx, &access_token).await.expect("item");
    let accounts = countersign::store::items::accounts(ctx.store.reader(), &item).await.expect("accounts");
    let agent = registry::add_agent(&ctx.store, "crash-agent", "owner", None).await.expect("agent");
    let enrollment = approvers::add_approver(&ctx.store, &ctx.master_key, "alice", "approver", Some(PASSWORD), None)
        .await
        .expect("approver");
    let authenticator = totp_rs::TOTP::from_url(&enrollment.otpauth_uri).expect("otpauth");

    let base = format!("http://127.0.0.1:{port}");
    let mut first = launch.start();
    wait_healthy(&client, &base).await;
    let proposal = proposal(&item, &accounts[0].account_id);
    let post =
        client.post(format!("{base}/v1/transfers")).bearer_auth(&agent.api_key).header("Idempotency-Key", "crash-1");
    let (status, request) = body(post.json(&proposal).send().await.expect("propose")).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let id = request["id"].as_str().expect("id").to_owned();
    let now = crate::helpers::unix_now();
    let sign_in = json!({"username": "alice", "password": PASSWORD, "totp": authenticator.generate(now)});
    let (_, session) =
        body(client.post(format!("{base}/v1/approver/sessions")).json(&sign_in).send().await.expect("sign in")).await;
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

    // Plaid will take 3 s to answer /transfer/create, and does the work after that delay.
    let fault = json!({"endpoint": "/transfer/create", "kind": "delay", "delay_ms": 3000, "times": 1});
    client.post(format!("{}/sim/faults", launch.sim_url)).json(&fault).send().await.expect("fault");
    let approve = client
        .post(format!("{base}/v1/transfers/{id}/approve"))
        .bearer_auth(&session)
        .json(&json!({"approval_token": token}));
    let in_flight = tokio::spawn(approve.send());
    // Kill only once the create has reached Plaid (its fault taken), so it is truly in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let armed: Vec<Value> = client
            .get(format!("{}/sim/faults", launch.sim_url))
            .send()
            .await
            .expect("faults")
            .json()
            .await
            .expect("json");
        if armed.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the create never reached Plaid");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("killed");
    assert!(in_flight.await.expect("join").is_err(), "the approve call died with the process");

    let mut second = launch.start();
    wait_healthy(&client, &base).await;
    let get = || client.get(format!("{base}/v1/transfers/{id}?wait=20")).bearer_auth(&agent.api_key).send();
    let (_, finished) = body(get().await.expect("get")).await;
    assert_eq!(finished["state"], "submitted", "{finished}");
    // Wait for the killed process's delayed create to land too: both calls reach Plaid.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let creates: Vec<Value> = client
            .get(format!("{}/sim/calls?endpoint=/transfer/create", launch.sim_url))
            .send()
            .await
            .expect("calls")
            .json()
            .await
            .expect("json");
        if creates.len() >= 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the delayed create never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let transfers = crate::helpers::transfers_held_by(&launch.sim_url).await;
    assert_eq!(transfers, 1, "exactly one transfer at Plaid");
    second.start_kill().expect("stop");
    let _ = second.wait().await;
}

crate::on_both_backends!(killing_the_process_mid_create_still_yields_exactly_one_transfer);
