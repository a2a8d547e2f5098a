//! Agent callbacks: every event of the agent's requests reaches its URL once, signed the Standard
//! Webhooks way (checked with the official library), with the request as `GET` shows it.

use super::receiver::{verified_with, Receiver};
use crate::helpers::{body, spawn_app, spawn_app_with, Db, Options, TestApp};
use crate::on_both_backends;
use countersign::service::outbound;
use serde_json::{json, Value};
use std::time::Duration;

/// Points the test agent's callbacks at `receiver`; returns its signing secret.
pub async fn call_back_to(app: &TestApp, receiver: &Receiver) -> String {
    outbound::set_callback(&app.ctx, "test-agent", Some(&receiver.url))
        .await
        .expect("callback set")
        .expect("a first secret")
}

/// Messages of `channel` in the outbox that are delivered, and all of them.
pub async fn outbox_counts(app: &TestApp, channel: &str) -> (i64, i64) {
    let delivered: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE channel = $1 AND state = 'delivered'")
        .bind(channel)
        .fetch_one(app.ctx.store.reader())
        .await
        .expect("count");
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE channel = $1")
        .bind(channel)
        .fetch_one(app.ctx.store.reader())
        .await
        .expect("count");
    (delivered, all)
}

/// `(request id, type)` of every callback the receiver got.
fn events(receiver: &Receiver) -> Vec<(String, String)> {
    receiver
        .hits()
        .iter()
        .map(|hit| {
            let v = hit.json();
            (v["data"]["id"].as_str().unwrap_or_default().to_owned(), v["type"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

async fn simulate(app: &TestApp, transfer_id: &str, event_type: &str, failure: Option<Value>) {
    let mut call = json!({"client_id": "sim-client-id", "secret": "sim-secret", "transfer_id": transfer_id, "event_type": event_type});
    if let Some(failure) = failure {
        call["failure_reason"] = failure;
    }
    app.sim_post("/sandbox/transfer/simulate", call).await;
}

async fn every_event_type_reaches_the_agent_once_with_a_valid_signature(db: Db) {
    let app = spawn_app(db).await;
    let receiver = Receiver::start().await;
    let secret = call_back_to(&app, &receiver).await;
    let alice = app.add_approver("alice", "approver", None).await;

    let settled = app.propose_ok("21.00").await;
    let (_, done) = app.approve_as(&alice, &settled).await;
    let transfer = done["transfer_id"].as_str().expect("transfer").to_owned();
    simulate(&app, &transfer, "posted", None).await;
    simulate(&app, &transfer, "settled", None).await;
    let returned = app.propose_ok("22.00").await;
    let (_, done) = app.approve_as(&alice, &returned).await;
    let returned_transfer = done["transfer_id"].as_str().expect("transfer").to_owned();
    simulate(&app, &returned_transfer, "posted", None).await;
    let reason = json!({"failure_code": "R01", "description": "Insufficient funds"});
    simulate(&app, &returned_transfer, "returned", Some(reason)).await;
    let rejected = app.propose_ok("23.00").await;
    let session = app.sign_in(&alice).await;
    let rejected_id = rejected["id"].as_str().expect("id");
    let path = format!("/v1/transfers/{rejected_id}/reject");
    let response = app.approver_post(&session, &path, json!({"reason": "not this month"})).await;
    assert!(response.status().is_success());
    let cancelled = app.propose_ok("24.00").await;
    assert!(app.cancel(cancelled["id"].as_str().expect("id"), "cancel-1").await.status().is_success());
    app.set_balance("1.00").await;
    let declined = app.propose_ok("25.00").await;
    assert_eq!(declined["state"], "declined");

    let id = |v: &Value| v["id"].as_str().expect("id").to_owned();
    let mut expected: Vec<(String, String)> = Vec::new();
    for (request, types) in [
        (&settled, &["pending_approval", "approved", "submitted", "posted", "settled"][..]),
        (&returned, &["pending_approval", "approved", "submitted", "posted", "returned"][..]),
        (&rejected, &["pending_approval", "rejected"][..]),
        (&cancelled, &["pending_approval", "cancelled"][..]),
        (&declined, &["declined"][..]),
    ] {
        expected.extend(types.iter().map(|t| (id(request), format!("transfer.{t}"))));
    }
    app.eventually("every callback", || async { events(&receiver).len() >= expected.len() }).await;
    app.eventually("recorded as delivered", || async {
        let (delivered, all) = outbox_counts(&app, "agent_callback").await;
        delivered == all
    })
    .await;

    let mut got = events(&receiver);
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "each event exactly once");
    let hits = receiver.hits();
    assert!(verified_with(&secret, &hits).iter().all(|ok| *ok), "every signature verifies");
    assert!(!verified_with("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &hits[..1])[0], "another secret does not");
    for hit in &hits {
        let event = hit.json();
        assert!(hit.header("webhook-id").is_some_and(|id| id.starts_with("msg_")), "{hit:?}");
        assert!(event["created_at"].as_str().is_some(), "{event}");
        assert!(event["data"]["intent"].is_object() && event["data"]["item_health"] == "healthy", "{event}");
    }
    let find = |request: &Value, t: &str| {
        hits.iter().map(|h| h.json()).find(|e| e["data"]["id"] == request["id"] && e["type"] == t).expect(t)
    };
    assert_eq!(find(&rejected, "transfer.rejected")["data"]["rejection_reason"], "not this month");
    let returned_event = find(&returned, "transfer.returned");
    assert_eq!(returned_event["data"]["return"]["code"], "R01", "{returned_event}");
    assert_eq!(returned_event["data"]["transfer_status"], "returned");
    let events_seen = returned_event["data"]["transfer_events"].as_array().map_or(0, Vec::len);
    assert!(events_seen >= 3, "the transfer's events as GET shows them: {returned_event}");
    assert_eq!(find(&settled, "transfer.approved")["data"]["state"], "executing");
    let kept: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE channel = 'agent_callback' AND payload <> ''")
            .fetch_one(app.ctx.store.reader())
            .await
            .expect("count");
    assert_eq!(kept, 0, "a delivered callback's body (it holds the legal name) is not kept");
    app.stop().await;
}

async fn expiry_and_reauth_required_are_called_back_too(db: Db) {
    let options =
        Options { authorization_ttl: Duration::from_secs(2), expiry_margin: Duration::ZERO, ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let receiver = Receiver::start().await;
    let secret = call_back_to(&app, &receiver).await;
    let expiring = app.propose_ok("30.00").await;
    let expired_id = expiring["id"].as_str().expect("id").to_owned();
    app.eventually("expired callback", || async {
        events(&receiver).contains(&(expired_id.clone(), "transfer.expired".to_owned()))
    })
    .await;
    assert!(verified_with(&secret, &receiver.hits()).iter().all(|ok| *ok));
    app.stop().await;

    let app = spawn_app(db).await;
    let receiver = Receiver::start().await;
    call_back_to(&app, &receiver).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let reset = json!({"client_id": "sim-client-id", "secret": "sim-secret", "access_token": app.access_token});
    app.sim_post("/sandbox/item/reset_login", reset).await;
    let (_, answered) = app.approve_as(&alice, &request).await;
    assert_eq!(answered["state"], "reauth_required");
    let id = request["id"].as_str().expect("id").to_owned();
    app.eventually("reauth callback", || async {
        events(&receiver).contains(&(id.clone(), "transfer.reauth_required".to_owned()))
    })
    .await;
    let hit = receiver.hits().into_iter().find(|h| h.json()["type"] == "transfer.reauth_required").expect("hit");
    assert!(hit.json()["data"]["link_token"].as_str().is_some_and(|t| t.starts_with("link-")), "{}", hit.body);
    app.stop().await;
}

async fn a_rotated_secret_signs_beside_the_old_one_during_the_overlap(db: Db) {
    let app = spawn_app(db).await;
    let receiver = Receiver::start().await;
    let old = call_back_to(&app, &receiver).await;
    let new =
        outbound::rotate_callback_secret(&app.ctx, "test-agent", Duration::from_secs(3600)).await.expect("rotated");
    assert_ne!(old, new);
    app.propose_ok("21.00").await;
    app.eventually("a callback", || async { !receiver.hits().is_empty() }).await;
    let hits = receiver.hits();
    assert_eq!(hits[0].header("webhook-signature").map(|s| s.split(' ').count()), Some(2));
    assert_eq!(verified_with(&old, &hits), [true], "the old secret still verifies during the overlap");
    assert_eq!(verified_with(&new, &hits), [true], "the new one verifies");

    // Once the overlap is over, only the new secret signs.
    outbound::rotate_callback_secret(&app.ctx, "test-agent", Duration::ZERO).await.expect("rotated");
    let newest = outbound::rotate_callback_secret(&app.ctx, "test-agent", Duration::ZERO).await.expect("rotated");
    app.propose_ok("22.00").await;
    app.eventually("a second callback", || async { receiver.hits().len() == 2 }).await;
    let second = &receiver.hits()[1..];
    assert_eq!(second[0].header("webhook-signature").map(|s| s.split(' ').count()), Some(1));
    assert_eq!(verified_with(&newest, second), [true]);
    assert_eq!(verified_with(&new, second), [false]);
    app.stop().await;
}

async fn an_agent_without_a_callback_url_gets_no_messages(db: Db) {
    let app = spawn_app(db).await;
    let request = app.propose_ok("21.00").await;
    let (status, _) = body(app.get_request(request["id"].as_str().expect("id"), None).await).await;
    assert!(status.is_success());
    assert_eq!(outbox_counts(&app, "agent_callback").await, (0, 0));
    app.stop().await;
}

/// Retention reaches the outbox too: once a request's legal name is purged, no callback about it
/// keeps the name at rest (a receiver that has been down for days gets the redacted body when it
/// comes back; delivered bodies are not kept at all).
async fn a_purged_request_leaves_no_legal_name_in_the_outbox(db: Db) {
    let app = spawn_app(db).await;
    let receiver = Receiver::start().await;
    call_back_to(&app, &receiver).await;
    let request = app.propose_ok("23.00").await;
    let id = request["id"].as_str().expect("id");
    app.eventually("the proposal is called back", || async { !receiver.hits().is_empty() }).await;
    // The next callback waits for a receiver that is gone.
    outbound::set_callback(&app.ctx, "test-agent", Some("http://127.0.0.1:9/gone")).await.expect("callback moved");
    assert_eq!(app.cancel(id, "cancel-purged").await.status(), reqwest::StatusCode::OK);
    let payloads = || async {
        sqlx::query_scalar::<_, String>("SELECT payload FROM outbox WHERE request_id = $1")
            .bind(id)
            .fetch_all(app.ctx.store.reader())
            .await
            .expect("payloads")
    };
    assert!(payloads().await.len() >= 2, "a delivered and a waiting callback");
    // A delivered message's body is not kept; the waiting one holds the request as GET shows it.
    let named = payloads().await.iter().filter(|p| p.contains("Ada Lovelace")).count();
    assert_eq!(named, 1, "the waiting callback carries the name: {:?}", payloads().await);

    app.eventually("the cancelled request is purged", || async {
        countersign::service::retention::purge_once(&app.ctx, Duration::ZERO).await.expect("purges") == 1
    })
    .await;
    for payload in payloads().await {
        assert!(!payload.contains("Ada Lovelace"), "legal name kept in the outbox: {payload}");
        if let Ok(waiting) = serde_json::from_str::<Value>(&payload) {
            assert_eq!(waiting["data"]["id"], id, "still about the same request");
            assert_eq!(waiting["data"]["intent"]["user"]["legal_name"], "REDACTED");
        }
    }
    app.stop().await;
}

on_both_backends!(
    every_event_type_reaches_the_agent_once_with_a_valid_signature,
    expiry_and_reauth_required_are_called_back_too,
    a_rotated_secret_signs_beside_the_old_one_during_the_overlap,
    an_agent_without_a_callback_url_gets_no_messages,
    a_purged_request_leaves_no_legal_name_in_the_outbox,
);
