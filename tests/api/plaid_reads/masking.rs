//! Masking: no full account number leaves unless the agent's grant is unmasked, and none ever
//! reaches the audit trail.

use super::{read, read_records, reader, ALL_PATHS, ALL_PRODUCTS};
use crate::helpers::{spawn_app, Db, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The item's full account and routing numbers, asked of the simulator directly (as Plaid).
async fn full_numbers(app: &TestApp) -> Vec<String> {
    let answer: Value = app
        .sim_post(
            "/auth/get",
            json!({"client_id": "sim-client-id", "secret": "sim-secret", "access_token": app.access_token}),
        )
        .await;
    let mut numbers = Vec::new();
    for ach in answer["numbers"]["ach"].as_array().expect("ach numbers") {
        for field in ["account", "routing", "wire_routing"] {
            numbers.push(ach[field].as_str().expect("number").to_owned());
        }
    }
    assert!(numbers.len() >= 6, "{answer}");
    numbers
}

fn holds_any(text: &str, secrets: &[String]) -> Option<String> {
    secrets.iter().find(|s| text.contains(s.as_str())).cloned()
}

async fn no_response_or_audit_row_holds_a_full_account_number_without_an_unmasked_grant(db: Db) {
    let app = spawn_app(db).await;
    let secrets = full_numbers(&app).await;
    let key = reader(&app, "masked", &ALL_PRODUCTS, &[]).await;
    for path in ALL_PATHS {
        let response = read(&app, &key, path, json!({"reason": "bookkeeping"})).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let text = response.text().await.expect("body");
        assert_eq!(holds_any(&text, &secrets), None, "{path} leaked a full number: {text}");
        if path == "/auth/get" {
            let answer: Value = serde_json::from_str(&text).expect("json");
            let ach = &answer["numbers"]["ach"][0];
            let account = ach["account"].as_str().expect("account");
            assert!(account.starts_with("••••") && account.chars().count() == 8, "{account}");
            assert!(secrets.iter().any(|s| s.ends_with(&account["••••".len()..])), "keeps the last four");
        }
        if path == "/identity/get" {
            for hidden in ["2992 Cameron Road", "14236", "accountholder0@", "111-555-3333"] {
                assert!(!text.contains(hidden), "identity leaked {hidden}");
            }
            assert!(text.contains("Alberta Bobbeth Charleson"), "names are kept");
        }
    }
    for row in app.audit_rows().await {
        let text = format!("{row:?}");
        assert_eq!(holds_any(&text, &secrets), None, "an audit row holds a full number: {text}");
        assert!(!text.contains("Alberta") && !text.contains("Cameron"), "an audit row holds PII: {text}");
    }
    app.stop().await;
}

async fn an_unmasked_grant_releases_full_numbers_to_that_agent_alone_and_says_so_on_every_read(db: Db) {
    let app = spawn_app(db).await;
    let secrets = full_numbers(&app).await;
    let trusted = reader(&app, "payouts", &["auth"], &["auth"]).await;
    let other = reader(&app, "other", &["auth"], &[]).await;

    let text = read(&app, &trusted, "/auth/get", json!({"reason": "set up payouts"})).await.text().await.expect("body");
    assert!(text.contains(&secrets[0]), "the unmasked grant releases the full number");
    let text = read(&app, &other, "/auth/get", json!({"reason": "curious"})).await.text().await.expect("body");
    assert_eq!(holds_any(&text, &secrets), None, "another agent's grant stays masked");

    let events: Vec<String> = read_records(&app).await.into_iter().map(|r| r.fields.event_type).collect();
    assert_eq!(events, ["plaid.read.unmasked", "plaid.read"]);
    for row in app.audit_rows().await {
        assert_eq!(holds_any(&format!("{row:?}"), &secrets), None, "audit rows never hold the numbers");
    }
    app.stop().await;
}

on_both_backends!(
    no_response_or_audit_row_holds_a_full_account_number_without_an_unmasked_grant,
    an_unmasked_grant_releases_full_numbers_to_that_agent_alone_and_says_so_on_every_read,
);
