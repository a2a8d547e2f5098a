use std::collections::BTreeSet;

use serde_json::json;

use super::helpers::{Receiver, TestSim};

/// The Plaid paths the simulator serves (the brief's list).
const PLAID_PATHS: [&str; 19] = [
    "/transfer/authorization/create",
    "/transfer/authorization/cancel",
    "/transfer/create",
    "/transfer/get",
    "/transfer/event/sync",
    "/link/token/create",
    "/item/get",
    "/accounts/balance/get",
    "/accounts/get",
    "/sandbox/public_token/create",
    "/item/public_token/exchange",
    "/sandbox/item/reset_login",
    "/sandbox/transfer/simulate",
    "/webhook_verification_key/get",
    "/sandbox/transfer/fire_webhook",
    "/sandbox/item/fire_webhook",
    "/transfer/cancel",
    "/transfer/list",
    "/transfer/event/list",
];

#[tokio::test]
async fn every_plaid_path_answers_a_response_that_conforms_to_plaids_schema() {
    // Every `sim.call` checks its answer against the spec; this test makes sure each path is
    // exercised successfully at least once, so no endpoint escapes that check.
    let sim = TestSim::start().await;
    let receiver = Receiver::start().await;
    let item = sim.link_item(Some(&receiver.url)).await;
    sim.ok(
        "/link/token/create",
        json!({"client_name": "Countersign", "language": "en", "country_codes": ["US"],
            "user": {"client_user_id": "user-1"}, "products": ["transfer"]}),
    )
    .await;
    sim.ok("/item/get", json!({"access_token": item.access_token})).await;
    sim.ok(
        "/accounts/balance/get",
        json!({"access_token": item.access_token, "options": {"account_ids": [item.savings]}}),
    )
    .await;

    let unused = sim.approved_authorization(&item, "1.00").await;
    sim.ok("/transfer/authorization/cancel", json!({"authorization_id": unused})).await;
    let authorization_id = sim.approved_authorization(&item, "10.00").await;
    let created = sim.create_transfer(&item, &authorization_id).await;
    let transfer_id = created.body["transfer"]["id"].as_str().unwrap().to_owned();
    for (event_type, failure_reason) in [("posted", None), ("returned", Some(json!({"failure_code": "R01"})))] {
        let mut request = json!({"transfer_id": transfer_id, "event_type": event_type});
        if let Some(reason) = failure_reason {
            request["failure_reason"] = reason;
        }
        sim.ok("/sandbox/transfer/simulate", request).await;
    }
    let returned = sim.ok("/transfer/get", json!({"transfer_id": transfer_id})).await;
    assert_eq!(returned["transfer"]["failure_reason"]["failure_code"], "R01");
    sim.events().await;
    sim.ok("/transfer/list", json!({"count": 25})).await;
    sim.ok("/transfer/event/list", json!({"transfer_id": transfer_id})).await;
    let pending = sim.approved_authorization(&item, "3.00").await;
    let cancellable = sim.create_transfer(&item, &pending).await;
    sim.ok("/transfer/cancel", json!({"transfer_id": cancellable.body["transfer"]["id"]})).await;

    sim.ok("/sandbox/transfer/fire_webhook", json!({"webhook": receiver.url})).await;
    let token = receiver.wait_for("TRANSFER_EVENTS_UPDATE").await;
    let jws = token.headers["plaid-verification"].to_str().unwrap();
    let kid = jsonwebtoken::decode_header(jws).unwrap().kid.unwrap();
    sim.ok("/webhook_verification_key/get", json!({"key_id": kid})).await;

    sim.ok("/sandbox/item/reset_login", json!({"access_token": item.access_token})).await;
    sim.ok("/sandbox/item/fire_webhook", json!({"access_token": item.access_token, "webhook_code": "LOGIN_REPAIRED"}))
        .await;

    let calls: Vec<serde_json::Value> =
        sim.http.get(format!("{}/sim/calls", sim.base)).send().await.unwrap().json().await.unwrap();
    let answered: BTreeSet<&str> =
        calls.iter().filter(|c| c["status"] == 200).map(|c| c["endpoint"].as_str().unwrap()).collect();
    assert_eq!(answered, PLAID_PATHS.into_iter().collect());
}
