//! Reads that succeed: Plaid's shape, one audit record per call, tiers, sync paging, the approvers' page.

use super::{read, read_records, reader, ALL_PATHS, ALL_PRODUCTS};
use crate::helpers::{body, error_code, spawn_app, Db};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::json;

async fn a_granted_agent_reads_balances_in_plaids_shape_with_one_audit_record_per_call(db: Db) {
    let app = spawn_app(db).await;
    let key = reader(&app, "balances", &["balance"], &[]).await;
    let response = read(&app, &key, "/accounts/balance/get", json!({"thread_id": "cash-watch"})).await;
    assert_eq!(response.headers()["ratelimit-limit"], "600");
    assert_eq!(response.headers()["ratelimit-remaining"], "599");
    assert!(response.headers().contains_key("ratelimit-reset"));
    let text = response.text().await.expect("body");
    assert!(!text.contains(&app.access_token), "the access token reached the agent");
    let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(answer["accounts"].as_array().map(Vec::len), Some(2), "{answer}");
    assert_eq!(answer["accounts"][0]["balances"]["iso_currency_code"], "USD");
    let plaid_request_id = answer["request_id"].as_str().expect("Plaid's request_id").to_owned();

    let records = read_records(&app).await;
    assert_eq!(records.len(), 1);
    let f = &records[0].fields;
    assert_eq!(f.event_type, "plaid.read");
    assert_eq!(f.action_type.as_deref(), Some("read"));
    assert_eq!(f.plaid_product.as_deref(), Some("balance"));
    assert_eq!(f.plaid_endpoint.as_deref(), Some("/accounts/balance/get"));
    assert_eq!(f.risk_tier, Some(0));
    assert_eq!(f.approval_required, Some(false));
    assert_eq!(f.plaid_request_id.as_deref(), Some(plaid_request_id.as_str()));
    assert_eq!(f.thread_id.as_deref(), Some("cash-watch"));
    assert_eq!(f.outcome, "success");
    let accounts = f.account_id.clone().expect("masked accounts");
    assert!(accounts.contains("••") && !accounts.contains(&app.account_id), "{accounts}");
    assert!(f.plaid_item_id.is_some());
    app.stop().await;
}

async fn every_read_endpoint_answers_at_its_default_tier(db: Db) {
    let app = spawn_app(db).await;
    let key = reader(&app, "everything", &ALL_PRODUCTS, &[]).await;
    let expected_keys: [&[&str]; 7] = [
        &["accounts", "item"],
        &["accounts", "item"],
        &["accounts", "added", "modified", "removed", "next_cursor", "has_more", "transactions_update_status"],
        &["accounts", "holdings", "securities", "item"],
        &["accounts", "liabilities", "item"],
        &["accounts", "item"],
        &["accounts", "numbers", "item"],
    ];
    for (path, keys) in ALL_PATHS.iter().zip(expected_keys) {
        let (status, answer) = body(read(&app, &key, path, json!({"reason": "monthly review"})).await).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        for key in keys.iter().chain(&["request_id"]) {
            assert!(answer.get(key).is_some(), "{path} lacks {key}: {answer}");
        }
    }
    let records = read_records(&app).await;
    let tiers: Vec<(String, i64)> = records
        .iter()
        .map(|r| (r.fields.plaid_product.clone().unwrap_or_default(), r.fields.risk_tier.unwrap_or(-1)))
        .collect();
    let expected: Vec<(String, i64)> =
        ALL_PRODUCTS.iter().map(|p| (p.to_string(), i64::from(matches!(*p, "identity" | "auth")))).collect();
    assert_eq!(tiers, expected, "one record per Plaid call, tiers per DESIGN §5");
    app.stop().await;
}

async fn transactions_sync_pages_through_added_modified_and_removed_with_cursors(db: Db) {
    let app = spawn_app(db).await;
    let key = reader(&app, "ledger", &["transactions"], &[]).await;
    let (mut added, mut modified, mut removed, mut pages) = (0, 0, 0, 0);
    let mut cursor = String::new();
    loop {
        let (status, page) =
            body(read(&app, &key, "/transactions/sync", json!({"cursor": cursor, "count": 100})).await).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        added += page["added"].as_array().map_or(0, Vec::len);
        modified += page["modified"].as_array().map_or(0, Vec::len);
        removed += page["removed"].as_array().map_or(0, Vec::len);
        cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
        if page["has_more"] == false {
            break;
        }
        assert!(pages < 20, "paging does not end");
    }
    assert_eq!(added, 300, "a few hundred transactions");
    assert!(modified > 0 && removed > 0, "modified {modified}, removed {removed}");
    assert!(pages >= 4);
    let (_, after) = body(read(&app, &key, "/transactions/sync", json!({"cursor": cursor})).await).await;
    assert_eq!(after["added"], json!([]), "nothing new after the last cursor");
    assert_eq!(after["has_more"], false);

    let one_account = json!({"options": {"account_id": app.account_id}, "count": 500});
    let (_, page) = body(read(&app, &key, "/transactions/sync", one_account).await).await;
    let added = page["added"].as_array().expect("added");
    assert!(!added.is_empty() && added.iter().all(|t| t["account_id"] == app.account_id.as_str()));

    let (status, refused) = body(read(&app, &key, "/transactions/sync", json!({"cursor": "not-a-cursor"})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&refused), "plaid_error");
    assert_eq!(refused["error"]["plaid"]["error_code"], "INVALID_FIELD");
    assert!(refused["error"]["plaid"]["request_id"].is_string(), "{refused}");
    app.stop().await;
}

async fn tier_one_reads_need_a_reason_and_are_listed_for_approvers(db: Db) {
    let app = spawn_app(db).await;
    let key = reader(&app, "kyc-bot", &["identity"], &[]).await;
    let before = app.sim_calls("/identity/get").await.len();
    let (status, refused) = body(read(&app, &key, "/identity/get", json!({})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&refused), "reason_required");
    assert_eq!(app.sim_calls("/identity/get").await.len(), before, "Plaid was called without a reason");

    let reason = "verify the payee before invoice 42";
    let response = read(&app, &key, "/identity/get", json!({"reason": reason})).await;
    assert_eq!(response.status(), StatusCode::OK);

    let approver = app.add_approver("reviewer", "approver", None).await;
    let browser = crate::ui::Browser::new(&app);
    browser.sign_in(&approver).await;
    let page = browser.get("/ui/reads").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains(reason), "the reason is listed");
    assert!(page.html.contains("identity") && page.html.contains(&app.item_id.to_string()));
    assert!(!page.html.contains("Alberta"), "the page shows no data that was read");
    let notices = app.team_notices().await;
    assert!(notices.iter().any(|n| n.contains("read identity")), "announced through the outbox: {notices:?}");
    assert!(!notices.iter().any(|n| n.contains(reason)), "the agent's free text stays out of alerts");
    app.stop().await;
}

async fn concurrent_reads_each_leave_exactly_one_audit_record_in_an_unbroken_chain(db: Db) {
    let app = spawn_app(db).await;
    let key = reader(&app, "burst", &["balance", "accounts"], &[]).await;
    let paths = ["/accounts/balance/get", "/accounts/get"];
    let reads = (0..40).map(|n| read(&app, &key, paths[n % 2], json!({"thread_id": format!("t{n}")})));
    for response in futures::future::join_all(reads).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let records = read_records(&app).await;
    let mut threads: Vec<String> = records.iter().filter_map(|r| r.fields.thread_id.clone()).collect();
    threads.sort();
    threads.dedup();
    assert_eq!((records.len(), threads.len()), (40, 40), "one record per read, none lost or doubled");
    let rows = app.audit_rows().await;
    for pair in rows.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "the chain links every record");
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    app.stop().await;
}

on_both_backends!(
    concurrent_reads_each_leave_exactly_one_audit_record_in_an_unbroken_chain,
    a_granted_agent_reads_balances_in_plaids_shape_with_one_audit_record_per_call,
    every_read_endpoint_answers_at_its_default_tier,
    transactions_sync_pages_through_added_modified_and_removed_with_cursors,
    tier_one_reads_need_a_reason_and_are_listed_for_approvers,
);
