//! Proposing: Plaid decides first; approved authorizations pause durably with the hash pinned.

use crate::helpers::{body, error_code, spawn_app, Db};
use crate::on_both_backends;
use countersign::domain::{AgentId, RawIntent, TransferIntent};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn an_approved_authorization_pauses_for_humans_with_the_hash_pinned(db: Db) {
    let app = spawn_app(db).await;
    let (status, created) = body(app.propose(&app.proposal("250.00")).await).await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["state"], "pending_approval");
    assert_eq!(created["decision"], "approved");
    assert_eq!(created["tier"], 2);
    assert_eq!(created["amount"], "250.00");
    let authorization_id = created["authorization_id"].as_str().expect("authorization id");
    // The pinned hash is the canonical hash of exactly what was proposed plus the authorization.
    let agent_id = AgentId::from_trusted(created["intent"]["agent_id"].as_str().expect("agent").to_owned());
    let item_id = app.item_id.to_string();
    let raw = RawIntent {
        item_id: &item_id,
        account_id: &app.account_id,
        transfer_type: "debit",
        network: "ach",
        ach_class: Some("web"),
        amount: "250.00",
        description: "Invoice 42",
        legal_name: "Ada Lovelace",
        thread_id: "thread-7",
        reason: "collect invoice 42",
    };
    let expected_hash = TransferIntent::parse(agent_id, &raw).expect("valid").payload_hash(authorization_id);
    assert_eq!(created["payload_hash"], expected_hash);
    // The window: authorization created + 60 min - 5 min margin.
    let expires =
        countersign::service::parse_rfc3339_ms(created["expires_at"].as_str().expect("expires_at")).expect("rfc3339");
    let minutes_left = (expires - countersign::service::now_ms()) / 60_000;
    assert!((53..=55).contains(&minutes_left), "expires in {minutes_left} min");

    // Stored durably: a fresh read returns the same request.
    // (A GET also tells the item's health, which the creation reply does not carry.)
    let (_, mut fetched) = body(app.get_request(created["id"].as_str().expect("id"), None).await).await;
    let health = fetched.as_object_mut().and_then(|f| f.remove("item_health"));
    assert_eq!(health, Some(serde_json::json!("healthy")));
    assert_eq!(fetched, created);

    // Plaid saw exactly one authorization, with our idempotency key, and no transfer.
    let calls = app.sim_calls("/transfer/authorization/create").await;
    assert_eq!(calls.len(), 1);
    let plaid_key = calls[0]["fields"]["idempotency_key"].as_str().expect("idempotency key sent");
    assert!(plaid_key.len() <= 50);
    assert!(app.sim_calls("/transfer/create").await.is_empty());
    app.stop().await;
}

async fn insufficient_funds_are_declined_without_bothering_a_human(db: Db) {
    let app = spawn_app(db).await;
    app.set_balance("100.00").await;
    let (status, created) = body(app.propose(&app.proposal("500.00")).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["state"], "declined");
    assert_eq!(created["decision_rationale"]["code"], "NSF");
    assert!(created["payload_hash"].is_null());
    assert!(created["expires_at"].is_null());
    app.stop().await;
}

async fn a_zero_balance_is_declined_for_risk(db: Db) {
    let app = spawn_app(db).await;
    app.set_balance("0.00").await;
    let (_, created) = body(app.propose(&app.proposal("5.00")).await).await;
    assert_eq!(created["state"], "declined");
    assert_eq!(created["decision_rationale"]["code"], "RISK");
    app.stop().await;
}

async fn a_broken_item_returns_an_update_mode_link_token(db: Db) {
    let app = spawn_app(db).await;
    app.sim_post(
        "/sandbox/item/reset_login",
        json!({"client_id": "sim-client-id", "secret": "sim-secret", "access_token": app.access_token}),
    )
    .await;
    let (status, created) = body(app.propose(&app.proposal("25.00")).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["state"], "action_required");
    assert!(created["link_token"].as_str().is_some_and(|t| t.starts_with("link-")), "{created}");
    // Update mode: the access token and no products were sent to /link/token/create.
    let link_calls = app.sim_calls("/link/token/create").await;
    assert_eq!(link_calls.len(), 1);
    assert_eq!(link_calls[0]["fields"]["access_token_present"], true);
    app.stop().await;
}

async fn each_bad_field_gets_its_own_error_code(db: Db) {
    let app = spawn_app(db).await;
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        ("amount", json!("12.3"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount"),
        ("amount", json!("0.00"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount"),
        ("amount", json!(12.34), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        ("description", json!("Eleven char"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_description"),
        ("ach_class", json!(null), StatusCode::UNPROCESSABLE_ENTITY, "missing_ach_class"),
        ("ach_class", json!("ppd"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_ach_class"),
        ("network", json!("wire"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_network_for_type"),
        ("network", json!("swift"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_network"),
        ("type", json!("pull"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_type"),
        ("user", json!({"legal_name": " "}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_legal_name"),
        ("reason", json!(""), StatusCode::UNPROCESSABLE_ENTITY, "invalid_reason"),
        ("item_id", json!("item-1"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_item_id"),
        ("item_id", json!("it_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f"), StatusCode::UNPROCESSABLE_ENTITY, "unknown_item"),
        ("account_id", json!("not-an-account-of-this-item"), StatusCode::UNPROCESSABLE_ENTITY, "unknown_account"),
        ("surprise", json!(1), StatusCode::UNPROCESSABLE_ENTITY, "unknown_field"),
    ];
    for (field, value, expected_status, expected_code) in cases {
        let mut proposal = app.proposal("10.00");
        proposal[field] = value.clone();
        let (status, error) = body(app.propose(&proposal).await).await;
        assert_eq!((status, error_code(&error)), (expected_status, expected_code), "{field} = {value}");
    }
    let mut missing = app.proposal("10.00");
    missing.as_object_mut().map(|o| o.remove("thread_id"));
    let (status, error) = body(app.propose(&missing).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNPROCESSABLE_ENTITY, "missing_field"));
    // Nothing reached Plaid and nothing was stored.
    assert!(app.sim_calls("/transfer/authorization/create").await.is_empty());
    assert!(app.audit_rows().await.iter().all(|r| !r.fields.event_type.starts_with("transfer.")));
    app.stop().await;
}

async fn malformed_unauthenticated_and_oversized_requests_get_json_errors(db: Db) {
    let app = spawn_app(db).await;
    let url = format!("{}/v1/transfers", app.address);
    let send = |builder: reqwest::RequestBuilder| async move { body(builder.send().await.expect("sent")).await };

    let (status, error) = send(app.client.post(&url).header("Idempotency-Key", "k").json(&app.proposal("1.00"))).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, error) =
        send(app.client.post(&url).bearer_auth("cs_wrong").header("Idempotency-Key", "k").json(&app.proposal("1.00")))
            .await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, error) = send(app.client.post(&url).bearer_auth(&app.api_key).json(&app.proposal("1.00"))).await;
    assert_eq!((status, error_code(&error)), (StatusCode::BAD_REQUEST, "missing_idempotency_key"));
    let json_post = || {
        app.client
            .post(&url)
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", "k")
            .header("Content-Type", "application/json")
    };
    let (status, error) = send(json_post().body("{\"amount\": ")).await;
    assert_eq!((status, error_code(&error)), (StatusCode::BAD_REQUEST, "malformed_json"));
    let (status, error) = send(json_post().body("[1, 2]")).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));
    let huge = format!("{{\"reason\": \"{}\"}}", "x".repeat(100 * 1024));
    let (status, error) = send(json_post().body(huge)).await;
    assert_eq!((status, error_code(&error)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    let (status, error) = send(
        app.client
            .post(&url)
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", "k")
            .header("Content-Type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));

    // The error's request id is the one in the response header.
    let response = app.client.get(format!("{}/v1/nowhere", app.address)).send().await.expect("sent");
    let header = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, error) = body(response).await;
    assert_eq!((status, error_code(&error)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(error["error"]["request_id"].as_str(), header.as_deref());
    app.stop().await;
}

async fn an_agent_cannot_use_an_item_it_was_not_granted(db: Db) {
    let app = spawn_app(db).await;
    let other_token = crate::helpers::sandbox_access_token(&app.client, &app.sim_url).await;
    let other_item = countersign::service::registry::add_item(&app.ctx, &other_token).await.expect("item");
    let restricted = app.new_agent("restricted", Some(std::slice::from_ref(&other_item))).await;
    let (status, error) = body(app.propose_with(&restricted, "k1", &app.proposal("10.00")).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::FORBIDDEN, "item_not_allowed"));
    app.stop().await;
}

async fn fifty_concurrent_proposals_from_several_agents_are_all_stored(db: Db) {
    let app = spawn_app(db).await;
    let mut keys = vec![app.api_key.clone()];
    for n in 0..4 {
        keys.push(app.new_agent(&format!("agent-{n}"), None).await);
    }
    let proposals = (0..50).map(|n| {
        let key = keys[n % keys.len()].clone();
        let app = &app;
        async move {
            let response = app.propose_with(&key, &format!("key-{n}"), &app.proposal("10.00")).await;
            body(response).await
        }
    });
    let results = futures::future::join_all(proposals).await;
    let mut ids = std::collections::HashSet::new();
    for (status, created) in &results {
        assert_eq!(*status, StatusCode::CREATED, "{created}");
        assert_eq!(created["state"], "pending_approval");
        ids.insert(created["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 50);
    assert_eq!(app.sim_calls("/transfer/authorization/create").await.len(), 50);
    let proposed = app.audit_rows().await.iter().filter(|r| r.fields.event_type == "transfer.proposed").count();
    assert_eq!(proposed, 50);
    app.stop().await;
}

/// Under a policy without windows a fresh proposal is one whole write — its Idempotency-Key
/// claimed with the request linked, the row, its audit record — and a replay of the key writes
/// nothing: the claim guards every write, so no second row and no second record appear.
async fn a_fresh_proposal_is_one_write_and_a_replay_of_its_key_writes_nothing(db: Db) {
    let app = spawn_app(db).await;
    let proposal = app.proposal("42.00");
    let (status, first) = body(app.propose_with(&app.api_key, "whole-key", &proposal).await).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = body(app.propose_with(&app.api_key, "whole-key", &proposal).await).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &first), "replayed");
    let rows = sqlx::query("SELECT COUNT(*) AS n FROM transfer_requests")
        .fetch_one(app.ctx.store.reader())
        .await
        .expect("counts");
    assert_eq!(sqlx::Row::get::<i64, _>(&rows, "n"), 1, "one row");
    let linked = sqlx::query("SELECT request_id FROM idempotency_keys WHERE idempotency_key = 'whole-key'")
        .fetch_one(app.ctx.store.reader())
        .await
        .expect("the key");
    assert_eq!(sqlx::Row::get::<Option<String>, _>(&linked, "request_id").as_deref(), first["id"].as_str());
    let id = first["id"].as_str().expect("id").to_owned();
    app.eventually("the proposal's records are chained", || async { app.audit_events_for(&id).await.len() >= 2 }).await;
    let events = app.audit_events_for(&id).await;
    assert_eq!(events.iter().filter(|e| *e == "transfer.proposed").count(), 1, "{events:?}");
    app.stop().await;
}

on_both_backends!(
    a_fresh_proposal_is_one_write_and_a_replay_of_its_key_writes_nothing,
    an_approved_authorization_pauses_for_humans_with_the_hash_pinned,
    insufficient_funds_are_declined_without_bothering_a_human,
    a_zero_balance_is_declined_for_risk,
    a_broken_item_returns_an_update_mode_link_token,
    each_bad_field_gets_its_own_error_code,
    malformed_unauthenticated_and_oversized_requests_get_json_errors,
    an_agent_cannot_use_an_item_it_was_not_granted,
    fifty_concurrent_proposals_from_several_agents_are_all_stored,
);
