//! Throttling per client address (before any hashing), and step-up codes under concurrency.

use crate::helpers::{body, error_code, spawn_app_with, Db, Options, TestApp};
use crate::on_both_backends;
use countersign::auth::SessionPolicy;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// Many names, few failures each; only the address throttle can stop this.
fn spraying() -> SessionPolicy {
    SessionPolicy {
        address_max_failures: 3,
        throttle_first_delay: Duration::from_secs(600),
        ..SessionPolicy::default()
    }
}

async fn sign_in_from(app: &TestApp, forwarded_for: &str, username: &str) -> (StatusCode, String) {
    let response = app
        .client
        .post(format!("{}/v1/approver/sessions", app.address))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"username": username, "password": "a wrong password", "totp": "123456"}))
        .send()
        .await
        .expect("sent");
    let (status, error) = body(response).await;
    (status, error_code(&error).to_owned())
}

async fn the_address_throttle_keys_on_the_peer_and_trusts_forwarded_for_only_when_told(db: Db) {
    let app = spawn_app_with(db, Options { sessions: spraying(), ..Options::default() }).await;
    for i in 0..3 {
        assert_eq!(
            sign_in_from(&app, &format!("198.51.100.{i}"), &format!("name{i}")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let spoofed = sign_in_from(&app, "198.51.100.99", "name99").await;
    assert_eq!(
        spoofed,
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts".into()),
        "a made-up header changes nothing"
    );
    app.stop().await;

    let options = Options { sessions: spraying(), trust_forwarded_for: true, ..Options::default() };
    let app = spawn_app_with(db, options).await;
    for i in 0..3 {
        assert_eq!(sign_in_from(&app, "203.0.113.7", &format!("name{i}")).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(sign_in_from(&app, "203.0.113.7", "name3").await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        sign_in_from(&app, "10.0.0.1, 203.0.113.8", "name4").await.0,
        StatusCode::UNAUTHORIZED,
        "another client"
    );
    app.stop().await;
}

async fn thirty_concurrent_wrong_step_up_codes_evaluate_at_most_five(db: Db) {
    let sessions = SessionPolicy { throttle_first_delay: Duration::from_secs(600), ..SessionPolicy::default() };
    let app = spawn_app_with(db, Options { sessions, ..Options::default() }).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("1500.00").await;
    let (id, hash) = (request["id"].as_str().expect("id"), request["payload_hash"].as_str().expect("hash"));
    let session = app.sign_in(&alice).await;
    let wrong = alice.wrong_code();
    let attempts = (0..30).map(|_| app.request_token(&session, id, hash, Some(wrong.clone())));
    let statuses: Vec<StatusCode> =
        futures::future::join_all(attempts).await.iter().map(reqwest::Response::status).collect();
    assert!(
        statuses.iter().all(|s| matches!(*s, StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS)),
        "{statuses:?}"
    );
    let evaluated = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| {
            r.fields.event_type == "approval_token.step_up" && r.fields.error_code.as_deref() == Some("bad_totp")
        })
        .count();
    assert!(evaluated <= 5, "{evaluated} wrong step-up codes were evaluated; the limit is 5");
    app.stop().await;
}

on_both_backends!(
    the_address_throttle_keys_on_the_peer_and_trusts_forwarded_for_only_when_told,
    thirty_concurrent_wrong_step_up_codes_evaluate_at_most_five,
);
