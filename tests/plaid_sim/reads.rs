//! The read products (issue 17): every answer checked against Plaid's own response schema.

use serde_json::json;

use super::helpers::TestSim;

const READ_PATHS: [&str; 5] =
    ["/transactions/sync", "/investments/holdings/get", "/liabilities/get", "/identity/get", "/auth/get"];

#[tokio::test]
async fn every_read_product_answers_in_plaids_schema_and_the_same_way_twice() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    for path in READ_PATHS {
        let first = sim.ok(path, json!({"access_token": item.access_token})).await;
        let mut second = sim.ok(path, json!({"access_token": item.access_token})).await;
        second["request_id"] = first["request_id"].clone();
        assert_eq!(first, second, "{path} is deterministic");
    }
    let only = sim
        .ok("/auth/get", json!({"access_token": item.access_token, "options": {"account_ids": [item.savings]}}))
        .await;
    assert_eq!(only["numbers"]["ach"].as_array().map(Vec::len), Some(1));
    assert_eq!(only["numbers"]["ach"][0]["account_id"], item.savings.as_str());
    let holdings = sim.ok("/investments/holdings/get", json!({"access_token": item.access_token})).await;
    assert!(!holdings["holdings"].as_array().unwrap().is_empty());
    let liabilities = sim.ok("/liabilities/get", json!({"access_token": item.access_token})).await;
    assert!(!liabilities["liabilities"]["student"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn transactions_sync_walks_its_log_once_through_cursors() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let (mut cursor, mut added, mut modified, mut removed) = (String::new(), 0, 0, 0);
    loop {
        let page = sim
            .ok("/transactions/sync", json!({"access_token": item.access_token, "cursor": cursor, "count": 250}))
            .await;
        added += page["added"].as_array().unwrap().len();
        modified += page["modified"].as_array().unwrap().len();
        removed += page["removed"].as_array().unwrap().len();
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if page["has_more"] == false {
            break;
        }
    }
    assert_eq!((added, modified), (300, 10));
    assert!(removed > 0);
    let bad = sim.call("/transactions/sync", json!({"access_token": item.access_token, "cursor": "elsewhere"})).await;
    assert_eq!((bad.status, bad.error_code()), (400, "INVALID_FIELD"));
}

#[tokio::test]
async fn reads_fail_with_item_login_required_after_reset_login() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    sim.ok("/sandbox/item/reset_login", json!({"access_token": item.access_token})).await;
    for path in READ_PATHS {
        let answer = sim.call(path, json!({"access_token": item.access_token})).await;
        assert_eq!((answer.status, answer.error_code()), (400, "ITEM_LOGIN_REQUIRED"), "{path}");
    }
}
