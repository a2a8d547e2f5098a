//! Agent-side idempotency: replays are identical, Plaid is asked once, conflicts are explicit.

use crate::helpers::{body, error_code, spawn_app, Db};
use crate::on_both_backends;
use reqwest::StatusCode;

async fn the_same_key_twice_replays_the_same_response_and_authorizes_once(db: Db) {
    let app = spawn_app(db).await;
    let proposal = app.proposal("42.00");
    let first = app.propose_with(&app.api_key, "same-key", &proposal).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = first.text().await.expect("body");
    let second = app.propose_with(&app.api_key, "same-key", &proposal).await;
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.text().await.expect("body"), first);
    assert_eq!(app.sim_calls("/transfer/authorization/create").await.len(), 1);
    app.stop().await;
}

async fn twenty_concurrent_calls_with_one_key_authorize_once_and_answer_identically(db: Db) {
    let app = spawn_app(db).await;
    let proposal = app.proposal("42.00");
    let calls = (0..20).map(|_| async {
        let response = app.propose_with(&app.api_key, "racing-key", &proposal).await;
        (response.status(), response.text().await.expect("body"))
    });
    let results = futures::future::join_all(calls).await;
    let (status, first) = &results[0];
    assert_eq!(*status, StatusCode::CREATED, "{first}");
    for (status, text) in &results {
        assert_eq!((status, text), (&StatusCode::CREATED, first));
    }
    assert_eq!(app.sim_calls("/transfer/authorization/create").await.len(), 1);
    app.stop().await;
}

async fn the_same_key_with_another_body_is_refused(db: Db) {
    let app = spawn_app(db).await;
    assert_eq!(app.propose_with(&app.api_key, "k", &app.proposal("1.00")).await.status(), StatusCode::CREATED);
    let (status, error) = body(app.propose_with(&app.api_key, "k", &app.proposal("2.00")).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
    assert_eq!(app.sim_calls("/transfer/authorization/create").await.len(), 1);
    app.stop().await;
}

async fn keys_are_scoped_to_the_agent(db: Db) {
    let app = spawn_app(db).await;
    let other = app.new_agent("other", None).await;
    let (_, mine) = body(app.propose_with(&app.api_key, "shared", &app.proposal("1.00")).await).await;
    let (status, theirs) = body(app.propose_with(&other, "shared", &app.proposal("1.00")).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(mine["id"], theirs["id"]);
    app.stop().await;
}

async fn plaid_unavailable_loses_nothing_and_the_retry_resumes_the_same_authorization(db: Db) {
    let app = spawn_app(db).await;
    // Plaid authorizes but its answer never arrives (our client times out after 2 s).
    app.sim_post(
        "/sim/faults",
        serde_json::json!({"endpoint": "/transfer/authorization/create", "kind": "delay_after_commit", "delay_ms": 4000, "times": 1}),
    )
    .await;
    let proposal = app.proposal("42.00");
    let (status, error) = body(app.propose_with(&app.api_key, "flaky", &proposal).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::SERVICE_UNAVAILABLE, "plaid_unavailable"));

    let (status, created) = body(app.propose_with(&app.api_key, "flaky", &proposal).await).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "pending_approval");
    // The simulator logs the first call when its delayed answer goes out.
    app.eventually("both calls logged", || async { app.sim_calls("/transfer/authorization/create").await.len() == 2 })
        .await;
    let calls = app.sim_calls("/transfer/authorization/create").await;
    assert_eq!(calls[0]["fields"]["idempotency_key"], calls[1]["fields"]["idempotency_key"]);
    let (_, page) = body(
        app.client.get(format!("{}/v1/transfers", app.address)).bearer_auth(&app.api_key).send().await.expect("list"),
    )
    .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "one request, not two");
    app.stop().await;
}

on_both_backends!(
    the_same_key_twice_replays_the_same_response_and_authorizes_once,
    twenty_concurrent_calls_with_one_key_authorize_once_and_answer_identically,
    the_same_key_with_another_body_is_refused,
    keys_are_scoped_to_the_agent,
    plaid_unavailable_loses_nothing_and_the_retry_resumes_the_same_authorization,
);
