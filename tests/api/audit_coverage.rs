//! Coverage of the audit trail: every flow leaves exactly one record per step, and no record or
//! log line carries PII or a secret.

use crate::helpers::{body, spawn_app, spawn_app_with, Db, Options, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn events(list: &[&str]) -> Vec<String> {
    list.iter().map(|e| e.to_string()).collect()
}

async fn state_of(app: &TestApp, id: &str) -> String {
    body(app.get_request(id, None).await).await.1["state"].as_str().unwrap_or_default().to_owned()
}

async fn every_flow_leaves_exactly_one_record_per_step(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let bob = app.add_approver("bob", "approver", None).await;

    // propose → approve → submitted
    let approved = app.propose_ok("250.00").await;
    let id = approved["id"].as_str().expect("id");
    assert_eq!(app.approve_as(&alice, &approved).await.0, StatusCode::OK);
    let submitted = events(&[
        "transfer.proposed",
        "transfer.authorization",
        "approval_token.issued",
        "transfer.approval",
        "transfer.approved",
        "transfer.execution_claimed",
        "transfer.executed",
    ]);
    assert_eq!(app.audit_events_for(id).await, submitted);

    // reject
    let rejected = app.propose_ok("20.00").await;
    let id = rejected["id"].as_str().expect("id");
    let session = app.sign_in(&alice).await;
    let path = format!("/v1/transfers/{id}/reject");
    assert_eq!(app.approver_post(&session, &path, json!({"reason": "no"})).await.status(), StatusCode::OK);
    app.eventually("authorization released", || async { app.audit_events_for(id).await.len() == 4 }).await;
    let expected =
        events(&["transfer.proposed", "transfer.authorization", "transfer.rejected", "transfer.authorization_cancel"]);
    assert_eq!(app.audit_events_for(id).await, expected);

    // cancel
    let cancelled = app.propose_ok("10.00").await;
    let id = cancelled["id"].as_str().expect("id");
    app.cancel(id, "c").await;
    app.eventually("authorization released", || async { app.audit_events_for(id).await.len() == 4 }).await;
    let expected =
        events(&["transfer.proposed", "transfer.authorization", "transfer.cancelled", "transfer.authorization_cancel"]);
    assert_eq!(app.audit_events_for(id).await, expected);

    // edit: alice approves version 1 of a tier-3 request, bob edits it into version 2
    let original = app.propose_ok("20000.00").await;
    let old_id = original["id"].as_str().expect("id");
    app.approve_as(&alice, &original).await;
    let session = app.sign_in(&bob).await;
    let token = app.token_for(&bob, &session, &original).await;
    let path = format!("/v1/transfers/{old_id}/edit");
    let (status, edited) =
        body(app.approver_post(&session, &path, json!({"approval_token": token, "amount": "15000.00"})).await).await;
    assert_eq!(status, StatusCode::CREATED, "{edited}");
    let new_id = edited["id"].as_str().expect("id");
    app.eventually("old authorization released", || async {
        app.audit_events_for(old_id).await.contains(&"transfer.authorization_cancel".to_owned())
    })
    .await;
    let expected = events(&[
        "transfer.proposed",
        "transfer.authorization",
        "approval_token.issued",
        "transfer.approval",
        "approval_token.issued",
        "transfer.superseded",
        "transfer.authorization_cancel",
    ]);
    assert_eq!(app.audit_events_for(old_id).await, expected);
    // The new version carries bob's approval of it; alice's approval of the old one does not count.
    let expected = events(&["transfer.proposed", "transfer.authorization", "transfer.approval"]);
    assert_eq!(app.audit_events_for(new_id).await, expected);

    // reconciliation: Plaid commits the transfer but answers 500; the reconciler settles it
    let reconciled = app.propose_ok("30.00").await;
    let id = reconciled["id"].as_str().expect("id");
    app.sim_post(
        "/sim/faults",
        json!({"endpoint": "/transfer/create", "kind": "error_500_after_commit", "delay_ms": 0, "times": 1}),
    )
    .await;
    app.approve_as(&alice, &reconciled).await;
    app.eventually("reconciled", || async { state_of(&app, id).await == "submitted" }).await;
    let expected = events(&[
        "transfer.proposed",
        "transfer.authorization",
        "approval_token.issued",
        "transfer.approval",
        "transfer.approved",
        "transfer.execution_claimed",
        "transfer.execution_attempt",
        "transfer.executed",
        "transfer.reconciled",
    ]);
    assert_eq!(app.audit_events_for(id).await, expected);

    // a failed sign-in: one error record per attempt
    let before = app.audit_rows().await.len();
    let response = app.sign_in_response(&alice, "wrong password here", "000000").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), before + 1);
    let last = &rows[rows.len() - 1].fields;
    assert_eq!((last.event_type.as_str(), last.outcome.as_str()), ("approver.sign_in", "error"));
    app.stop().await;

    // expiry
    let options =
        Options { authorization_ttl: Duration::from_secs(2), expiry_margin: Duration::ZERO, ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let expiring = app.propose_ok("10.00").await;
    let id = expiring["id"].as_str().expect("id");
    app.eventually("expired and released", || async { app.audit_events_for(id).await.len() == 4 }).await;
    let expected =
        events(&["transfer.proposed", "transfer.authorization", "transfer.expired", "transfer.authorization_cancel"]);
    assert_eq!(app.audit_events_for(id).await, expected);
    app.stop().await;
}

on_both_backends!(every_flow_leaves_exactly_one_record_per_step);

/// A `MakeWriter` target: every log line of this test, in memory.
#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// True when `needle` occurs in `haystack` as a token of its own (not inside a longer word or hash).
fn occurs_alone(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| {
        let before = haystack[..at].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric());
        let after = haystack[at + needle.len()..].chars().next().is_none_or(|c| !c.is_ascii_alphanumeric());
        before && after
    })
}

/// Runs on a current-thread runtime so the app's tasks log through this test's subscriber.
async fn no_record_or_log_line_holds_pii_or_secrets(db: Db) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = Capture(buffer.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("2500.00").await; // step-up: a second TOTP code
    let session = app.sign_in(&alice).await;
    let mut codes = vec![alice.last_code()];
    let token = app.token_for(&alice, &session, &request).await;
    codes.push(alice.last_code());
    let id = request["id"].as_str().expect("id");
    assert_eq!(app.approve(&session, id, &token).await.status(), StatusCode::OK);
    let bad = app.sign_in_response(&alice, &alice.password, "999999").await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    codes.push("999999".into());
    app.sign_in_response(&alice, "not the password at all", &alice.next_code().await).await;
    codes.push(alice.last_code());
    app.propose_ok("10.00").await;
    let rows = app.audit_rows().await;
    let (account_id, access_token, api_key) = (app.account_id.clone(), app.access_token.clone(), app.api_key.clone());
    app.stop().await;

    let logs = String::from_utf8(buffer.lock().expect("lock").clone()).expect("utf-8 logs");
    assert!(logs.contains("countersign"), "the subscriber captured the app's logs");
    let secrets = [
        ("legal name", "Ada Lovelace".to_owned()),
        ("account id", account_id),
        ("access token", access_token),
        ("API key", api_key),
        ("session token", session.clone()),
        ("approval token", token.clone()),
        ("password", alice.password.clone()),
        ("wrong password", "not the password at all".to_owned()),
    ];
    for row in &rows {
        let text = format!("{:?}", row.fields);
        for prefix in ["access-", "cs_", "css_"] {
            assert!(!text.contains(prefix), "{prefix} in an audit record: {text}");
        }
        for (what, secret) in &secrets {
            assert!(!text.contains(secret.as_str()), "{what} in an audit record: {text}");
        }
        for code in &codes {
            assert!(!occurs_alone(&text, code), "a TOTP code in an audit record: {text}");
        }
    }
    for line in logs.lines() {
        for (what, secret) in &secrets {
            assert!(!line.contains(secret.as_str()), "{what} in a log line: {line}");
        }
        for code in &codes {
            assert!(!occurs_alone(line, code), "a TOTP code in a log line: {line}");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_record_or_log_line_holds_pii_or_secrets_on_sqlite() {
    no_record_or_log_line_holds_pii_or_secrets(Db::Sqlite).await
}

#[tokio::test(flavor = "current_thread")]
async fn no_record_or_log_line_holds_pii_or_secrets_on_postgres() {
    no_record_or_log_line_holds_pii_or_secrets(Db::Postgres).await
}
