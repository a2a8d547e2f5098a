//! After `/transfer/create`: Plaid's transfer events, synced from the durable cursor, carry a
//! submitted request's transfer to settlement or return — forward only, each event once.

use crate::helpers::{body, spawn_app, spawn_app_with, Db, Options, TestApp};
use crate::on_both_backends;
use countersign::service::plaid_events;
use serde_json::{json, Value};
use std::time::Duration;

/// A request approved and submitted; returns its view.
async fn submitted(app: &TestApp) -> Value {
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("21.00").await;
    let (_, done) = app.approve_as(&alice, &request).await;
    assert_eq!(done["state"], "submitted", "{done}");
    done
}

async fn simulate(app: &TestApp, transfer_id: &str, event_type: &str, failure: Option<Value>) {
    let mut call = json!({"client_id": "sim-client-id", "secret": "sim-secret", "transfer_id": transfer_id, "event_type": event_type});
    if let Some(failure) = failure {
        call["failure_reason"] = failure;
    }
    app.sim_post("/sandbox/transfer/simulate", call).await;
}

async fn view(app: &TestApp, id: &str) -> Value {
    body(app.get_request(id, None).await).await.1
}

async fn stored_events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM transfer_events").fetch_one(app.ctx.store.reader()).await.expect("count")
}

/// No webhook reaches this service (the simulator has no URL for it): every step is found by the
/// periodic poll alone, as after a lost webhook.
async fn a_debit_is_followed_to_funds_available_and_every_step_is_audited(db: Db) {
    let app = spawn_app(db).await;
    let done = submitted(&app).await;
    let (id, transfer_id) = (done["id"].as_str().expect("id"), done["transfer_id"].as_str().expect("transfer"));
    assert_eq!(done["transfer_status"], "pending");
    for step in ["posted", "settled", "funds_available"] {
        simulate(&app, transfer_id, step, None).await;
        app.eventually(step, || async { view(&app, id).await["transfer_status"] == step }).await;
    }
    let webhooks = app.metric("countersign_plaid_webhooks_total{outcome=\"verified\"}").await.unwrap_or(0.0);
    assert_eq!(webhooks, 0.0, "no webhook arrived: the poll found every step");
    let seen = view(&app, id).await;
    let types: Vec<_> = seen["transfer_events"].as_array().expect("events").iter().map(|e| e["type"].clone()).collect();
    assert_eq!(types, [json!("pending"), json!("posted"), json!("settled"), json!("funds_available")], "{seen}");
    assert!(seen.get("return").is_none() && seen.get("failure").is_none(), "{seen}");
    let audited = app.audit_events_for(id).await;
    for step in ["transfer.posted", "transfer.settled", "transfer.funds_available"] {
        assert_eq!(audited.iter().filter(|e| *e == step).count(), 1, "{step} once: {audited:?}");
    }
    // Each status change names the Plaid event it answers to and the sync call that read it.
    let rows = app.audit_rows().await;
    for event in seen["transfer_events"].as_array().expect("events").iter().skip(1) {
        let step = format!("transfer.{}", event["type"].as_str().expect("type"));
        let row = rows.iter().find(|r| r.fields.event_type == step).expect("audited step");
        assert_eq!(row.fields.plaid_event_id, event["event_id"].as_i64(), "{step}: {event}");
        assert_eq!(row.fields.plaid_endpoint.as_deref(), Some("/transfer/event/sync"));
        assert!(row.fields.plaid_request_id.is_some(), "{step}");
    }
    let session = crate::audit_export::compliance_session(&app).await;
    let export = crate::audit_export::export(&app, &session, &[("format", "jsonl")]).await;
    let text = export.text().await.expect("export body");
    let settled = text.lines().find(|line| line.contains("\"transfer.settled\"")).expect("settled exported");
    let settled: Value = serde_json::from_str(settled).expect("json line");
    assert!(settled["plaid_event_id"].as_i64().is_some(), "{settled}");
    app.stop().await;
}

async fn a_return_keeps_its_ach_code_and_description_and_can_be_listed(db: Db) {
    let app = spawn_app(db).await;
    let done = submitted(&app).await;
    let (id, transfer_id) = (done["id"].as_str().expect("id"), done["transfer_id"].as_str().expect("transfer"));
    simulate(&app, transfer_id, "posted", None).await;
    let reason = json!({"failure_code": "R01", "description": "Insufficient funds"});
    simulate(&app, transfer_id, "returned", Some(reason)).await;
    app.eventually("returned", || async { view(&app, id).await["transfer_status"] == "returned" }).await;
    let seen = view(&app, id).await;
    assert_eq!(seen["return"], json!({"code": "R01", "description": "Insufficient funds"}), "{seen}");
    assert_eq!(seen["state"], "submitted", "the request itself stays submitted; its transfer came back");

    let list = |filter: &'static str| {
        app.client
            .get(format!("{}/v1/transfers?transfer_status={filter}", app.address))
            .bearer_auth(&app.api_key)
            .send()
    };
    let (_, returned) = body(list("returned").await.expect("list")).await;
    assert_eq!(returned["items"].as_array().map(Vec::len), Some(1), "{returned}");
    let (_, settled) = body(list("settled").await.expect("list")).await;
    assert_eq!(settled["items"].as_array().map(Vec::len), Some(0));
    let (status, refused) = body(list("nonsense").await.expect("list")).await;
    assert_eq!((status.as_u16(), refused["error"]["code"].as_str()), (400, Some("invalid_transfer_status_filter")));
    app.stop().await;
}

async fn events_are_stored_once_across_pages_repeats_and_racing_replicas(db: Db) {
    // No background poll: this test drives the syncs.
    let options = Options { event_sync_interval: Duration::from_secs(3600), ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let done = submitted(&app).await;
    let (id, transfer_id) = (done["id"].as_str().expect("id"), done["transfer_id"].as_str().expect("transfer"));
    for step in ["posted", "settled", "funds_available"] {
        simulate(&app, transfer_id, step, None).await;
    }
    // One event per page: the sync must follow has_more to the end in one call.
    let mut small_pages = app.ctx.clone();
    small_pages.event_sync_page = 1;
    let first = plaid_events::sync(&small_pages).await.expect("sync");
    assert_eq!((first.ran, first.events, first.changes), (true, 4, 3), "four events, three steps forward");
    assert_eq!(view(&app, id).await["transfer_status"], "funds_available");

    // Again, from two processes at once: nothing new, nothing twice.
    let replica = app.spawn_replica().await;
    let mut other = app.ctx.clone();
    other.instance = "another-replica".into();
    let (a, b) = tokio::join!(plaid_events::sync(&app.ctx), plaid_events::sync(&other));
    let (a, b) = (a.expect("sync"), b.expect("sync"));
    assert_eq!((a.events + b.events, a.changes + b.changes), (0, 0));
    assert_eq!(stored_events(&app).await, 4);
    let audited = app.audit_events_for(id).await;
    assert_eq!(audited.iter().filter(|e| e.starts_with("transfer.funds_available")).count(), 1, "{audited:?}");
    replica.stop().await;
    app.stop().await;
}

async fn a_transfer_is_cancelled_at_plaid_only_before_it_moves(db: Db) {
    let app = spawn_app(db).await;
    let first = submitted(&app).await;
    let id = first["id"].as_str().expect("id");
    let response = app.cancel(id, "cancel-1").await;
    assert_eq!(response.status().as_u16(), 200);
    let bytes = response.bytes().await.expect("body");
    let cancelled: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(
        (cancelled["state"].as_str(), cancelled["transfer_status"].as_str()),
        (Some("submitted"), Some("cancelled"))
    );
    let again = app.cancel(id, "cancel-1").await.bytes().await.expect("body");
    assert_eq!(again, bytes, "the same key replays the same answer");
    let cancels = app.sim_calls("/transfer/cancel").await;
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    // Plaid's own `cancelled` event, synced later, changes nothing more.
    app.eventually("the cancelled event is stored", || async { stored_events(&app).await >= 2 }).await;
    assert_eq!(app.audit_events_for(id).await.iter().filter(|e| e.starts_with("transfer.cancel")).count(), 1);

    let second = submitted_again(&app).await;
    let (id, transfer_id) = (second["id"].as_str().expect("id"), second["transfer_id"].as_str().expect("transfer"));
    simulate(&app, transfer_id, "posted", None).await;
    let (status, refused) = body(app.cancel(id, "cancel-2").await).await;
    assert_eq!(
        (status.as_u16(), refused["error"]["code"].as_str()),
        (409, Some("transfer_not_cancellable")),
        "{refused}"
    );
    app.stop().await;
}

async fn a_long_poll_on_a_submitted_request_wakes_when_its_transfer_moves(db: Db) {
    let app = spawn_app(db).await;
    let done = submitted(&app).await;
    let (id, transfer_id) = (done["id"].as_str().expect("id"), done["transfer_id"].as_str().expect("transfer"));
    let (_, now) = body(app.get_request(id, None).await).await;
    assert_eq!(now["item_health"], "healthy", "{now}");
    let started = std::time::Instant::now();
    let long_poll = async {
        let url = format!("{}/v1/transfers/{id}?wait=30&changed_from=pending", app.address);
        body(app.client.get(url).bearer_auth(&app.api_key).send().await.expect("sent")).await.1
    };
    let (waited, ()) = tokio::join!(long_poll, simulate(&app, transfer_id, "posted", None));
    assert_eq!(waited["transfer_status"], "posted", "{waited}");
    assert!(started.elapsed() < Duration::from_secs(20), "woke on the change, not at the deadline");
    app.stop().await;
}

/// Another submitted request, by an approver other than the first test approver.
async fn submitted_again(app: &TestApp) -> Value {
    let bob = app.add_approver("bob", "approver", None).await;
    let request = app.propose_ok("22.00").await;
    let (_, done) = app.approve_as(&bob, &request).await;
    assert_eq!(done["state"], "submitted", "{done}");
    done
}

/// A transfer created outside Countersign (on the same Plaid account), and event types the status
/// machine does not know — sweeps, refunds, types Plaid adds later — are stored once and change
/// nothing; our transfer still moves on its own events.
async fn foreign_transfers_and_unknown_event_types_are_stored_and_change_nothing(db: Db) {
    let options = Options { event_sync_interval: Duration::from_secs(3600), ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let done = submitted(&app).await;
    let (id, ours) = (done["id"].as_str().expect("id"), done["transfer_id"].as_str().expect("transfer"));
    let foreign = transfer_made_elsewhere(&app).await;
    simulate(&app, &foreign, "posted", None).await;
    for odd in ["swept", "refund.pending", "a_type_plaid_adds_next_year"] {
        assert!(app.simulator.push_transfer_event(ours, odd), "{odd}");
    }
    simulate(&app, ours, "posted", None).await;
    let audit_before = app.audit_rows().await.len();

    let synced = plaid_events::sync(&app.ctx).await.expect("sync");
    // ours: pending, 3 odd ones, posted; foreign: pending, posted.
    assert_eq!((synced.events, synced.changes), (7, 1), "{synced:?}");
    assert_eq!(stored_events(&app).await, 7);
    let seen = view(&app, id).await;
    assert_eq!(seen["transfer_status"], "posted", "{seen}");
    let types: Vec<_> = seen["transfer_events"].as_array().expect("events").iter().map(|e| e["type"].clone()).collect();
    assert_eq!(types.len(), 5, "the odd events are shown with the request's own: {types:?}");
    let unlinked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transfer_events WHERE request_id IS NULL")
        .fetch_one(app.ctx.store.reader())
        .await
        .expect("count");
    assert_eq!(unlinked, 2, "the foreign transfer's events are kept, linked to no request");
    countersign::audit::chain::settle(&app.ctx.store).await.expect("chain");
    let added: Vec<_> = app.audit_rows().await.into_iter().skip(audit_before).map(|r| r.fields.event_type).collect();
    assert_eq!(added, ["transfer.posted"], "only our transfer's real step is audited");
    app.stop().await;
}

/// A transfer someone created directly at Plaid on a new sandbox item: Countersign never saw it.
async fn transfer_made_elsewhere(app: &TestApp) -> String {
    let token = crate::helpers::sandbox_access_token(&app.client, &app.sim_url).await;
    let creds = json!({"client_id": "sim-client-id", "secret": "sim-secret", "access_token": token});
    let accounts = app.sim_post("/accounts/get", creds.clone()).await;
    let account_id = accounts["accounts"][0]["account_id"].clone();
    let mut authorize = creds.clone();
    let fields = json!({"account_id": account_id, "type": "debit", "network": "ach", "amount": "5.00",
        "ach_class": "web", "user": {"legal_name": "Someone Else"}});
    authorize.as_object_mut().expect("object").extend(fields.as_object().expect("object").clone());
    let authorization = app.sim_post("/transfer/authorization/create", authorize).await;
    let mut create = creds;
    let more = json!({"account_id": account_id, "authorization_id": authorization["authorization"]["id"],
        "description": "elsewhere"});
    create.as_object_mut().expect("object").extend(more.as_object().expect("object").clone());
    let created = app.sim_post("/transfer/create", create).await;
    created["transfer"]["id"].as_str().expect("foreign transfer id").to_owned()
}

on_both_backends!(
    a_long_poll_on_a_submitted_request_wakes_when_its_transfer_moves,
    a_transfer_is_cancelled_at_plaid_only_before_it_moves,
    a_debit_is_followed_to_funds_available_and_every_step_is_audited,
    a_return_keeps_its_ach_code_and_description_and_can_be_listed,
    events_are_stored_once_across_pages_repeats_and_racing_replicas,
    foreign_transfers_and_unknown_event_types_are_stored_and_change_nothing,
);
