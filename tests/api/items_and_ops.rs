//! Items as agents see them, and the ops endpoints.

use crate::helpers::{body, spawn_app, Db};
use crate::on_both_backends;
use reqwest::StatusCode;

async fn agents_see_their_items_with_masked_accounts_and_never_access_tokens(db: Db) {
    let app = spawn_app(db).await;
    let response =
        app.client.get(format!("{}/v1/items", app.address)).bearer_auth(&app.api_key).send().await.expect("sent");
    let text = response.text().await.expect("body");
    assert!(!text.contains(&app.access_token), "access token leaked");
    let value: serde_json::Value = serde_json::from_str(&text).expect("json");
    let items = value["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], app.item_id.to_string());
    assert_eq!(items[0]["health"], "healthy");
    let mut masks: Vec<_> = items[0]["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|a| a["mask"].as_str().unwrap_or("").to_owned())
        .collect();
    masks.sort();
    assert_eq!(masks, vec!["0000", "1111"]);

    let restricted = app.new_agent("restricted", Some(&[])).await;
    let (_, value) =
        body(app.client.get(format!("{}/v1/items", app.address)).bearer_auth(&restricted).send().await.expect("sent"))
            .await;
    assert_eq!(value["items"], serde_json::json!([]));
    app.stop().await;
}

async fn access_tokens_are_encrypted_at_rest(db: Db) {
    let app = spawn_app(db).await;
    let stored =
        countersign::store::items::find(app.ctx.store.reader(), &app.item_id).await.expect("read").expect("item");
    assert!(!stored.access_token_enc.contains("access-"), "stored in plaintext");
    assert_eq!(app.ctx.master_key.decrypt(&stored.access_token_enc).expect("decrypts"), app.access_token);
    app.stop().await;
}

async fn health_and_readiness_answer(db: Db) {
    let app = spawn_app(db).await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(format!("{}{path}", app.address)).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    app.stop().await;
}

on_both_backends!(
    agents_see_their_items_with_masked_accounts_and_never_access_tokens,
    access_tokens_are_encrypted_at_rest,
    health_and_readiness_answer,
);
