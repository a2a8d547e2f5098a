use std::collections::HashSet;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::helpers::{Received, Receiver, TestSim};
use super::schema::assert_valid;

#[derive(Deserialize)]
struct Claims {
    iat: i64,
    request_body_sha256: String,
}

/// Verifies a webhook the way NOTES §5 tells a receiver to.
async fn verify(sim: &TestSim, received: &Received) {
    let token = received.headers["plaid-verification"].to_str().unwrap();
    let header = decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let kid = header.kid.unwrap();

    let key = sim.ok("/webhook_verification_key/get", json!({"key_id": kid})).await;
    let jwk = &key["key"];
    assert_eq!(
        (&jwk["alg"], &jwk["crv"], &jwk["kty"], &jwk["use"]),
        (&json!("ES256"), &json!("P-256"), &json!("EC"), &json!("sig"))
    );
    assert!(jwk["expired_at"].is_null());

    let decoding_key = DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    let claims = decode::<Claims>(token, &decoding_key, &validation).unwrap().claims;

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - claims.iat).abs() <= 300, "iat {} vs now {now}", claims.iat);
    assert_eq!(claims.request_body_sha256, hex::encode(Sha256::digest(&received.body)));
}

#[tokio::test]
async fn reset_login_sends_a_signed_item_error_webhook() {
    let sim = TestSim::start().await;
    let receiver = Receiver::start().await;
    let item = sim.link_item(Some(&receiver.url)).await;
    sim.ok("/sandbox/item/reset_login", json!({"access_token": item.access_token})).await;

    let received = receiver.wait_for("ERROR").await;
    verify(&sim, &received).await;
    // Plaid pretty-prints with two spaces, and the hash covers those exact bytes.
    assert!(std::str::from_utf8(&received.body).unwrap().contains("\n  \"webhook_type\""));
    let body: Value = serde_json::from_slice(&received.body).unwrap();
    assert_valid("ItemErrorWebhook", &body);
    assert_eq!(body["webhook_type"], "ITEM");
    assert_eq!(body["item_id"], item.item_id.as_str());
    assert_eq!(body["error"]["error_code"], "ITEM_LOGIN_REQUIRED");
    assert_eq!(body["error"]["status"], 400);
}

#[tokio::test]
async fn login_repaired_webhook_repairs_the_item() {
    let sim = TestSim::start().await;
    let receiver = Receiver::start().await;
    let item = sim.link_item(Some(&receiver.url)).await;
    sim.ok("/sandbox/item/reset_login", json!({"access_token": item.access_token})).await;
    let fired = sim
        .ok("/sandbox/item/fire_webhook", json!({"access_token": item.access_token, "webhook_code": "LOGIN_REPAIRED"}))
        .await;
    assert_eq!(fired["webhook_fired"], true);

    let received = receiver.wait_for("LOGIN_REPAIRED").await;
    verify(&sim, &received).await;
    let body: Value = serde_json::from_slice(&received.body).unwrap();
    assert_valid("ItemLoginRepairedWebhook", &body);
    sim.ok("/accounts/get", json!({"access_token": item.access_token})).await;
}

#[tokio::test]
async fn fire_transfer_webhook_sends_transfer_events_update() {
    let sim = TestSim::start().await;
    let receiver = Receiver::start().await;
    sim.ok("/sandbox/transfer/fire_webhook", json!({"webhook": receiver.url})).await;
    let received = receiver.wait_for("TRANSFER_EVENTS_UPDATE").await;
    verify(&sim, &received).await;
    let body: Value = serde_json::from_slice(&received.body).unwrap();
    assert_valid("TransferEventsUpdateWebhook", &body);
    assert_eq!(body["environment"], "sandbox");
}

#[tokio::test]
async fn unknown_key_id_is_invalid_input() {
    let sim = TestSim::start().await;
    let answer = sim.call("/webhook_verification_key/get", json!({"key_id": "nope"})).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["error_type"], "INVALID_INPUT");
}

#[tokio::test]
async fn a_configured_webhook_url_hears_simulated_transfer_events_and_cancellations() {
    let receiver = Receiver::start().await;
    let config = countersign::plaid::sim::SimConfig { webhook_url: Some(receiver.url.clone()), ..Default::default() };
    let sim = TestSim::with_config(config).await;
    let item = sim.link_item(None).await;
    let authorization_id = sim.approved_authorization(&item, "10.00").await;
    let created = sim.create_transfer(&item, &authorization_id).await;
    let transfer_id = created.body["transfer"]["id"].as_str().expect("transfer id").to_owned();

    sim.ok("/transfer/cancel", json!({"transfer_id": transfer_id})).await;
    let received = receiver.wait_for("TRANSFER_EVENTS_UPDATE").await;
    verify(&sim, &received).await;
    let types: Vec<Value> = sim.events().await.iter().map(|e| e["event_type"].clone()).collect();
    assert_eq!(types, [json!("pending"), json!("cancelled")]);
    let again = sim.call("/transfer/cancel", json!({"transfer_id": transfer_id})).await;
    assert_eq!(again.error_code(), "TRANSFER_NOT_CANCELLABLE");
}

#[tokio::test]
async fn fire_webhook_sends_new_accounts_available_and_pending_disconnect_as_plaid_documents_them() {
    let sim = TestSim::start().await;
    let receiver = Receiver::start().await;
    let item = sim.link_item(Some(&receiver.url)).await;
    for (code, schema) in
        [("NEW_ACCOUNTS_AVAILABLE", "NewAccountsAvailableWebhook"), ("PENDING_DISCONNECT", "PendingDisconnectWebhook")]
    {
        sim.ok("/sandbox/item/fire_webhook", json!({"access_token": item.access_token, "webhook_code": code})).await;
        let received = receiver.wait_for(code).await;
        verify(&sim, &received).await;
        let body: Value = serde_json::from_slice(&received.body).unwrap();
        assert_valid(schema, &body);
        assert_eq!(body["item_id"], item.item_id.as_str());
        assert_eq!(body["webhook_type"], "ITEM");
    }
    let disconnect: Value = serde_json::from_slice(&receiver.wait_for("PENDING_DISCONNECT").await.body).unwrap();
    assert_eq!(disconnect["reason"], "INSTITUTION_TOKEN_EXPIRATION");
    // The item keeps working: these webhooks only announce.
    sim.ok("/accounts/get", json!({"access_token": item.access_token})).await;
}

#[tokio::test]
async fn pending_expiration_is_refused_by_plaids_endpoint_and_fired_through_the_sim_control() {
    let sim = TestSim::start().await;
    let receiver = Receiver::start().await;
    let item = sim.link_item(Some(&receiver.url)).await;
    // Not in Plaid's webhook_code enum (spec 1.697.4, plaid-python 46, npm plaid 47).
    let refused = sim
        .call(
            "/sandbox/item/fire_webhook",
            json!({"access_token": item.access_token, "webhook_code": "PENDING_EXPIRATION"}),
        )
        .await;
    assert_eq!(refused.error_code(), "INVALID_FIELD");

    let response = sim
        .http
        .post(format!("{}/sim/items/fire_webhook", sim.base))
        .json(&json!({"access_token": item.access_token, "webhook_code": "PENDING_EXPIRATION"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let received = receiver.wait_for("PENDING_EXPIRATION").await;
    verify(&sim, &received).await;
    let body: Value = serde_json::from_slice(&received.body).unwrap();
    assert_valid("PendingExpirationWebhook", &body);
}

#[tokio::test]
async fn fire_webhook_error_breaks_the_item_like_reset_login_and_other_codes_are_sandbox_errors() {
    let sim = TestSim::start().await;
    let receiver = Receiver::start().await;
    let item = sim.link_item(Some(&receiver.url)).await;
    sim.ok("/sandbox/item/fire_webhook", json!({"access_token": item.access_token, "webhook_code": "ERROR"})).await;
    let body: Value = serde_json::from_slice(&receiver.wait_for("ERROR").await.body).unwrap();
    assert_eq!(body["error"]["error_code"], "ITEM_LOGIN_REQUIRED");
    let broken = sim.call("/accounts/get", json!({"access_token": item.access_token})).await;
    assert_eq!(broken.error_code(), "ITEM_LOGIN_REQUIRED");

    let other = sim
        .call(
            "/sandbox/item/fire_webhook",
            json!({"access_token": item.access_token, "webhook_code": "DEFAULT_UPDATE"}),
        )
        .await;
    assert_eq!(other.body["error_type"], "SANDBOX_ERROR");
    let wrong_type = sim
        .call(
            "/sandbox/item/fire_webhook",
            json!({"access_token": item.access_token, "webhook_code": "LOGIN_REPAIRED", "webhook_type": "TRANSACTIONS"}),
        )
        .await;
    assert_eq!(wrong_type.error_code(), "INVALID_FIELD");
}
