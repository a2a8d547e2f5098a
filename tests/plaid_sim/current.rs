//! What today's official clients (plaid-python 46, npm plaid 47) send and require, beyond the
//! 2020-09-14_1.697.4 snapshot. Every answer is also checked against the merged schemas, in which
//! `proposed_transfer.requested_amount` is required.

use serde_json::json;

use super::helpers::{authorization_request, TestSim};
use super::schema::assert_valid;

#[tokio::test]
async fn an_authorization_carries_the_requested_amount_and_null_guarantee_details() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let answer = sim.authorize(&item, "debit", "12.34").await;
    let authorization = &answer.body["authorization"];
    assert_eq!(authorization["proposed_transfer"]["requested_amount"], "12.34");
    assert_eq!(authorization["proposed_transfer"]["amount"], "12.34");
    assert!(authorization["guarantee_details"].is_null());
    assert!(authorization.as_object().unwrap().contains_key("guarantee_details"));
}

#[test]
fn the_current_schema_requires_requested_amount() {
    // The merge is not vacuous: an authorization without requested_amount no longer conforms.
    let proposed = json!({"funding_account_id": null, "type": "debit", "amount": "1.00", "network": "ach",
        "origination_account_id": "", "iso_currency_code": "USD", "originator_client_id": null,
        "credit_funds_source": null, "user": {"legal_name": "A", "phone_number": null, "email_address": null,
        "address": null}});
    assert!(!super::schema::validator("TransferAuthorizationProposedTransfer").is_valid(&proposed));
    let mut with_it = proposed.clone();
    with_it["requested_amount"] = json!("1.00");
    assert_valid("TransferAuthorizationProposedTransfer", &with_it);
}

#[tokio::test]
async fn user_attributes_from_current_clients_are_accepted_and_unknown_fields_still_refused() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let mut request = authorization_request(&item, "debit", "10.00");
    request["user_attributes"] = json!({"account_created_time": "2026-01-01T00:00:00Z", "successful_payment_count": 3});
    let answer = sim.call("/transfer/authorization/create", request.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    request["user_attributez"] = json!({});
    let refused = sim.call("/transfer/authorization/create", request).await;
    assert_eq!(refused.error_code(), "UNKNOWN_FIELDS");
    assert!(refused.body["error_message"].as_str().unwrap().ends_with(": user_attributez"));
}

#[tokio::test]
async fn events_carry_a_signed_event_amount_from_the_ledgers_side() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let authorization_id = sim.approved_authorization(&item, "25.00").await;
    let created = sim.create_transfer(&item, &authorization_id).await;
    let transfer_id = created.body["transfer"]["id"].as_str().unwrap().to_owned();
    assert!(created.body["transfer"]["guarantee_details"].is_null());
    for event_type in ["posted", "returned"] {
        sim.ok("/sandbox/transfer/simulate", json!({"transfer_id": transfer_id, "event_type": event_type})).await;
    }
    let amounts: Vec<_> = sim.events().await.iter().map(|e| e["event_amount"].clone()).collect();
    // A debit brings money in; its return takes it back out.
    assert_eq!(amounts, [json!("25.00"), json!("25.00"), json!("-25.00")]);
}

#[tokio::test]
async fn request_for_payment_is_a_network_for_debits_up_to_its_limit() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let rfp = |transfer_type: &str, amount: &str| {
        let mut request = authorization_request(&item, transfer_type, amount);
        request["network"] = json!("rfp");
        request.as_object_mut().unwrap().remove("ach_class");
        request
    };
    let approved = sim.call("/transfer/authorization/create", rfp("debit", "3500.00")).await;
    assert_eq!(approved.body["authorization"]["decision"], "approved", "{}", approved.body);
    assert_eq!(approved.body["authorization"]["proposed_transfer"]["network"], "rfp");
    let credit = sim.call("/transfer/authorization/create", rfp("credit", "10.00")).await;
    assert_eq!(credit.error_code(), "INVALID_FIELD");
    let above = sim.call("/transfer/authorization/create", rfp("debit", "3500.01")).await;
    assert_eq!(above.error_code(), "TRANSFER_NETWORK_LIMIT_EXCEEDED");
}
