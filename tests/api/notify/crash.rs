//! A real `countersign` process killed with SIGKILL while it sends a callback (the receiver holds
//! the request), then started again: the message is delivered after its lease lapses, with the
//! same `webhook-id` — the one duplicate at-least-once delivery allows, after a crash mid-send.

use super::receiver::{Answer, Receiver};
use crate::crash::{proposal, wait_healthy, Launch};
use crate::helpers::{body, database_url, sandbox_access_token, test_outbound, Db};
use countersign::config::Settings;
use countersign::crypto::MasterKey;
use countersign::plaid::sim::{SimConfig, Simulator};
use countersign::service::{outbound, registry};
use reqwest::StatusCode;
use secrecy::SecretString;
use std::time::Duration;

async fn killing_the_process_mid_send_delivers_the_message_after_restart_with_the_same_id(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Simulator::new(SimConfig::default()).spawn(([127, 0, 0, 1], 0).into()).await.expect("sim");
    let client = reqwest::Client::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let env = vec![
        ("COUNTERSIGN_OUTBOUND_ALLOW_PRIVATE", "true".to_owned()),
        ("COUNTERSIGN_OUTBOUND_ALLOW_HTTP", "true".to_owned()),
        ("COUNTERSIGN_OUTBOUND_TIMEOUT_SECS", "2".to_owned()),
        ("COUNTERSIGN_OUTBOX_POLL_MS", "50".to_owned()),
        ("COUNTERSIGN_OUTBOX_BACKOFF", "50ms,50ms,50ms".to_owned()),
    ];
    let launch = Launch {
        database_url: database_url(db, dir.path()).await,
        sim_url: sim.base_url(),
        master_key: MasterKey::generate_base64(),
        port,
        env,
    };
    let mut settings = Settings::from_env().expect("settings");
    settings.database_url = launch.database_url.clone();
    settings.plaid_base_url = Some(launch.sim_url.clone());
    settings.master_key = Some(SecretString::from(launch.master_key.clone()));
    let (mut ctx, _) = countersign::startup::connect(&settings).await.expect("connect");
    ctx.outbound = std::sync::Arc::new(test_outbound());
    let access_token = sandbox_access_token(&client, &launch.sim_url).await;
    let item = registry::add_item(&ctx, &access_token).await.expect("item");
    let accounts = countersign::store::items::accounts(ctx.store.reader(), &item).await.expect("accounts");
    let agent = registry::add_agent(&ctx.store, "crash-agent", "owner", None).await.expect("agent");
    let receiver = Receiver::start().await;
    outbound::set_callback(&ctx, "crash-agent", Some(&receiver.url)).await.expect("callback");
    receiver.answer(&[Answer::Hang]);

    let base = format!("http://127.0.0.1:{port}");
    let mut first = launch.start();
    wait_healthy(&client, &base).await;
    let proposal = proposal(&item, &accounts[0].account_id);
    let post = client.post(format!("{base}/v1/transfers")).bearer_auth(&agent.api_key).header("Idempotency-Key", "c1");
    let (status, request) = body(post.json(&proposal).send().await.expect("propose")).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    poll("the callback is in flight", || receiver.hits().len() == 1).await;
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("killed");

    let mut second = launch.start();
    wait_healthy(&client, &base).await;
    poll("delivered again after the lease lapsed", || receiver.hits().len() == 2).await;
    let hits = receiver.hits();
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"), "the same id: receivers deduplicate");
    assert_eq!(hits[0].body, hits[1].body);
    // The receiver has answered; the worker records the delivery just after, so wait for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stored = countersign::store::outbox::list(ctx.store.reader(), Some("delivered"), 10).await.expect("list");
        if stored.iter().any(|m| m.channel == "agent_callback" && Some(m.id.as_str()) == hits[0].header("webhook-id")) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the delivery is never recorded: {stored:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.start_kill().expect("stop");
    let _ = second.wait().await;
}

/// Polls `check` for up to 30 s (a lease has to lapse: twice the 2 s timeout plus 2 s).
async fn poll(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

crate::on_both_backends!(killing_the_process_mid_send_delivers_the_message_after_restart_with_the_same_id);
