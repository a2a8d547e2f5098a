use std::time::Duration;

use countersign::plaid::sim::SimConfig;
use serde_json::json;

use super::helpers::TestSim;

#[tokio::test]
async fn create_twice_with_one_authorization_returns_the_same_transfer() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let authorization_id = sim.approved_authorization(&item, "25.00").await;

    let first = sim.create_transfer(&item, &authorization_id).await;
    let second = sim.create_transfer(&item, &authorization_id).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["transfer"]["id"], second.body["transfer"]["id"]);
    assert_eq!(first.body["transfer"]["status"], "pending");
    assert_eq!(first.body["transfer"]["amount"], "25.00");

    let events = sim.events().await;
    let pending: Vec<_> = events.iter().filter(|e| e["event_type"] == "pending").collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["transfer_id"], first.body["transfer"]["id"]);
}

#[tokio::test]
async fn declined_authorization_cannot_create_a_transfer() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let declined = sim.authorize(&item, "debit", "90000.00").await;
    assert_eq!(declined.body["authorization"]["decision"], "declined");
    let id = declined.body["authorization"]["id"].as_str().unwrap();
    let answer = sim.create_transfer(&item, id).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["error_type"], "INVALID_REQUEST");
    assert_eq!(answer.error_code(), "INVALID_FIELD");
}

#[tokio::test]
async fn cancelled_authorization_cannot_create_a_transfer() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let id = sim.approved_authorization(&item, "10.00").await;
    sim.ok("/transfer/authorization/cancel", json!({"authorization_id": id})).await;
    let answer = sim.create_transfer(&item, &id).await;
    assert_eq!(answer.error_code(), "INVALID_FIELD");
    assert!(answer.body["error_message"].as_str().unwrap().contains("cancelled"));
    assert!(sim.events().await.is_empty());
}

#[tokio::test]
async fn used_authorization_cannot_be_cancelled() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let id = sim.approved_authorization(&item, "10.00").await;
    sim.create_transfer(&item, &id).await;
    let answer = sim.call("/transfer/authorization/cancel", json!({"authorization_id": id})).await;
    assert_eq!(answer.status, 400);
}

#[tokio::test]
async fn expired_authorization_cannot_create_a_transfer() {
    let sim = TestSim::with_config(SimConfig { authorization_ttl: Duration::ZERO, ..SimConfig::default() }).await;
    let item = sim.link_item(None).await;
    let id = sim.approved_authorization(&item, "10.00").await;
    // With a zero lifetime any authorization is older than allowed by the next request.
    let answer = sim.create_transfer(&item, &id).await;
    assert_eq!(answer.error_code(), "INVALID_FIELD");
    assert!(answer.body["error_message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn transfer_amount_description_and_account_are_checked() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let id = sim.approved_authorization(&item, "10.00").await;
    let base = json!({
        "access_token": item.access_token,
        "account_id": item.checking,
        "authorization_id": id,
        "description": "Invoice 42",
    });
    let with = |key: &str, value: serde_json::Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    for body in [
        with("amount", json!("10.01")),
        with("description", json!("Eleven char")),
        with("account_id", json!(item.savings)),
    ] {
        let answer = sim.call("/transfer/create", body).await;
        assert_eq!(answer.error_code(), "INVALID_FIELD");
    }
    let partial = sim.ok("/transfer/create", with("amount", json!("4.00"))).await;
    assert_eq!(partial["transfer"]["amount"], "4.00");
}

#[tokio::test]
async fn transfer_get_and_simulate_follow_the_sandbox_lifecycle() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let authorization_id = sim.approved_authorization(&item, "10.00").await;
    let created = sim.create_transfer(&item, &authorization_id).await;
    let transfer_id = created.body["transfer"]["id"].as_str().unwrap().to_owned();

    let by_authorization = sim.ok("/transfer/get", json!({"authorization_id": authorization_id})).await;
    assert_eq!(by_authorization["transfer"]["id"], transfer_id.as_str());
    let both =
        sim.call("/transfer/get", json!({"authorization_id": authorization_id, "transfer_id": transfer_id})).await;
    assert_eq!(both.error_code(), "INVALID_FIELD");

    let illegal =
        sim.call("/sandbox/transfer/simulate", json!({"transfer_id": transfer_id, "event_type": "settled"})).await;
    assert_eq!(illegal.status, 400);
    for step in ["posted", "settled", "funds_available"] {
        sim.ok("/sandbox/transfer/simulate", json!({"transfer_id": transfer_id, "event_type": step})).await;
    }
    let got = sim.ok("/transfer/get", json!({"transfer_id": transfer_id})).await;
    assert_eq!(got["transfer"]["status"], "funds_available");

    let events = sim.events().await;
    let types: Vec<_> = events.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["pending", "posted", "settled", "funds_available"]);
    let ids: Vec<_> = events.iter().map(|e| e["event_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4]);

    let page = sim.ok("/transfer/event/sync", json!({"after_id": 1, "count": 2})).await;
    assert_eq!(page["transfer_events"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
}
