//! The gateway looks up the key, the product grant, the item and the agent's right to it in one
//! statement; it must refuse exactly as the separate checks did, the key judged first.

use super::{read, reader};
use crate::helpers::{body, error_code, spawn_app, Db};
use crate::on_both_backends;
use countersign::domain::reads::ReadProduct;
use countersign::service::admin::{self, Actor};
use countersign::service::{gateway, registry};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

async fn the_one_lookup_refuses_keys_bodies_and_items_as_the_separate_checks_did(db: Db) {
    let app = spawn_app(db).await;
    let url = format!("{}/v1/plaid/accounts/balance/get", app.address);
    let raw = |key: Option<&str>, text: &str| {
        let request = app.client.post(&url).header("content-type", "application/json").body(text.to_owned());
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    };
    let balance = json!({"item_id": app.item_id.to_string()}).to_string();
    let (status, refused) = body(raw(None, &balance).send().await.expect("sent")).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let stranger = countersign::auth::api_keys::generate().token;
    let (status, refused) = body(raw(Some(&stranger), "{not json").send().await.expect("sent")).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::UNAUTHORIZED, "unauthorized"), "the key before the body");
    let key = reader(&app, "reader", &["balance"], &[]).await;
    let (status, refused) = body(raw(Some(&key), "{not json").send().await.expect("sent")).await;
    assert!(status.is_client_error() && status != StatusCode::UNAUTHORIZED, "{status}: {refused}");
    assert!(!error_code(&refused).is_empty(), "{refused}");

    // An agent limited to another item.
    let other = registry::add_sandbox_item(&app.ctx).await.expect("second item");
    let narrow = registry::add_agent(&app.ctx.store, "narrow", "owner", Some(std::slice::from_ref(&other)))
        .await
        .expect("agent");
    gateway::grant_products(&app.ctx.store, &narrow.id, &[ReadProduct::Balance], &[]).await.expect("grant");
    let (status, refused) = body(read(&app, &narrow.api_key, "/accounts/balance/get", json!({})).await).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::FORBIDDEN, "item_not_allowed"));
    let its_own = json!({"item_id": other.to_string()});
    assert_eq!(read(&app, &narrow.api_key, "/accounts/balance/get", its_own.clone()).await.status(), StatusCode::OK);

    // A key replaced by a rotation whose overlap has ended; then the agent disabled.
    let rotated = admin::rotate_key(&app.ctx, Actor::Operator, &narrow.id, Duration::ZERO).await.expect("rotated");
    let (status, refused) = body(read(&app, &narrow.api_key, "/accounts/balance/get", its_own.clone()).await).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::UNAUTHORIZED, "api_key_expired"));
    assert_eq!(read(&app, &rotated.api_key, "/accounts/balance/get", its_own.clone()).await.status(), StatusCode::OK);
    admin::disable_agent(&app.ctx, Actor::Operator, &narrow.id).await.expect("disabled");
    let (status, refused) = body(read(&app, &rotated.api_key, "/accounts/balance/get", its_own).await).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::FORBIDDEN, "agent_disabled"));
    assert_eq!(app.sim_calls("/accounts/balance/get").await.len(), 2, "Plaid saw only the two allowed reads");
    app.stop().await;
}

on_both_backends!(the_one_lookup_refuses_keys_bodies_and_items_as_the_separate_checks_did,);
