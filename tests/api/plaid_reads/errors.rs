//! Refusals, Plaid's errors and the rate limits.

use super::{read, read_records, reader};
use crate::helpers::{body, error_code, spawn_app, spawn_app_with, Db, Options};
use crate::on_both_backends;
use countersign::domain::Policy;
use reqwest::StatusCode;
use serde_json::json;

async fn a_product_not_granted_is_refused_without_calling_plaid(db: Db) {
    let app = spawn_app(db).await;
    let key = reader(&app, "narrow", &["transactions"], &[]).await;
    let before = app.sim_calls("/accounts/balance/get").await.len();
    let (status, refused) = body(read(&app, &key, "/accounts/balance/get", json!({})).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&refused), "product_not_granted");
    let (status, _) = body(read(&app, &app.api_key, "/accounts/balance/get", json!({})).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an agent with no grants reads nothing");
    assert_eq!(app.sim_calls("/accounts/balance/get").await.len(), before, "Plaid was called");
    assert!(read_records(&app).await.is_empty());

    let (status, refused) = body(read(&app, &key, "/transactions/sync", json!({"access_token": "x"})).await).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, "credentials_not_allowed"));
    let elsewhere = json!({"item_id": "it_00000000000000000000000000000000"});
    let (status, refused) = body(read(&app, &key, "/transactions/sync", elsewhere).await).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_item"));
    app.stop().await;
}

async fn plaids_429_comes_back_as_429_with_retry_after_and_is_not_retried(db: Db) {
    let app = spawn_app(db).await;
    let key = reader(&app, "eager", &["balance"], &[]).await;
    app.sim_post("/sim/faults", json!({"endpoint": "/accounts/balance/get", "kind": "rate_limit", "times": 1})).await;
    let before = app.sim_calls("/accounts/balance/get").await.len();
    let response = read(&app, &key, "/accounts/balance/get", json!({})).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let (_, refused) = body(response).await;
    assert_eq!(error_code(&refused), "plaid_rate_limited");
    assert_eq!(refused["error"]["plaid"]["error_type"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(refused["error"]["plaid"]["error_code"], "RATE_LIMIT");
    assert_eq!(app.sim_calls("/accounts/balance/get").await.len(), before + 1, "called once, never retried");
    let records = read_records(&app).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].fields.outcome.as_str(), records[0].fields.error_code.as_deref()),
        ("error", Some("RATE_LIMIT"))
    );
    app.stop().await;
}

async fn our_per_agent_rate_limit_answers_429_with_ratelimit_headers(db: Db) {
    let policy = Policy::from_toml("[reads]\nper_agent_per_minute = 2\n").expect("policy");
    let app = spawn_app_with(db, Options { policy, ..Options::default() }).await;
    let key = reader(&app, "busy", &["balance"], &[]).await;
    let calm = reader(&app, "calm", &["balance"], &[]).await;
    for remaining in ["1", "0"] {
        let response = read(&app, &key, "/accounts/balance/get", json!({})).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["ratelimit-remaining"], remaining);
    }
    let before = app.sim_calls("/accounts/balance/get").await.len();
    let response = read(&app, &key, "/accounts/balance/get", json!({})).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = response.headers().clone();
    assert_eq!(headers["ratelimit-limit"], "2");
    assert_eq!(headers["ratelimit-remaining"], "0");
    let reset: u64 = headers["ratelimit-reset"].to_str().expect("text").parse().expect("seconds");
    assert!((1..=60).contains(&reset));
    assert!(headers.contains_key("retry-after"));
    assert_eq!(error_code(&body(response).await.1), "rate_limited");
    assert_eq!(app.sim_calls("/accounts/balance/get").await.len(), before, "a limited read never reaches Plaid");
    let response = read(&app, &calm, "/accounts/balance/get", json!({})).await;
    assert_eq!(response.status(), StatusCode::OK, "each agent has its own window");
    app.stop().await;
}

async fn item_login_required_returns_an_update_mode_link_token_and_marks_the_item(db: Db) {
    let app = spawn_app(db).await;
    let key = reader(&app, "watcher", &["transactions"], &[]).await;
    let reset = json!({"client_id": "sim-client-id", "secret": "sim-secret", "access_token": app.access_token});
    app.sim_post("/sandbox/item/reset_login", reset).await;
    let (status, refused) = body(read(&app, &key, "/transactions/sync", json!({})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(error_code(&refused), "item_login_required");
    assert_eq!(refused["error"]["plaid"]["error_type"], "ITEM_ERROR");
    assert_eq!(refused["error"]["plaid"]["error_code"], "ITEM_LOGIN_REQUIRED");
    let link_token = refused["error"]["link_token"].as_str().expect("an update-mode link token");
    assert!(link_token.starts_with("link-sandbox-"));
    let (_, items) =
        body(app.client.get(format!("{}/v1/items", app.address)).bearer_auth(&app.api_key).send().await.expect("sent"))
            .await;
    assert_eq!(items["items"][0]["health"], "login_required", "{items}");
    let records = read_records(&app).await;
    assert_eq!(records[0].fields.error_code.as_deref(), Some("ITEM_LOGIN_REQUIRED"));
    app.stop().await;
}

async fn agent_add_grants_read_products_and_refuses_unknown_ones_before_creating_anything(db: Db) {
    let app = spawn_app(db).await;
    let args = ["agent", "add", "--name", "bookkeeper", "--products", "balance,auth", "--unmasked", "auth"];
    app.run_cli(&args).await.expect("agent add runs");
    let row = sqlx::query("SELECT id FROM agents WHERE name = 'bookkeeper'")
        .fetch_one(app.ctx.store.reader())
        .await
        .expect("the agent exists");
    let id: String = sqlx::Row::try_get(&row, "id").expect("id");
    let grant = |product: &'static str| {
        let (pool, id) = (app.ctx.store.reader().clone(), id.clone());
        async move { countersign::store::reads::grant_of(&pool, &id, product).await.expect("grant") }
    };
    assert_eq!(grant("balance").await, Some(false));
    assert_eq!(grant("auth").await, Some(true), "auth is unmasked");
    assert_eq!(grant("identity").await, None);

    for bad in [["--products", "balance,transfer"], ["--unmasked", "auth"]] {
        let args = ["agent", "add", "--name", "mistake", bad[0], bad[1]];
        assert!(app.run_cli(&args).await.is_err(), "{bad:?} is refused");
    }
    let made = sqlx::query("SELECT id FROM agents WHERE name = 'mistake'")
        .fetch_optional(app.ctx.store.reader())
        .await
        .expect("query");
    assert!(made.is_none(), "a refused command creates no agent");
    app.stop().await;
}

on_both_backends!(
    agent_add_grants_read_products_and_refuses_unknown_ones_before_creating_anything,
    a_product_not_granted_is_refused_without_calling_plaid,
    plaids_429_comes_back_as_429_with_retry_after_and_is_not_retried,
    our_per_agent_rate_limit_answers_429_with_ratelimit_headers,
    item_login_required_returns_an_update_mode_link_token_and_marks_the_item,
);
