//! /transfer/recurring/* and /sandbox/transfer/test_clock/*: decided at creation like an
//! authorization, idempotent on `idempotency_key`, originating ordinary transfers as their clock
//! passes each scheduled date, cancellable while active, expired after their last date.

use serde_json::{json, Value};

use super::helpers::{LinkedItem, Receiver, TestSim};

fn recurring_request(item: &LinkedItem, key: &str, amount: &str, clock: Option<&str>) -> Value {
    let mut request = json!({
        "access_token": item.access_token,
        "idempotency_key": key,
        "account_id": item.checking,
        "type": "debit",
        "network": "ach",
        "ach_class": "web",
        "amount": amount,
        "user": {"legal_name": "Ada Lovelace"},
        "description": "Rent",
        "schedule": {"interval_unit": "week", "interval_count": 1, "interval_execution_day": 1,
                     "start_date": "2027-01-01", "end_date": "2027-01-31"},
    });
    if let Some(clock) = clock {
        request["test_clock_id"] = json!(clock);
    }
    request
}

async fn clock_at(sim: &TestSim, time: &str) -> String {
    let created = sim.ok("/sandbox/transfer/test_clock/create", json!({"virtual_time": time})).await;
    assert_eq!(created["test_clock"]["virtual_time"], time);
    created["test_clock"]["test_clock_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_recurring_transfer_follows_its_test_clock_and_expires_after_its_last_date() {
    let receiver = Receiver::start().await;
    let config = countersign::plaid::sim::SimConfig { webhook_url: Some(receiver.url.clone()), ..Default::default() };
    let sim = TestSim::with_config(config).await;
    let item = sim.link_item(None).await;
    let clock = clock_at(&sim, "2026-12-31T00:00:00Z").await;
    let created = sim.ok("/transfer/recurring/create", recurring_request(&item, "rent-1", "25.00", Some(&clock))).await;
    assert_eq!(created["decision"], "approved");
    let recurring = &created["recurring_transfer"];
    let id = recurring["recurring_transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(
        (recurring["status"].as_str(), recurring["next_origination_date"].as_str()),
        (Some("active"), Some("2027-01-04"))
    );
    assert_eq!(recurring["transfer_ids"], json!([]));

    // Mondays in January 2027: the 4th, 11th, 18th and 25th.
    sim.ok(
        "/sandbox/transfer/test_clock/advance",
        json!({"test_clock_id": clock, "new_virtual_time": "2027-01-12T00:00:00Z"}),
    )
    .await;
    let got = sim.ok("/transfer/recurring/get", json!({"recurring_transfer_id": id})).await;
    let transfer_ids = got["recurring_transfer"]["transfer_ids"].as_array().unwrap().clone();
    assert_eq!(transfer_ids.len(), 2);
    assert_eq!(got["recurring_transfer"]["next_origination_date"], "2027-01-18");
    let first = sim.ok("/transfer/get", json!({"transfer_id": transfer_ids[0]})).await;
    assert_eq!(
        (first["transfer"]["recurring_transfer_id"].as_str(), first["transfer"]["amount"].as_str()),
        (Some(id.as_str()), Some("25.00"))
    );
    let pending = sim.events().await.iter().filter(|e| e["event_type"] == "pending").count();
    assert_eq!(pending, 2, "each occurrence is a transfer with its pending event");
    let hook: Value = serde_json::from_slice(&receiver.wait_for("RECURRING_NEW_TRANSFER").await.body).unwrap();
    assert_eq!(hook["recurring_transfer_id"], id.as_str());

    let clock_now = sim.ok("/sandbox/transfer/test_clock/get", json!({"test_clock_id": clock})).await;
    assert_eq!(clock_now["test_clock"]["virtual_time"], "2027-01-12T00:00:00Z");
    let back = sim
        .call(
            "/sandbox/transfer/test_clock/advance",
            json!({"test_clock_id": clock, "new_virtual_time": "2027-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!((back.status, back.error_code()), (400, "INVALID_FIELD"), "a clock never goes back");

    sim.ok(
        "/sandbox/transfer/test_clock/advance",
        json!({"test_clock_id": clock, "new_virtual_time": "2027-02-15T00:00:00Z"}),
    )
    .await;
    let done = sim.ok("/transfer/recurring/get", json!({"recurring_transfer_id": id})).await;
    assert_eq!(done["recurring_transfer"]["transfer_ids"].as_array().unwrap().len(), 4);
    assert_eq!(
        (done["recurring_transfer"]["status"].as_str(), done["recurring_transfer"]["next_origination_date"].as_str()),
        (Some("expired"), None)
    );
    let cancel = sim.call("/transfer/recurring/cancel", json!({"recurring_transfer_id": id})).await;
    assert_eq!(cancel.status, 400, "an expired recurring transfer cannot be cancelled: {}", cancel.body);
    let clocks = sim.ok("/sandbox/transfer/test_clock/list", json!({})).await;
    assert_eq!(clocks["test_clocks"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_same_key_replays_and_another_body_with_it_is_refused() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let first = sim.ok("/transfer/recurring/create", recurring_request(&item, "key-1", "25.00", None)).await;
    let again = sim.ok("/transfer/recurring/create", recurring_request(&item, "key-1", "25.00", None)).await;
    assert_eq!(
        first["recurring_transfer"]["recurring_transfer_id"],
        again["recurring_transfer"]["recurring_transfer_id"]
    );
    let other = sim.call("/transfer/recurring/create", recurring_request(&item, "key-1", "26.00", None)).await;
    assert_eq!((other.status, other.error_code()), (400, "INVALID_FIELD"));
    let listed = sim.ok("/transfer/recurring/list", json!({})).await;
    assert_eq!(listed["recurring_transfers"].as_array().unwrap().len(), 1);
    assert_eq!(sim.sim_calls("/transfer/recurring/create").await.len(), 3);
}

#[tokio::test]
async fn a_debit_beyond_the_balance_is_declined_and_nothing_recurs() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    sim.set_available(&item.checking, "10.00").await;
    let declined = sim.ok("/transfer/recurring/create", recurring_request(&item, "nsf-1", "25.00", None)).await;
    assert_eq!(
        (declined["decision"].as_str(), declined["decision_rationale"]["code"].as_str()),
        (Some("declined"), Some("NSF"))
    );
    assert!(declined["recurring_transfer"].is_null());
    let listed = sim.ok("/transfer/recurring/list", json!({})).await;
    assert_eq!(listed["recurring_transfers"], json!([]));
}

#[tokio::test]
async fn bad_schedules_and_networks_are_refused_as_plaid_does() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let with = |change: Value| {
        let mut request = recurring_request(&item, "bad", "25.00", None);
        for (key, value) in change.as_object().unwrap() {
            request["schedule"][key] = value.clone();
        }
        request
    };
    for change in [
        json!({"interval_execution_day": 6}),
        json!({"interval_unit": "month", "interval_execution_day": 29}),
        json!({"start_date": "2020-01-01"}),
        json!({"end_date": "2026-12-31"}),
    ] {
        let refused = sim.call("/transfer/recurring/create", with(change.clone())).await;
        assert_eq!((refused.status, refused.error_code()), (400, "INVALID_FIELD"), "{change}: {}", refused.body);
    }
    let mut wire = recurring_request(&item, "wire", "25.00", None);
    wire["network"] = json!("wire");
    wire["type"] = json!("credit");
    wire.as_object_mut().unwrap().remove("ach_class");
    assert_eq!(sim.call("/transfer/recurring/create", wire).await.status, 400);
    let mut unknown = recurring_request(&item, "unknown", "25.00", None);
    unknown["every"] = json!("day");
    assert_eq!(sim.call("/transfer/recurring/create", unknown).await.error_code(), "UNKNOWN_FIELDS");
    let mut long_key = recurring_request(&item, &"k".repeat(51), "25.00", None);
    long_key["description"] = json!("Rent");
    assert_eq!(sim.call("/transfer/recurring/create", long_key).await.status, 400);
}

#[tokio::test]
async fn cancelling_stops_future_transfers_and_the_sim_control_moves_clockless_schedules() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let created = sim.ok("/transfer/recurring/create", recurring_request(&item, "c-1", "25.00", None)).await;
    let id = created["recurring_transfer"]["recurring_transfer_id"].as_str().unwrap().to_owned();
    let advance =
        |to: &str| sim.http.post(format!("{}/sim/recurring/advance", sim.base)).json(&json!({"to_date": to})).send();
    let moved: Value = advance("2027-01-05").await.unwrap().json().await.unwrap();
    assert_eq!(moved["transfers_originated"], 1, "{moved}");
    sim.ok("/transfer/recurring/cancel", json!({"recurring_transfer_id": id})).await;
    advance("2027-01-30").await.unwrap();
    let got = sim.ok("/transfer/recurring/get", json!({"recurring_transfer_id": id})).await;
    assert_eq!(got["recurring_transfer"]["status"], "cancelled");
    assert_eq!(got["recurring_transfer"]["transfer_ids"].as_array().unwrap().len(), 1, "no transfer after the cancel");
    let twice = sim.call("/transfer/recurring/cancel", json!({"recurring_transfer_id": id})).await;
    assert_eq!(twice.status, 400);
    assert_eq!(advance("2027-01-01").await.unwrap().status(), 409, "the sim's date never goes back");
    let unknown = sim.call("/transfer/recurring/get", json!({"recurring_transfer_id": "nope"})).await;
    assert_eq!(unknown.error_code(), "INVALID_FIELD");
}
