use serde_json::{json, Value};

use super::helpers::{authorization_request, TestSim, CLIENT_ID, SECRET};
use super::schema::{assert_valid, convert, spec};

#[test]
fn json_fixture_equals_the_yaml_fixture() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/plaid-openapi-subset.yml");
    let yaml: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(&yaml, spec());
}

#[test]
fn schema_check_rejects_a_transfer_missing_a_required_key() {
    // Guards against a vacuous validator: a real violation must be caught.
    let validator = super::schema::validator("Transfer");
    assert!(!validator.is_valid(&json!({"id": "x"})));
    let nullable = convert(&json!({"type": "string", "nullable": true}));
    assert_eq!(nullable, json!({"type": ["string", "null"]}));
}

#[tokio::test]
async fn unknown_field_is_rejected_with_unknown_fields() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let answer = sim.call("/accounts/get", json!({"access_token": item.access_token, "colour": "blue"})).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["error_type"], "INVALID_REQUEST");
    assert_eq!(answer.error_code(), "UNKNOWN_FIELDS");
    assert_eq!(answer.body["error_message"], "the following fields are not recognized by this endpoint: colour");
}

#[tokio::test]
async fn missing_required_field_is_rejected_with_missing_fields() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let mut request = authorization_request(&item, "debit", "10.00");
    request.as_object_mut().unwrap().remove("user");
    let answer = sim.call("/transfer/authorization/create", request).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_code(), "MISSING_FIELDS");
    assert!(answer.body["error_message"].as_str().unwrap().contains("user"));
}

#[tokio::test]
async fn wrong_type_and_too_long_fields_are_invalid_field() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let mut request = authorization_request(&item, "debit", "10.00");
    request["amount"] = json!(10);
    let answer = sim.call("/transfer/authorization/create", request).await;
    assert_eq!(answer.error_code(), "INVALID_FIELD");
    assert!(answer.body["error_message"].as_str().unwrap().starts_with("amount"));

    let mut request = authorization_request(&item, "debit", "10.00");
    request["idempotency_key"] = json!("k".repeat(51));
    let answer = sim.call("/transfer/authorization/create", request).await;
    assert_eq!(answer.error_code(), "INVALID_FIELD");

    for bad in ["10", "10.5", "0.00", "-1.00"] {
        let answer = sim.authorize(&item, "debit", bad).await;
        assert_eq!(answer.error_code(), "INVALID_FIELD", "{bad}");
    }
}

#[tokio::test]
async fn credentials_are_accepted_in_headers_and_in_the_body() {
    let sim = TestSim::start().await;
    let in_headers = sim.call("/transfer/event/sync", json!({"after_id": 0})).await;
    assert_eq!(in_headers.status, 200);

    let response = sim
        .http
        .post(format!("{}/transfer/event/sync", sim.base))
        .json(&json!({"client_id": CLIENT_ID, "secret": SECRET, "after_id": 0}))
        .send()
        .await
        .unwrap();
    let in_body = sim.answer("/transfer/event/sync", response).await;
    assert_eq!(in_body.status, 200);
}

#[tokio::test]
async fn wrong_or_missing_secret_is_invalid_api_keys() {
    let sim = TestSim::start().await;
    for body in [json!({"client_id": CLIENT_ID, "secret": "nope", "after_id": 0}), json!({"after_id": 0})] {
        let response = sim.http.post(format!("{}/transfer/event/sync", sim.base)).json(&body).send().await.unwrap();
        let answer = sim.answer("/transfer/event/sync", response).await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.body["error_type"], "INVALID_INPUT");
        assert_eq!(answer.error_code(), "INVALID_API_KEYS");
    }
}

#[tokio::test]
async fn malformed_body_wrong_content_type_and_unknown_path_get_plaid_errors() {
    let sim = TestSim::start().await;
    let send = |path: &str, content_type: &str, body: &str| {
        sim.http
            .post(format!("{}{path}", sim.base))
            .header("Content-Type", content_type)
            .header("PLAID-CLIENT-ID", CLIENT_ID)
            .header("PLAID-SECRET", SECRET)
            .body(body.to_owned())
            .send()
    };
    let answer = sim.answer("/transfer/get", send("/transfer/get", "application/json", "{").await.unwrap()).await;
    assert_eq!((answer.status, answer.error_code()), (400, "INVALID_BODY"));

    let answer = sim.answer("/transfer/get", send("/transfer/get", "text/plain", "{}").await.unwrap()).await;
    assert_eq!((answer.status, answer.error_code()), (400, "INVALID_HEADERS"));

    let response = send("/transfer/teleport", "application/json", "{}").await.unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_valid("PlaidError", &body);
    assert_eq!(body["error_code"], "NOT_FOUND");
}
