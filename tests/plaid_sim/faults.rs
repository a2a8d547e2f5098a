use serde_json::json;

use super::helpers::TestSim;

#[tokio::test]
async fn error_500_after_commit_keeps_the_transfer_and_a_retry_returns_it() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let authorization_id = sim.approved_authorization(&item, "10.00").await;
    sim.arm_fault("/transfer/create", "error_500_after_commit").await;

    let failed = sim.create_transfer(&item, &authorization_id).await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.body["error_type"], "API_ERROR");
    assert_eq!(failed.error_code(), "INTERNAL_SERVER_ERROR");

    let retried = sim.create_transfer(&item, &authorization_id).await;
    assert_eq!(retried.status, 200);
    let events = sim.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["transfer_id"], retried.body["transfer"]["id"]);
}

#[tokio::test]
async fn error_500_does_nothing() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let authorization_id = sim.approved_authorization(&item, "10.00").await;
    sim.arm_fault("/transfer/create", "error_500").await;
    let failed = sim.create_transfer(&item, &authorization_id).await;
    assert_eq!(failed.status, 500);
    assert!(sim.events().await.is_empty());
}

#[tokio::test]
async fn rate_limit_fault_answers_429_once() {
    let sim = TestSim::start().await;
    sim.arm_fault("/transfer/event/sync", "rate_limit").await;
    let limited = sim.call("/transfer/event/sync", json!({"after_id": 0})).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["error_type"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(limited.error_code(), "RATE_LIMIT");
    let next = sim.call("/transfer/event/sync", json!({"after_id": 0})).await;
    assert_eq!(next.status, 200);
}

#[tokio::test]
async fn delay_after_commit_lets_a_client_time_out_after_the_transfer_exists() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let authorization_id = sim.approved_authorization(&item, "10.00").await;
    let armed = sim
        .http
        .post(format!("{}/sim/faults", sim.base))
        .json(&json!({"endpoint": "/transfer/create", "kind": "delay_after_commit", "delay_ms": 2000}))
        .send()
        .await
        .unwrap();
    assert!(armed.status().is_success());

    let timed_out = sim
        .http
        .post(format!("{}/transfer/create", sim.base))
        .timeout(std::time::Duration::from_millis(200))
        .header("PLAID-CLIENT-ID", super::helpers::CLIENT_ID)
        .header("PLAID-SECRET", super::helpers::SECRET)
        .json(&json!({
            "access_token": item.access_token,
            "account_id": item.checking,
            "authorization_id": authorization_id,
            "description": "Invoice 42",
        }))
        .send()
        .await;
    assert!(timed_out.is_err());
    let found = sim.ok("/transfer/get", json!({"authorization_id": authorization_id})).await;
    assert_eq!(found["transfer"]["status"], "pending");
}

#[tokio::test]
async fn sim_calls_lists_statuses_and_never_the_access_token() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let authorization_id = sim.approved_authorization(&item, "10.00").await;
    sim.arm_fault("/transfer/create", "rate_limit").await;
    sim.create_transfer(&item, &authorization_id).await;
    sim.create_transfer(&item, &authorization_id).await;

    let calls = sim.sim_calls("/transfer/create").await;
    let statuses: Vec<_> = calls.iter().map(|c| c["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [429, 200]);
    assert_eq!(calls[0]["fields"]["authorization_id"], authorization_id.as_str());
    assert_eq!(calls[0]["fields"]["access_token_present"], true);
    assert!(calls[0]["at"].as_str().unwrap().ends_with('Z'));

    let all = sim.http.get(format!("{}/sim/calls", sim.base)).send().await.unwrap().text().await.unwrap();
    assert!(all.contains("/item/public_token/exchange"));
    assert!(!all.contains(&item.access_token));
    assert!(!all.contains(super::helpers::SECRET));
}
