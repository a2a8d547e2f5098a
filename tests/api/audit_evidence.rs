//! Per-transfer evidence for compliance, and PII retention (run with 0 days).

use crate::audit_export::compliance_session;
use crate::helpers::{body, error_code, spawn_app, Db, TestApp};
use crate::on_both_backends;
use countersign::audit::checkpoint::Checkpoint;
use countersign::audit::export::ExportRecord;
use countersign::audit::record_hash;
use countersign::service::retention;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

async fn evidence(app: &TestApp, session: &str, id: &str) -> (StatusCode, Value) {
    let url = format!("{}/v1/transfers/{id}/evidence", app.address);
    body(app.client.get(url).bearer_auth(session).send().await.expect("sent")).await
}

async fn evidence_proves_who_approved_what_and_what_executed(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("2500.00").await; // step-up
    let id = request["id"].as_str().expect("id");
    assert_eq!(app.approve_as(&alice, &request).await.0, StatusCode::OK);
    let (status, error) = evidence(&app, &app.sign_in(&alice).await, id).await;
    assert_eq!((status, error_code(&error)), (StatusCode::FORBIDDEN, "not_compliance"));

    let session = compliance_session(&app).await;
    let (status, doc) = evidence(&app, &session, id).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["payload_hash"], request["payload_hash"]);
    assert_eq!(doc["executed_payload_hash"], request["payload_hash"], "what executed is what was approved");
    let approval = &doc["approvals"][0];
    assert_eq!(
        (approval["approver_id"].as_str(), approval["payload_hash"].clone()),
        (Some(alice.id.as_str()), request["payload_hash"].clone())
    );
    assert!(approval["step_up_at"].as_str().is_some(), "step-up time: {approval}");
    assert_eq!(doc["plaid"]["authorization_id"], request["authorization_id"]);
    assert!(doc["plaid"]["transfer_id"].as_str().is_some());
    assert!(!doc["plaid"]["plaid_request_ids"].as_array().expect("ids").is_empty());

    // The chain proof: each record hashes to its link, and a valid signed checkpoint covers them.
    let records: Vec<ExportRecord> = serde_json::from_value(doc["records"].clone()).expect("records");
    assert!(records.iter().any(|r| r.event_type == "transfer.executed"));
    for record in records {
        let row = record.into_row().expect("round trips");
        assert_eq!(row.hash, record_hash(row.seq, &row.fields, &row.prev_hash));
    }
    let checkpoint: Checkpoint = serde_json::from_value(doc["chain_proof"]["checkpoint"].clone()).expect("checkpoint");
    let key = doc["chain_proof"]["public_key"].as_str().expect("key");
    assert_eq!(checkpoint.verify_signature(Some(key)), Ok(()));
    let last_link = doc["chain_proof"]["links"].as_array().and_then(|l| l.last()).expect("links")["seq"].as_i64();
    assert!(last_link.is_some_and(|seq| checkpoint.seq >= seq));
    app.stop().await;
}

async fn legal_names_are_purged_after_retention_leaving_the_hash(db: Db) {
    let app = spawn_app(db).await;
    let open = app.propose_ok("10.00").await;
    let done = app.propose_ok("20.00").await;
    let id = done["id"].as_str().expect("id");
    app.cancel(id, "c").await;
    let purged = retention::purge_once(&app.ctx, Duration::ZERO).await.expect("purges");
    assert_eq!(purged, 1, "only the request in a terminal state");
    assert_eq!(retention::purge_once(&app.ctx, Duration::ZERO).await.expect("purges"), 0, "once");

    let session = compliance_session(&app).await;
    let (_, doc) = evidence(&app, &session, id).await;
    assert_eq!(doc["request"]["intent"]["user"]["legal_name"], "REDACTED");
    assert!(doc["request"]["pii_purged_at"].as_str().is_some());
    assert_eq!(doc["payload_hash"], done["payload_hash"], "the hash stays");
    assert!(doc["records"].as_array().expect("records").iter().any(|r| r["event_type"] == "transfer.pii_purged"));
    let (_, still) = evidence(&app, &session, open["id"].as_str().expect("id")).await;
    assert_eq!(still["request"]["intent"]["user"]["legal_name"], "Ada Lovelace", "not terminal: kept");
    app.stop().await;
}

on_both_backends!(
    evidence_proves_who_approved_what_and_what_executed,
    legal_names_are_purged_after_retention_leaving_the_hash
);
