//! Recurring transfers (issue 15.6): tier 3 whatever the amount, nothing asked of Plaid before a
//! quorum of distinct approvers with step-up approved the whole schedule, then exactly one
//! `/transfer/recurring/create` with the key stored at proposal; occurrences visible on the
//! request; cancel by the agent or an approver.

use crate::helpers::{body, error_code, spawn_app, Db, TestApp, TestApprover};
use crate::on_both_backends;
use crate::ui::{location, Browser};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// $250.00 on the 1st of every month of 2027.
fn monthly(app: &TestApp) -> Value {
    let mut proposal = app.proposal("250.00");
    proposal["schedule"] = json!({
        "interval_unit": "month", "interval_count": 1, "interval_execution_day": 1,
        "start_date": "2027-01-01", "end_date": "2027-12-01",
    });
    proposal
}

async fn propose_monthly(app: &TestApp) -> Value {
    let (status, request) = body(app.propose(&monthly(app)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    request
}

async fn a_schedule_is_tier_three_and_waits_for_people_without_asking_plaid(db: Db) {
    let app = spawn_app(db).await;
    let request = propose_monthly(&app).await;
    assert_eq!(request["state"], "pending_approval");
    assert_eq!(request["tier"], 3, "recurring is tier 3 even for $250.00");
    assert_eq!(request["step_up_required"], true);
    assert_eq!(request["approvals_required"], 2);
    assert!(request["policy_reasons"].to_string().contains("recurring"), "{request}");
    assert_eq!(request["intent"]["schedule"]["start_date"], "2027-01-01");
    assert!(request["payload_hash"].is_string(), "a pinned hash approvers sign");
    assert!(request["authorization_id"].is_null());
    assert!(app.sim_calls("/transfer/authorization/create").await.is_empty(), "Plaid is not asked before the quorum");
    assert!(app.sim_calls("/transfer/recurring/create").await.is_empty());

    let id = request["id"].as_str().expect("id");
    let (_, shown) = body(app.get_request(id, None).await).await;
    let summary = shown["recurring"]["summary"].as_str().expect("the schedule in words");
    assert!(summary.starts_with("Debit $250.00 from ••"), "{summary}");
    assert!(
        summary.ends_with("every month on the 1st, from 2027-01-01 to 2027-12-01 — 12 debits, $3,000.00 in total"),
        "{summary}"
    );
    assert_eq!(
        (shown["recurring"]["occurrences"].as_u64(), shown["recurring"]["total"].as_str()),
        (Some(12), Some("3000.00"))
    );
    assert!(shown["recurring"]["recurring_transfer_id"].is_null());

    // The audit trail says it was held for people, with no Plaid call.
    let events = app.audit_events_for(id).await;
    assert!(events.contains(&"transfer.recurring_held".to_owned()), "{events:?}");
    assert!(!events.iter().any(|e| e == "transfer.authorization"), "{events:?}");
    app.stop().await;
}

async fn bad_schedules_are_refused_with_a_code_and_nothing_is_stored(db: Db) {
    let app = spawn_app(db).await;
    let cases = [
        (json!({"interval_unit": "day"}), "invalid_schedule_interval"),
        (json!({"interval_count": 0}), "invalid_schedule_interval"),
        (json!({"interval_execution_day": 31}), "invalid_schedule_day"),
        (json!({"start_date": "2020-01-01"}), "invalid_schedule_date"),
        (json!({"start_date": "01/01/2027"}), "invalid_schedule_date"),
        (json!({"end_date": "2026-12-31"}), "invalid_schedule_date"),
        (json!({"start_date": "2027-01-02", "end_date": "2027-01-30"}), "empty_schedule"),
    ];
    for (change, code) in cases {
        let mut proposal = monthly(&app);
        for (key, value) in change.as_object().expect("object") {
            proposal["schedule"][key] = value.clone();
        }
        let (status, error) = body(app.propose(&proposal).await).await;
        assert_eq!((status, error_code(&error)), (StatusCode::UNPROCESSABLE_ENTITY, code), "{change}: {error}");
    }
    let mut wire = monthly(&app);
    wire["type"] = "credit".into();
    wire["network"] = "wire".into();
    wire.as_object_mut().expect("object").remove("ach_class");
    let (status, error) = body(app.propose(&wire).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_network_for_schedule"));
    let mut unknown = monthly(&app);
    unknown["schedule"]["every"] = "day".into();
    let (status, error) = body(app.propose(&unknown).await).await;
    assert!(status.is_client_error() && !error_code(&error).is_empty(), "{status} {error}");

    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transfer_requests")
        .fetch_one(app.ctx.store.reader())
        .await
        .expect("count");
    assert_eq!(stored, 0);
    app.stop().await;
}

/// Two approvers, and the request approved by both: returns the last approval's answer.
async fn approved_by_two(app: &TestApp, request: &Value) -> ([TestApprover; 2], Value) {
    let approvers =
        [app.add_approver("alice", "approver", None).await, app.add_approver("bob", "approver", None).await];
    let (status, first) = app.approve_as(&approvers[0], request).await;
    assert_eq!((status, first["state"].as_str()), (StatusCode::OK, Some("pending_approval")), "{first}");
    assert!(app.sim_calls("/transfer/recurring/create").await.is_empty(), "one approval asks Plaid nothing");
    let (status, second) = app.approve_as(&approvers[1], request).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    (approvers, second)
}

async fn the_quorum_creates_one_recurring_transfer_with_the_stored_key(db: Db) {
    let app = spawn_app(db).await;
    let request = propose_monthly(&app).await;
    let id = request["id"].as_str().expect("id");
    let (_, approved) = approved_by_two(&app, &request).await;
    assert_eq!(approved["state"], "submitted", "{approved}");
    assert_eq!(approved["transfer_status"], "active");

    let calls = app.sim_calls("/transfer/recurring/create").await;
    assert_eq!(calls.len(), 1, "exactly one create");
    let stored: String = sqlx::query_scalar("SELECT plaid_idempotency_key FROM transfer_requests WHERE id = $1")
        .bind(id)
        .fetch_one(app.ctx.store.reader())
        .await
        .expect("key");
    let sent = &calls[0]["fields"];
    assert_eq!(sent["idempotency_key"], stored.as_str(), "the key stored at proposal: {sent}");
    assert_eq!(sent["amount"], "250.00");
    assert!(app.sim_calls("/transfer/authorization/create").await.is_empty());
    assert!(app.sim_calls("/transfer/create").await.is_empty());

    let (_, shown) = body(app.get_request(id, None).await).await;
    let recurring = &shown["recurring"];
    assert!(recurring["recurring_transfer_id"].is_string(), "{shown}");
    assert_eq!(recurring["status"], "active");
    // Plaid holds exactly the schedule the approvers approved.
    let at_plaid = app
        .sim_post(
            "/transfer/recurring/get",
            json!({"client_id": "sim-client-id", "secret": "sim-secret",
                   "recurring_transfer_id": recurring["recurring_transfer_id"]}),
        )
        .await;
    let schedule = &at_plaid["recurring_transfer"]["schedule"];
    assert_eq!(
        (&schedule["interval_unit"], &schedule["interval_count"], &schedule["interval_execution_day"]),
        (&json!("month"), &json!(1), &json!(1)),
        "{at_plaid}"
    );
    assert_eq!((&schedule["start_date"], &schedule["end_date"]), (&json!("2027-01-01"), &json!("2027-12-01")));
    let rows = app.audit_rows().await;
    let executed = rows
        .iter()
        .find(|r| r.fields.event_type == "transfer.executed" && r.fields.transfer_request_id.as_deref() == Some(id))
        .expect("the execution is audited");
    assert_eq!(executed.fields.plaid_endpoint.as_deref(), Some("/transfer/recurring/create"));
    assert_eq!(executed.fields.executed_payload_hash, executed.fields.payload_hash);
    assert_eq!(rows.iter().filter(|r| r.fields.event_type == "transfer.approval").count(), 2);
    app.stop().await;
}

async fn the_agent_and_an_approver_can_cancel_a_recurring_transfer(db: Db) {
    let app = spawn_app(db).await;
    // The agent cancels its own.
    let request = propose_monthly(&app).await;
    let id = request["id"].as_str().expect("id").to_owned();
    approved_by_two(&app, &request).await;
    let (status, cancelled) = body(app.cancel(&id, "cancel-recurring").await).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(
        (cancelled["state"].as_str(), cancelled["transfer_status"].as_str()),
        (Some("submitted"), Some("cancelled"))
    );
    let (_, shown) = body(app.get_request(&id, None).await).await;
    assert_eq!(shown["recurring"]["status"], "cancelled");
    assert_eq!(app.sim_calls("/transfer/recurring/cancel").await.len(), 1);

    // An approver cancels another from its page; the audit record names them.
    let mut second = monthly(&app);
    second["amount"] = "40.00".into();
    let (_, other) = body(app.propose(&second).await).await;
    let other_id = other["id"].as_str().expect("id");
    // Fresh approvers: each approval takes two TOTP steps of its approver.
    let dave = app.add_approver("dave", "approver", None).await;
    let carol = app.add_approver("carol", "approver", None).await;
    assert_eq!(app.approve_as(&dave, &other).await.0, StatusCode::OK);
    assert_eq!(app.approve_as(&carol, &other).await.1["state"], "submitted");
    let browser = Browser::new(&app);
    browser.sign_in(&carol).await;
    let path = format!("/ui/requests/{other_id}");
    let action = format!("{path}/cancel-transfer");
    let page = browser.get(&path).await;
    assert!(page.html.contains("every month on the 1st"), "the page leads with the schedule: {}", page.html);
    assert!(page.html.contains("Cancel this recurring transfer"), "{}", page.html);
    let done = browser.submit(&path, &action, &[]).await;
    assert_eq!(location(&done), format!("{path}?m=transfer_cancelled"));
    let (_, shown) = body(app.get_request(other_id, None).await).await;
    assert_eq!(shown["recurring"]["status"], "cancelled");
    let rows = app.audit_rows().await;
    let audited = rows
        .iter()
        .find(|r| {
            r.fields.event_type == "transfer.cancel_requested"
                && r.fields.transfer_request_id.as_deref() == Some(other_id)
        })
        .expect("audited");
    assert_eq!(audited.fields.approver_id.as_deref(), Some(carol.id.as_str()));
    assert_eq!(audited.fields.plaid_endpoint.as_deref(), Some("/transfer/recurring/cancel"));
    assert!(!browser.get(&path).await.html.contains(&action), "no cancel form once cancelled");
    app.stop().await;
}

async fn a_schedule_plaid_declines_fails_with_plaids_reason_and_creates_nothing(db: Db) {
    let app = spawn_app(db).await;
    let request = propose_monthly(&app).await;
    app.set_balance("10.00").await;
    let (_, done) = approved_by_two(&app, &request).await;
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(done["decision"], "declined");
    assert_eq!(done["error"]["code"], "recurring_not_approved_by_plaid");
    assert!(done["decision_rationale"]["code"].is_string(), "{done}");
    let (_, shown) = body(app.get_request(done["id"].as_str().expect("id"), None).await).await;
    assert!(shown["recurring"]["recurring_transfer_id"].is_null());
    app.stop().await;
}

async fn occurrences_plaid_originates_appear_on_the_request(db: Db) {
    let app = spawn_app(db).await;
    let request = propose_monthly(&app).await;
    let id = request["id"].as_str().expect("id");
    approved_by_two(&app, &request).await;
    // Plaid's clock passes 2027-01-01, 02-01 and 03-01: three transfers.
    let advanced = app.sim_post("/sim/recurring/advance", json!({"to_date": "2027-03-15"})).await;
    assert_eq!(advanced["transfers_originated"], 3, "{advanced}");
    countersign::service::plaid_events::sync(&app.ctx).await.expect("event sync");
    let (_, shown) = body(app.get_request(id, None).await).await;
    let recurring = &shown["recurring"];
    assert_eq!(recurring["transfer_ids"].as_array().map(Vec::len), Some(3), "{shown}");
    assert_eq!(recurring["next_origination_date"], "2027-04-01");
    assert_eq!(recurring["status"], "active");
    assert!(app.audit_events_for(id).await.contains(&"transfer.recurring_updated".to_owned()));

    // After the last date the schedule is done: Plaid calls it expired, and so does the request.
    app.sim_post("/sim/recurring/advance", json!({"to_date": "2027-12-31"})).await;
    countersign::service::plaid_events::sync(&app.ctx).await.expect("event sync");
    let (_, shown) = body(app.get_request(id, None).await).await;
    assert_eq!(shown["recurring"]["transfer_ids"].as_array().map(Vec::len), Some(12), "{shown}");
    assert_eq!(
        (shown["recurring"]["status"].as_str(), shown["transfer_status"].as_str()),
        (Some("expired"), Some("expired"))
    );
    // Syncing again changes nothing.
    let before = app.audit_events_for(id).await.len();
    countersign::service::plaid_events::sync(&app.ctx).await.expect("event sync");
    assert_eq!(app.audit_events_for(id).await.len(), before);
    app.stop().await;
}

on_both_backends!(
    a_schedule_is_tier_three_and_waits_for_people_without_asking_plaid,
    bad_schedules_are_refused_with_a_code_and_nothing_is_stored,
    the_quorum_creates_one_recurring_transfer_with_the_stored_key,
    the_agent_and_an_approver_can_cancel_a_recurring_transfer,
    a_schedule_plaid_declines_fails_with_plaids_reason_and_creates_nothing,
    occurrences_plaid_originates_appear_on_the_request,
);
