//! Money state never lies: once a create may have reached Plaid, only positive evidence ends the
//! request — the transfer found, or Plaid accepting the authorization's cancellation — and every
//! other answer keeps it `executing`, retried with backoff and alerted. Execution also checks the
//! approvals as the audit log recorded them, which an edit of the mutable tables cannot reach.

use crate::helpers::{body, spawn_app_with, Db, Options, TestApp};
use crate::on_both_backends;
use countersign::domain::TransferIntent;
use secrecy::SecretString;
use serde_json::json;
use std::time::Duration;

async fn state_of(app: &TestApp, id: &str) -> String {
    body(app.get_request(id, None).await).await.1["state"].as_str().unwrap_or_default().to_owned()
}

async fn arm(app: &TestApp, endpoint: &str, kind: &str) {
    app.sim_post("/sim/faults", json!({"endpoint": endpoint, "kind": kind, "delay_ms": 0, "times": 1})).await;
}

async fn deferrals(app: &TestApp, id: &str) -> usize {
    app.audit_events_for(id).await.iter().filter(|e| *e == "transfer.reconcile_deferred").count()
}

fn wrong_secret(settings: &mut countersign::config::Settings) {
    settings.plaid_secret = SecretString::from("not-the-secret");
}

fn right_secret(settings: &mut countersign::config::Settings) {
    settings.plaid_secret = SecretString::from("sim-secret");
}

/// The issue's reproduction: a 500 after Plaid committed, then a restart with a wrong secret.
async fn a_credentials_error_never_fails_a_transfer_plaid_may_hold(db: Db) {
    let options = Options { executing_alert_after: Duration::ZERO, ..Options::default() };
    let mut app = spawn_app_with(db, options).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("21.00").await;
    let id = request["id"].as_str().expect("id").to_owned();
    arm(&app, "/transfer/create", "error_500_after_commit").await;
    let (_, answered) = app.approve_as(&alice, &request).await;
    assert_eq!(answered["state"], "executing");

    app.restart_with(wrong_secret).await;
    app.eventually("two reconciliation passes refused by Plaid", || async { deferrals(&app, &id).await >= 2 }).await;
    assert_eq!(state_of(&app, &id).await, "executing", "INVALID_API_KEYS is no evidence that no money moved");
    let refused = r#"countersign_reconcile_deferrals_total{plaid_error="INVALID_API_KEYS"}"#;
    assert!(app.metric(refused).await.is_some_and(|n| n >= 2.0), "deferrals are counted by Plaid's answer");
    app.eventually("the unresolved request is alerted", || async {
        app.metric("countersign_executing_unresolved").await == Some(1.0)
    })
    .await;

    app.restart_with(right_secret).await;
    app.eventually("reconciled to submitted", || async { state_of(&app, &id).await == "submitted" }).await;
    assert_eq!(app.transfers_at_plaid().await, 1);
    let (_, done) = body(app.get_request(&id, None).await).await;
    assert!(done["transfer_id"].as_str().is_some_and(|t| !t.is_empty()), "{done}");
    app.eventually("the alert clears", || async { app.metric("countersign_executing_unresolved").await == Some(0.0) })
        .await;
    app.stop().await;
}

/// The window lapses while Plaid cannot be asked: a transfer Plaid holds is still found
/// (`submitted`); with none, the authorization's cancellation proves it (`failed`).
async fn after_the_window_lapses(db: Db, fault: &str) -> (TestApp, String) {
    let options =
        Options { authorization_ttl: Duration::from_secs(4), expiry_margin: Duration::ZERO, ..Options::default() };
    let mut app = spawn_app_with(db, options).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("21.00").await;
    let id = request["id"].as_str().expect("id").to_owned();
    arm(&app, "/transfer/create", fault).await;
    let (_, answered) = app.approve_as(&alice, &request).await;
    assert_eq!(answered["state"], "executing");
    app.restart_with(wrong_secret).await;
    app.eventually("a pass after the window lapsed", || async { deferrals(&app, &id).await >= 2 }).await;
    assert_eq!(state_of(&app, &id).await, "executing");
    app.restart_with(right_secret).await;
    (app, id)
}

async fn a_transfer_created_before_the_window_lapsed_is_found_not_failed(db: Db) {
    let (app, id) = after_the_window_lapses(db, "error_500_after_commit").await;
    app.eventually("reconciled to submitted", || async { state_of(&app, &id).await == "submitted" }).await;
    assert_eq!(app.transfers_at_plaid().await, 1);
    app.stop().await;
}

async fn a_lapsed_authorization_plaid_agrees_to_cancel_fails_the_request(db: Db) {
    let (app, id) = after_the_window_lapses(db, "error_500").await;
    app.eventually("failed on Plaid's cancellation", || async { state_of(&app, &id).await == "failed" }).await;
    let (_, failed) = body(app.get_request(&id, None).await).await;
    assert_eq!(failed["error"]["code"], "authorization_lapsed", "{failed}");
    assert_eq!(app.transfers_at_plaid().await, 0);
    assert!(!app.sim_calls("/transfer/authorization/cancel").await.is_empty());
    app.stop().await;
}

/// The issue's reproduction of 11.3(d): the intent, its pinned hash and the approvals' hashes
/// edited together in the database; only the audit log still holds what was approved.
async fn an_edit_of_intent_hash_and_approvals_together_is_refused_by_the_audit_log(db: Db) {
    let app = spawn_app_with(db, Options::default()).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("21.00").await;
    let id = request["id"].as_str().expect("id").to_owned();
    // Nothing reaches Plaid the first time, so the reconciler creates it later.
    arm(&app, "/transfer/create", "error_500").await;
    let (_, answered) = app.approve_as(&alice, &request).await;
    assert_eq!(answered["state"], "executing");

    let pool = app.ctx.store.reader();
    let row: (String, String) = sqlx::query_as("SELECT intent, authorization_id FROM transfer_requests WHERE id = $1")
        .bind(&id)
        .fetch_one(pool)
        .await
        .expect("request row");
    let mut intent: serde_json::Value = serde_json::from_str(&row.0).expect("intent");
    intent["description"] = json!("ATTACKER");
    let forged_hash = TransferIntent::from_json(&intent).expect("still a valid intent").payload_hash(&row.1);
    sqlx::query("UPDATE transfer_requests SET intent = $1, payload_hash = $2 WHERE id = $3")
        .bind(intent.to_string())
        .bind(&forged_hash)
        .bind(&id)
        .execute(pool)
        .await
        .expect("edit the request");
    sqlx::query("UPDATE approvals SET payload_hash = $1 WHERE request_id = $2")
        .bind(&forged_hash)
        .bind(&id)
        .execute(pool)
        .await
        .expect("edit its approvals");

    app.eventually("refused", || async { state_of(&app, &id).await == "failed" }).await;
    let (_, failed) = body(app.get_request(&id, None).await).await;
    assert_eq!(failed["error"]["code"], "payload_hash_mismatch", "{failed}");
    assert_eq!(app.transfers_at_plaid().await, 0, "the edited description never reached Plaid");
    let cancels = app.sim_calls("/transfer/authorization/cancel").await;
    assert!(
        cancels.iter().any(|c| c["fields"]["authorization_id"] == row.1.as_str() && c["status"] == 200),
        "{cancels:?}"
    );
    assert_eq!(app.metric("countersign_payload_mismatches_total").await, Some(1.0));
    app.stop().await;
}

on_both_backends!(
    a_late_create_renews_its_lease_or_stands_down,
    a_credentials_error_never_fails_a_transfer_plaid_may_hold,
    a_transfer_created_before_the_window_lapsed_is_found_not_failed,
    a_lapsed_authorization_plaid_agrees_to_cancel_fails_the_request,
    an_edit_of_intent_hash_and_approvals_together_is_refused_by_the_audit_log,
);

/// The reconciler waits `reconcile_after` from a request's lease; a create sent long after its
/// claim renews the lease first, so the wait counts from the call — and a process whose lease
/// another took over meanwhile does not call Plaid at all.
async fn a_late_create_renews_its_lease_or_stands_down(db: Db) {
    use countersign::domain::{RequestId, RequestState};
    use countersign::service::execute::{self, Attempt};
    use countersign::store::requests;
    let app = spawn_app_with(db, Options::default()).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("21.00").await;
    let id = RequestId::parse(request["id"].as_str().expect("id")).expect("request id");
    // An approval on record (the audit log check needs one), then the state a claim long ago leaves.
    arm(&app, "/transfer/create", "error_500").await;
    let (_, answered) = app.approve_as(&alice, &request).await;
    assert_eq!(answered["state"], "executing");
    // Keep the background reconciler off it (its next look is an hour away): this test is the caller.
    let now = countersign::service::now_ms();
    let claimed_at = now - 20_000;
    sqlx::query("UPDATE transfer_requests SET updated_at = $1, reconcile_next_at = $2 WHERE id = $3")
        .bind(claimed_at)
        .bind(now + 3_600_000)
        .bind(id.as_str())
        .execute(app.ctx.store.reader())
        .await
        .expect("age the claim");
    let ctx = app.ctx.clone();
    let record = requests::find(ctx.store.reader(), &id).await.expect("read").expect("request");
    let creates_before = app.sim_calls("/transfer/create").await.len();

    // Another process holds it now (its lease is not the one this caller took): no call to Plaid.
    execute::create(&ctx, &record, Attempt::Retry, claimed_at - 1).await.expect("stands down");
    assert_eq!(app.sim_calls("/transfer/create").await.len(), creates_before, "no second caller at Plaid");
    let still = requests::find(ctx.store.reader(), &id).await.expect("read").expect("request");
    assert_eq!((still.state, still.updated_at), (RequestState::Executing, claimed_at));

    // Its own lease, taken long ago: renewed to now, then the call goes out.
    execute::create(&ctx, &record, Attempt::Retry, claimed_at).await.expect("creates");
    assert_eq!(app.sim_calls("/transfer/create").await.len(), creates_before + 1);
    let done = requests::find(ctx.store.reader(), &id).await.expect("read").expect("request");
    assert_eq!(done.state, RequestState::Submitted);
    app.stop().await;
}
