//! What a newcomer and an operator rely on (issue 11, point 8): the embedded default survives a
//! restart, and `/metrics` tells how the service is doing.

use crate::helpers::{body, spawn_app, transfers_held_by, Db, EmbeddedApp, PASSWORD};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Signs in as a freshly enrolled approver of the embedded default and approves `request`.
async fn approve_in_embedded(app: &EmbeddedApp, request: &Value) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let enrollment = countersign::service::approvers::add_approver(
        &app.ctx.store,
        &app.ctx.master_key,
        "erin",
        "approver",
        Some(PASSWORD),
        None,
    )
    .await
    .expect("approver");
    let totp = totp_rs::TOTP::from_url(&enrollment.otpauth_uri).expect("otpauth URI");
    let sign_in = json!({"username": "erin", "password": PASSWORD, "totp": totp.generate_current().expect("code")});
    let signed_in = client.post(format!("{}/v1/approver/sessions", app.address)).json(&sign_in).send().await;
    let (status, session) = body(signed_in.expect("sent")).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let session = session["token"].as_str().expect("token");
    let id = request["id"].as_str().expect("id");
    let minted = client
        .post(format!("{}/v1/transfers/{id}/approval-token", app.address))
        .bearer_auth(session)
        .json(&json!({"payload_hash": request["payload_hash"]}))
        .send()
        .await;
    let (status, token) = body(minted.expect("sent")).await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let approved = client
        .post(format!("{}/v1/transfers/{id}/approve", app.address))
        .bearer_auth(session)
        .json(&json!({"approval_token": token["approval_token"]}))
        .send()
        .await;
    body(approved.expect("sent")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_request_survives_a_restart_of_the_embedded_default_and_executes_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = EmbeddedApp::start(dir.path()).await;
    let (status, request) = body(first.propose_demo(dir.path(), "25.00").await).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(request["state"], "pending_approval");
    first.stop().await;

    let second = EmbeddedApp::start(dir.path()).await;
    let (status, approved) = approve_in_embedded(&second, &request).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    let id = request["id"].as_str().expect("id");
    let client = reqwest::Client::new();
    let api_key = second.demo_api_key(dir.path());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let read = client.get(format!("{}/v1/transfers/{id}", second.address)).bearer_auth(&api_key).send().await;
        let (_, current) = body(read.expect("sent")).await;
        if current["state"] == "submitted" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not submitted: {current}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(transfers_held_by(&second.sim_url).await, 1, "the simulator holds exactly one transfer");
    second.stop().await;
}

/// The value of the first sample line starting with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|line| line.starts_with(prefix)).and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

async fn metrics_after_a_flow_show_every_family_with_sane_values(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let approved = app.propose_ok("10.00").await;
    let (status, answer) = app.approve_as(&alice, &approved).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    app.propose_ok("11.00").await;
    let id = approved["id"].as_str().expect("id");
    app.eventually("submitted", || async { body(app.get_request(id, None).await).await.1["state"] == "submitted" })
        .await;
    app.get_request("tr_doesnotexist", None).await;
    let refused = app.ctx.plaid.get_item("access-sandbox-not-a-token").await;
    assert!(refused.is_err(), "Plaid refuses an unknown access token");

    let scrape = || async {
        let response = app.client.get(format!("{}/metrics", app.address)).send().await.expect("scrape");
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("text")
    };
    app.eventually("both background tasks have run", || async {
        let text = scrape().await;
        sample(&text, r#"countersign_background_passes_total{task="expiry",outcome="ok"}"#).is_some_and(|n| n >= 1.0)
            && sample(&text, r#"countersign_background_passes_total{task="reconciliation",outcome="ok"}"#)
                .is_some_and(|n| n >= 1.0)
    })
    .await;
    let text = scrape().await;

    let proposals =
        r#"countersign_http_request_duration_seconds_count{method="POST",route="/v1/transfers",status="201"}"#;
    assert_eq!(sample(&text, proposals), Some(2.0), "{text}");
    let reads =
        r#"countersign_http_request_duration_seconds_count{method="GET",route="/v1/transfers/{id}",status="404"}"#;
    assert_eq!(sample(&text, reads), Some(1.0), "routes are templates: {text}");
    assert!(!text.contains("tr_doesnotexist"), "a raw path reached a label: {text}");

    let authorizations =
        r#"countersign_plaid_request_duration_seconds_count{endpoint="/transfer/authorization/create"}"#;
    assert_eq!(sample(&text, authorizations), Some(2.0), "{text}");
    let creates = r#"countersign_plaid_request_duration_seconds_count{endpoint="/transfer/create"}"#;
    assert_eq!(sample(&text, creates), Some(1.0), "{text}");
    let errors = r#"countersign_plaid_errors_total{endpoint="/item/get",kind="INVALID_ACCESS_TOKEN"}"#;
    assert_eq!(sample(&text, errors), Some(1.0), "{text}");

    assert_eq!(sample(&text, r#"countersign_pending_requests{tier="2"}"#), Some(1.0), "{text}");
    let decided = r#"countersign_time_to_decision_seconds_count{decision="approved"}"#;
    assert_eq!(sample(&text, decided), Some(1.0), "{text}");
    let decided_sum = r#"countersign_time_to_decision_seconds_sum{decision="approved"}"#;
    assert!(sample(&text, decided_sum).is_some_and(|s| (0.0..60.0).contains(&s)), "{text}");

    let lag = sample(&text, "countersign_audit_chain_lag_records").expect("chain lag records");
    assert!(lag >= 0.0, "{text}");
    let age = sample(&text, "countersign_audit_chain_lag_seconds").expect("chain lag age");
    assert!((0.0..60.0).contains(&age), "{text}");
    app.stop().await;
}

on_both_backends!(metrics_after_a_flow_show_every_family_with_sane_values);
