//! After the proposal: cancel, expiry, long-polling, listing, and isolation between agents.

use crate::helpers::{body, error_code, spawn_app, spawn_app_with, Db, Options};
use crate::on_both_backends;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

async fn cancelling_withdraws_the_request_and_its_plaid_authorization(db: Db) {
    let app = spawn_app(db).await;
    let created = app.propose_ok("10.00").await;
    let id = created["id"].as_str().expect("id");
    let (status, cancelled) = body(app.cancel(id, "c1").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["state"], "cancelled");
    app.eventually("authorization cancelled at Plaid", || async {
        app.sim_calls("/transfer/authorization/cancel")
            .await
            .iter()
            .any(|c| c["fields"]["authorization_id"] == created["authorization_id"])
    })
    .await;
    // Cancelling again (new key) is harmless; the replay of the first key is identical.
    let (status, again) = body(app.cancel(id, "c2").await).await;
    assert_eq!((status, again["state"].as_str()), (StatusCode::OK, Some("cancelled")));
    assert_eq!(app.sim_calls("/transfer/authorization/cancel").await.len(), 1);
    let events = app.audit_events_for(id).await;
    assert_eq!(events.iter().filter(|e| *e == "transfer.cancelled").count(), 1);
    app.stop().await;
}

async fn a_decided_request_cannot_be_cancelled(db: Db) {
    let app = spawn_app(db).await;
    app.set_balance("1.00").await;
    let declined = app.propose_ok("10.00").await;
    let (status, error) = body(app.cancel(declined["id"].as_str().expect("id"), "c").await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::CONFLICT, "invalid_state"));
    app.stop().await;
}

async fn a_request_past_its_window_expires_and_its_authorization_is_cancelled(db: Db) {
    let options =
        Options { authorization_ttl: Duration::from_secs(2), expiry_margin: Duration::ZERO, ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let created = app.propose_ok("10.00").await;
    let id = created["id"].as_str().expect("id");
    let (_, waited) = body(app.get_request(id, Some(20)).await).await;
    assert_eq!(waited["state"], "expired");
    app.eventually("authorization cancelled at Plaid", || async {
        app.sim_calls("/transfer/authorization/cancel")
            .await
            .iter()
            .any(|c| c["fields"]["authorization_id"] == created["authorization_id"])
    })
    .await;
    assert!(app.audit_events_for(id).await.contains(&"transfer.expired".to_owned()));
    app.stop().await;
}

async fn expiry_is_decided_once_even_with_two_sweepers(db: Db) {
    let options =
        Options { authorization_ttl: Duration::from_secs(1), expiry_margin: Duration::ZERO, ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let created = app.propose_ok("10.00").await;
    let id = created["id"].as_str().expect("id").to_owned();
    // The app's own sweeper races two extra sweeps, as other replicas would.
    app.eventually("expired", || async {
        let ctx = app.ctx.clone();
        let (a, b) = tokio::join!(
            countersign::service::expire::sweep_once(&ctx),
            countersign::service::expire::sweep_once(&ctx)
        );
        a.expect("sweep");
        b.expect("sweep");
        body(app.get_request(&id, None).await).await.1["state"] == "expired"
    })
    .await;
    app.eventually("cancel sent", || async { !app.sim_calls("/transfer/authorization/cancel").await.is_empty() }).await;
    assert_eq!(app.audit_events_for(&id).await.iter().filter(|e| *e == "transfer.expired").count(), 1);
    assert_eq!(app.sim_calls("/transfer/authorization/cancel").await.len(), 1);
    app.stop().await;
}

async fn long_polling_returns_as_soon_as_the_request_settles(db: Db) {
    let app = spawn_app(db).await;
    let created = app.propose_ok("10.00").await;
    let id = created["id"].as_str().expect("id").to_owned();
    let started = Instant::now();
    let poll = app.get_request(&id, Some(30));
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.cancel(&id, "c").await
    };
    let (polled, _) = tokio::join!(poll, cancel);
    let (_, view) = body(polled).await;
    assert_eq!(view["state"], "cancelled");
    assert!(started.elapsed() < Duration::from_secs(10), "long poll returned on the change, not the timeout");
    let (status, error) = body(app.get_request(&id, Some(61)).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::BAD_REQUEST, "invalid_wait"));
    app.stop().await;
}

async fn the_list_pages_through_the_agents_own_requests_and_filters_by_state(db: Db) {
    let app = spawn_app(db).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.propose_ok("1.00").await["id"].as_str().expect("id").to_owned());
    }
    app.cancel(&ids[0], "c").await;
    let other = app.new_agent("other", None).await;
    app.propose_with(&other, "o", &app.proposal("1.00")).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/v1/transfers?limit=2", app.address);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (_, page) = body(app.client.get(url).bearer_auth(&app.api_key).send().await.expect("list")).await;
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, every one once, none of the other agent's");

    let url = format!("{}/v1/transfers?state=cancelled", app.address);
    let (_, page) = body(app.client.get(url).bearer_auth(&app.api_key).send().await.expect("list")).await;
    let states: Vec<_> = page["items"].as_array().expect("items").iter().map(|i| i["id"].clone()).collect();
    assert_eq!(states, vec![serde_json::json!(ids[4])]);
    let url = format!("{}/v1/transfers?state=bogus", app.address);
    let (status, error) = body(app.client.get(url).bearer_auth(&app.api_key).send().await.expect("list")).await;
    assert_eq!((status, error_code(&error)), (StatusCode::BAD_REQUEST, "invalid_state_filter"));
    app.stop().await;
}

async fn an_agent_never_sees_another_agents_requests(db: Db) {
    let app = spawn_app(db).await;
    let other = app.new_agent("other", None).await;
    let (_, theirs) = body(app.propose_with(&other, "o", &app.proposal("1.00")).await).await;
    let id = theirs["id"].as_str().expect("id");
    let (status, error) = body(app.get_request(id, None).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, error) = body(app.cancel(id, "c").await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = body(app.get_request("tr_not-an-id", None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

on_both_backends!(
    cancelling_withdraws_the_request_and_its_plaid_authorization,
    a_decided_request_cannot_be_cancelled,
    a_request_past_its_window_expires_and_its_authorization_is_cancelled,
    expiry_is_decided_once_even_with_two_sweepers,
    long_polling_returns_as_soon_as_the_request_settles,
    the_list_pages_through_the_agents_own_requests_and_filters_by_state,
    an_agent_never_sees_another_agents_requests,
);
