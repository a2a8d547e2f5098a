//! A simulator with a state file: a restart keeps its items, authorizations and transfers.

use super::helpers::TestSim;

#[tokio::test]
async fn a_restarted_simulator_keeps_its_authorizations_and_creates_each_transfer_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plaid-sim.json");
    let first = TestSim::with_state_file(&file).await;
    let item = first.link_item(None).await;
    let authorization_id = first.approved_authorization(&item, "25.00").await;

    let second = TestSim::with_state_file(&file).await;
    let created = second.create_transfer(&item, &authorization_id).await;
    assert_eq!(created.status, 200, "{}", created.body);

    let third = TestSim::with_state_file(&file).await;
    let again = third.create_transfer(&item, &authorization_id).await;
    assert_eq!(again.body["transfer"]["id"], created.body["transfer"]["id"]);
    let pending = third.events().await.into_iter().filter(|e| e["event_type"] == "pending").count();
    assert_eq!(pending, 1, "one transfer across three processes");
}

#[tokio::test]
async fn an_unreadable_state_file_stops_the_simulator_instead_of_starting_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plaid-sim.json");
    std::fs::write(&file, "not json").unwrap();
    let refused = countersign::plaid::sim::Simulator::with_state_file(Default::default(), &file);
    assert!(refused.is_err());
}
