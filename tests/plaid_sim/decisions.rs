use countersign::plaid::sim::SimConfig;
use serde_json::json;

use super::helpers::{authorization_request, TestSim};

#[tokio::test]
async fn debit_within_the_available_balance_is_approved_without_rationale() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let answer = sim.authorize(&item, "debit", "50000.00").await;
    let authorization = &answer.body["authorization"];
    assert_eq!(authorization["decision"], "approved");
    assert!(authorization["decision_rationale"].is_null());
    assert_eq!(authorization["proposed_transfer"]["amount"], "50000.00");
    assert_eq!(authorization["proposed_transfer"]["ach_class"], "web");
}

#[tokio::test]
async fn debit_above_the_available_balance_is_declined_nsf() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let answer = sim.authorize(&item, "debit", "50000.01").await;
    assert_eq!(answer.body["authorization"]["decision"], "declined");
    assert_eq!(answer.body["authorization"]["decision_rationale"]["code"], "NSF");
}

#[tokio::test]
async fn debit_from_an_empty_account_is_declined_risk() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    sim.set_available(&item.checking, "0.00").await;
    let answer = sim.authorize(&item, "debit", "1.00").await;
    assert_eq!(answer.body["authorization"]["decision"], "declined");
    assert_eq!(answer.body["authorization"]["decision_rationale"]["code"], "RISK");
}

#[tokio::test]
async fn amount_above_the_per_transfer_limit_is_declined_transfer_limit_reached() {
    let sim = TestSim::with_config(SimConfig { per_transfer_limit: "100.00".into(), ..SimConfig::default() }).await;
    let item = sim.link_item(None).await;
    let answer = sim.authorize(&item, "debit", "100.01").await;
    assert_eq!(answer.body["authorization"]["decision"], "declined");
    assert_eq!(answer.body["authorization"]["decision_rationale"]["code"], "TRANSFER_LIMIT_REACHED");
}

#[tokio::test]
async fn credit_is_checked_against_the_ledger_balance() {
    let sim =
        TestSim::with_config(SimConfig { ledger_available_balance: "100.00".into(), ..SimConfig::default() }).await;
    let item = sim.link_item(None).await;
    sim.set_available(&item.checking, "0.00").await;
    let approved = sim.authorize(&item, "credit", "100.00").await;
    assert_eq!(approved.body["authorization"]["decision"], "approved");
    let declined = sim.authorize(&item, "credit", "100.01").await;
    assert_eq!(declined.body["authorization"]["decision_rationale"]["code"], "NSF");
}

#[tokio::test]
async fn item_needing_login_gets_user_action_required() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    sim.ok("/sandbox/item/reset_login", json!({"access_token": item.access_token})).await;
    let answer = sim.authorize(&item, "debit", "10.00").await;
    assert_eq!(answer.body["authorization"]["decision"], "user_action_required");
    assert!(answer.body["authorization"]["decision_rationale"].is_null());
}

#[tokio::test]
async fn same_idempotency_key_twice_returns_the_original_authorization() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let mut request = authorization_request(&item, "debit", "10.00");
    request["idempotency_key"] = json!("proposal-1");
    let first = sim.ok("/transfer/authorization/create", request.clone()).await;
    // Even if the balance changes in between, the original decision comes back.
    sim.set_available(&item.checking, "0.00").await;
    let second = sim.ok("/transfer/authorization/create", request).await;
    assert_eq!(first["authorization"]["id"], second["authorization"]["id"]);
    assert_eq!(second["authorization"]["decision"], "approved");
}

#[tokio::test]
async fn network_and_ach_class_rules_are_enforced() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;

    let mut request = authorization_request(&item, "debit", "10.00");
    request["ach_class"] = json!("ppd");
    let answer = sim.call("/transfer/authorization/create", request).await;
    assert_eq!(answer.body["error_type"], "TRANSFER_ERROR");
    assert_eq!(answer.error_code(), "TRANSFER_FORBIDDEN_ACH_CLASS");

    let mut request = authorization_request(&item, "debit", "10.00");
    request.as_object_mut().unwrap().remove("ach_class");
    let answer = sim.call("/transfer/authorization/create", request).await;
    assert_eq!(answer.error_code(), "MISSING_FIELDS");

    let mut request = authorization_request(&item, "debit", "10.00");
    request["network"] = json!("wire");
    let answer = sim.call("/transfer/authorization/create", request).await;
    assert_eq!(answer.error_code(), "INVALID_FIELD");

    let mut request = authorization_request(&item, "credit", "1000000.00");
    request["network"] = json!("wire");
    let answer = sim.call("/transfer/authorization/create", request).await;
    assert_eq!(answer.error_code(), "TRANSFER_NETWORK_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn unknown_token_and_foreign_account_are_invalid_input() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let other = sim.link_item(None).await;

    let mut request = authorization_request(&item, "debit", "10.00");
    request["access_token"] = json!("access-sandbox-nope");
    let answer = sim.call("/transfer/authorization/create", request).await;
    assert_eq!(answer.error_code(), "INVALID_ACCESS_TOKEN");

    let mut request = authorization_request(&item, "debit", "10.00");
    request["account_id"] = json!(other.checking);
    let answer = sim.call("/transfer/authorization/create", request).await;
    assert_eq!(answer.error_code(), "INVALID_ACCOUNT_ID");
}
