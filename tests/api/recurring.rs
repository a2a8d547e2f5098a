//! Recurring transfers (issue 15.6): tier 3 whatever the amount, nothing asked of Plaid before a
//! quorum of distinct approvers with step-up approved the whole schedule, then exactly one
//! `/transfer/recurring/create` with the key stored at proposal; occurrences visible on the
//! request; cancel by the agent or an approver.

use crate::helpers::{body, error_code, spawn_app, Db, TestApp};
use crate::on_both_backends;
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

on_both_backends!(
    a_schedule_is_tier_three_and_waits_for_people_without_asking_plaid,
    bad_schedules_are_refused_with_a_code_and_nothing_is_stored,
);
