//! /transfer/list and /transfer/event/list: newest first, paged by count and offset, filtered.

use serde_json::{json, Value};

use super::helpers::{LinkedItem, TestSim};

/// Creates a transfer for `amount` and returns its id.
async fn transfer(sim: &TestSim, item: &LinkedItem, amount: &str) -> String {
    let authorization_id = sim.approved_authorization(item, amount).await;
    let created = sim.create_transfer(item, &authorization_id).await;
    created.body["transfer"]["id"].as_str().unwrap().to_owned()
}

fn ids(list: &Value, key: &str, id: &str) -> Vec<String> {
    list[key].as_array().unwrap().iter().map(|t| t[id].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn transfer_list_pages_newest_first_and_filters_by_creation_time() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let mut created = Vec::new();
    for amount in ["1.00", "2.00", "3.00"] {
        created.push(transfer(&sim, &item, amount).await);
    }
    let all = sim.ok("/transfer/list", json!({})).await;
    let listed = ids(&all, "transfers", "id");
    assert_eq!(listed.len(), 3);
    let mut expected = created.clone();
    expected.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, expected);

    let first = sim.ok("/transfer/list", json!({"count": 2})).await;
    let second = sim.ok("/transfer/list", json!({"count": 2, "offset": 2})).await;
    let paged: Vec<String> =
        ids(&first, "transfers", "id").into_iter().chain(ids(&second, "transfers", "id")).collect();
    assert_eq!(paged, listed);

    let future = sim.ok("/transfer/list", json!({"start_date": "2999-01-01T00:00:00Z"})).await;
    assert!(future["transfers"].as_array().unwrap().is_empty());
    let past = sim.ok("/transfer/list", json!({"end_date": "2999-01-01T00:00:00Z", "start_date": null})).await;
    assert_eq!(past["transfers"].as_array().unwrap().len(), 3);
    let bad = sim.call("/transfer/list", json!({"start_date": "yesterday"})).await;
    assert_eq!(bad.error_code(), "INVALID_FIELD");
    let too_many = sim.call("/transfer/list", json!({"count": 26})).await;
    assert_eq!(too_many.error_code(), "INVALID_FIELD");
}

#[tokio::test]
async fn transfer_event_list_returns_the_most_recent_matching_events_first() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let settled = transfer(&sim, &item, "5.00").await;
    let other = transfer(&sim, &item, "6.00").await;
    for event_type in ["posted", "settled"] {
        sim.ok("/sandbox/transfer/simulate", json!({"transfer_id": settled, "event_type": event_type})).await;
    }

    let all = sim.ok("/transfer/event/list", json!({})).await;
    let event_ids: Vec<u64> =
        all["transfer_events"].as_array().unwrap().iter().map(|e| e["event_id"].as_u64().unwrap()).collect();
    assert_eq!(event_ids, [4, 3, 2, 1]);
    assert_eq!(all["has_more"], false);

    let one = sim.ok("/transfer/event/list", json!({"transfer_id": settled})).await;
    let types = ids(&one, "transfer_events", "event_type");
    assert_eq!(types, ["settled", "posted", "pending"]);

    let paged = sim.ok("/transfer/event/list", json!({"count": 1, "offset": 1})).await;
    assert_eq!(paged["transfer_events"][0]["event_id"], 3);
    assert_eq!(paged["has_more"], true);

    let pending = sim.ok("/transfer/event/list", json!({"event_types": ["pending"], "transfer_type": "debit"})).await;
    let pending_for = ids(&pending, "transfer_events", "transfer_id");
    assert_eq!(pending_for, [other, settled]);

    let credits = sim.ok("/transfer/event/list", json!({"transfer_type": "credit"})).await;
    assert!(credits["transfer_events"].as_array().unwrap().is_empty());
    let sweeps = sim.ok("/transfer/event/list", json!({"sweep_id": "sweep-1"})).await;
    assert!(sweeps["transfer_events"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_transfer_is_cancellable_only_while_pending() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let id = transfer(&sim, &item, "7.00").await;
    let got = sim.ok("/transfer/get", json!({"transfer_id": id})).await;
    assert_eq!(got["transfer"]["cancellable"], true);
    sim.ok("/sandbox/transfer/simulate", json!({"transfer_id": id, "event_type": "posted"})).await;
    let posted = sim.ok("/transfer/get", json!({"transfer_id": id})).await;
    assert_eq!(posted["transfer"]["cancellable"], false);
    let refused = sim.call("/transfer/cancel", json!({"transfer_id": id})).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["error_type"], "TRANSFER_ERROR");
    assert_eq!(refused.error_code(), "TRANSFER_NOT_CANCELLABLE");
}
