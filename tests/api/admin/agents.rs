//! Administering agents and reading items: add (key shown once), set items, rotate the key with
//! an overlap, disable — through the API and the CLI.

use super::{audited, get, Admins};
use crate::helpers::{body, error_code, spawn_app, Db, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// What an agent's key gets from `GET /v1/items`: the status and the error code, if any.
async fn with_key(app: &TestApp, key: &str) -> (StatusCode, String) {
    let (status, value) = get(app, key, "/v1/items").await;
    let code = if status.is_success() { String::new() } else { error_code(&value).to_owned() };
    (status, code)
}

fn agent_row(listed: &Value, id: &str) -> Value {
    listed["agents"].as_array().expect("list").iter().find(|a| a["id"] == id).cloned().expect("the agent is listed")
}

async fn an_admin_adds_an_agent_sets_its_items_and_lists_items_with_health(db: Db) {
    let app = spawn_app(db).await;
    let admins = Admins::new(&app);
    let item = app.item_id.to_string();
    let (admin, status, added) =
        admins.change("/v1/admin/agents", json!({"name": "payroll-bot", "owner": "dana", "items": [item]})).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let (id, key) = (added["agent_id"].as_str().expect("id"), added["api_key"].as_str().expect("key"));
    let (_, granted) = get(&app, key, "/v1/items").await;
    assert_eq!(granted["items"][0]["id"], item);
    let (_, listed) = get(&app, &admin.session, "/v1/admin/agents").await;
    let row = agent_row(&listed, id);
    assert_eq!(
        (row["owner"].clone(), row["items"].clone(), row["active"].clone()),
        (json!("dana"), json!([item]), json!(true))
    );
    assert!(!listed.to_string().contains(key), "the key is shown once, never listed");
    assert!(audited(&app, "admin.agent_added", &admin.person.id).await);

    let (_, status, _) = admins.change(&format!("/v1/admin/agents/{id}/items"), json!({"items": []})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get(&app, key, "/v1/items").await.1["items"], json!([]));
    let proposal = app.proposal("25.00");
    let (status, refused) = body(app.propose_with(key, "k-1", &proposal).await).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::FORBIDDEN, "item_not_allowed"));
    let (admin, status, _) = admins.change(&format!("/v1/admin/agents/{id}/items"), json!({"items": null})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(agent_row(&get(&app, &admin.session, "/v1/admin/agents").await.1, id)["items"], Value::Null);
    let events: Vec<_> =
        app.audit_rows().await.into_iter().filter(|r| r.fields.event_type == "agent.items_set").collect();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|r| r.fields.agent_id.as_deref() == Some(id)));
    let (_, status, unknown) = admins
        .change(&format!("/v1/admin/agents/{id}/items"), json!({"items": ["it_0000000000000000000000000000000f"]}))
        .await;
    assert_eq!((status, error_code(&unknown)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_item"));

    // Items with their health, as Plaid's webhooks set it.
    let mut tx = app.ctx.store.begin().await.expect("tx");
    countersign::store::items::set_health_reason(
        &mut tx,
        &app.item_id,
        "login_required",
        Some("ITEM_LOGIN_REQUIRED"),
        1,
        1,
    )
    .await
    .expect("health");
    app.ctx.store.commit(tx).await.expect("commit");
    let (status, items) = get(&app, &admin.session, "/v1/admin/items").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (items["items"][0]["health"].clone(), items["items"][0]["health_reason"].clone()),
        (json!("login_required"), json!("ITEM_LOGIN_REQUIRED"))
    );
    assert!(!items.to_string().contains(&app.access_token), "never an access token");
    app.stop().await;
}

async fn a_rotated_key_works_during_its_overlap_and_is_refused_after_it(db: Db) {
    let app = spawn_app(db).await;
    let admins = Admins::new(&app);
    let old = app.new_agent("rotating-bot", None).await;
    let agents = countersign::service::admin::list_agents(&app.ctx, countersign::service::admin::Actor::Operator)
        .await
        .expect("agents");
    let id = agents.iter().find(|a| a.name == "rotating-bot").expect("agent").id.clone();

    let (admin, status, rotated) =
        admins.change(&format!("/v1/admin/agents/{id}/rotate-key"), json!({"overlap_seconds": 2})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["api_key"].as_str().expect("new key").to_owned();
    assert_eq!(with_key(&app, &old).await.0, StatusCode::OK, "inside the overlap the old key works");
    assert_eq!(with_key(&app, &new).await.0, StatusCode::OK);
    let row = agent_row(&get(&app, &admin.session, "/v1/admin/agents").await.1, &id);
    assert_eq!(row["previous_key_valid_until"], rotated["previous_key_valid_until"]);
    app.eventually("the overlap ends", || async { with_key(&app, &old).await.0 != StatusCode::OK }).await;
    assert_eq!(with_key(&app, &old).await, (StatusCode::UNAUTHORIZED, "api_key_expired".into()));
    assert_eq!(with_key(&app, &new).await.0, StatusCode::OK, "the new key stays");
    let rotation =
        app.audit_rows().await.into_iter().find(|r| r.fields.event_type == "agent.key_rotated").expect("audited");
    assert_eq!((rotation.fields.agent_id.as_deref(), rotation.fields.ttl_seconds), (Some(id.as_str()), Some(2)));
    assert_eq!(rotation.fields.approver_id.as_deref(), Some(admin.person.id.as_str()));

    let (_, status, at_once) =
        admins.change(&format!("/v1/admin/agents/{id}/rotate-key"), json!({"overlap_seconds": 0})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(with_key(&app, &new).await, (StatusCode::UNAUTHORIZED, "api_key_expired".into()), "no overlap");
    assert_eq!(with_key(&app, at_once["api_key"].as_str().expect("key")).await.0, StatusCode::OK);
    let (_, status, too_long) =
        admins.change(&format!("/v1/admin/agents/{id}/rotate-key"), json!({"overlap_seconds": 700_000})).await;
    assert_eq!((status, error_code(&too_long)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_overlap"));
    app.stop().await;
}

async fn a_disabled_agent_is_refused_at_once_with_a_clear_code(db: Db) {
    let app = spawn_app(db).await;
    let admins = Admins::new(&app);
    let agents = countersign::service::admin::list_agents(&app.ctx, countersign::service::admin::Actor::Operator)
        .await
        .expect("agents");
    let id = agents[0].id.clone();
    // A key in an answer is never kept by a cache.
    let rotator = admins.next().await;
    let payload = json!({"totp": rotator.person.next_code().await});
    let rotated = app.approver_post(&rotator.session, &format!("/v1/admin/agents/{id}/rotate-key"), payload).await;
    assert_eq!(rotated.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let new_key = rotated.json::<Value>().await.expect("json")["api_key"].as_str().expect("key").to_owned();
    let (admin, status, _) = admins.change(&format!("/v1/admin/agents/{id}/disable"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    for key in [&app.api_key, &new_key] {
        assert_eq!(with_key(&app, key).await, (StatusCode::FORBIDDEN, "agent_disabled".into()), "both keys");
    }
    let (status, refused) = body(app.propose(&app.proposal("25.00")).await).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::FORBIDDEN, "agent_disabled"));
    assert!(audited(&app, "agent.disabled", &admin.person.id).await);
    let (_, status, again) = admins.change(&format!("/v1/admin/agents/{id}/rotate-key"), json!({})).await;
    assert_eq!((status, error_code(&again)), (StatusCode::CONFLICT, "agent_disabled"));
    app.stop().await;
}

async fn the_cli_lists_rotates_and_disables_agents(db: Db) {
    let app = spawn_app(db).await;
    app.run_cli(&["agent", "list"]).await.expect("list");
    app.run_cli(&["agent", "rotate-key", "test-agent", "--overlap", "0"]).await.expect("rotate-key");
    assert_eq!(with_key(&app, &app.api_key).await, (StatusCode::UNAUTHORIZED, "api_key_expired".into()));
    let other = app.new_agent("other-bot", None).await;
    app.run_cli(&["agent", "rotate-key", "other-bot", "--overlap", "24h"]).await.expect("rotate-key");
    assert_eq!(with_key(&app, &other).await.0, StatusCode::OK, "a day's overlap");
    app.run_cli(&["agent", "disable", "other-bot"]).await.expect("disable");
    assert_eq!(with_key(&app, &other).await, (StatusCode::FORBIDDEN, "agent_disabled".into()));
    assert!(app.run_cli(&["agent", "rotate-key", "other-bot", "--overlap", "1y"]).await.is_err());
    let rotations = app.audit_rows().await.into_iter().filter(|r| r.fields.event_type == "agent.key_rotated").count();
    assert_eq!(rotations, 2);
    app.stop().await;
}

/// `GET /v1/transfers/{id}` reads the key and the request in one statement: the key is still
/// judged first — an unknown, expired or disabled key is refused as on every route, whatever the
/// id or the query says — and a request is shown only to the agent that proposed it.
async fn reading_a_request_judges_the_key_first_then_who_proposed_it(db: Db) {
    let app = spawn_app(db).await;
    let request = app.propose_ok("25.00").await;
    let path = format!("/v1/transfers/{}", request["id"].as_str().expect("id"));
    let code = |(status, value): (StatusCode, Value)| {
        let code = if status.is_success() { value["id"].as_str().unwrap_or_default() } else { error_code(&value) };
        (status, code.to_owned())
    };
    let own = code(get(&app, &app.api_key, &path).await);
    assert_eq!(own, (StatusCode::OK, request["id"].as_str().expect("id").to_owned()));
    let other = app.new_agent("other-bot", None).await;
    assert_eq!(code(get(&app, &other, &path).await), (StatusCode::NOT_FOUND, "not_found".into()), "not its request");
    let unknown = format!("cs_{}", "x".repeat(43));
    let malformed_id = "/v1/transfers/nonsense".to_owned();
    let bad_query = format!("{path}?wait=999");
    for asked in [&path, &malformed_id, &bad_query] {
        assert_eq!(
            code(get(&app, &unknown, asked).await),
            (StatusCode::UNAUTHORIZED, "unauthorized".into()),
            "{asked}"
        );
    }
    assert_eq!(code(get(&app, &app.api_key, &malformed_id).await), (StatusCode::NOT_FOUND, "not_found".into()));
    assert_eq!(code(get(&app, &app.api_key, &bad_query).await), (StatusCode::BAD_REQUEST, "invalid_wait".into()));

    app.run_cli(&["agent", "rotate-key", "test-agent", "--overlap", "0"]).await.expect("rotate-key");
    for asked in [&path, &malformed_id] {
        let refused = code(get(&app, &app.api_key, asked).await);
        assert_eq!(refused, (StatusCode::UNAUTHORIZED, "api_key_expired".into()), "{asked}");
    }
    app.run_cli(&["agent", "disable", "other-bot"]).await.expect("disable");
    for asked in [&path, &malformed_id, &bad_query] {
        assert_eq!(code(get(&app, &other, asked).await), (StatusCode::FORBIDDEN, "agent_disabled".into()), "{asked}");
    }
    app.stop().await;
}

on_both_backends!(
    reading_a_request_judges_the_key_first_then_who_proposed_it,
    an_admin_adds_an_agent_sets_its_items_and_lists_items_with_health,
    a_rotated_key_works_during_its_overlap_and_is_refused_after_it,
    a_disabled_agent_is_refused_at_once_with_a_clear_code,
    the_cli_lists_rotates_and_disables_agents,
);
