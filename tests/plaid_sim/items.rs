use countersign::plaid::sim::{SeedAccount, SeedItem, SimConfig, Simulator};
use serde_json::json;

use super::helpers::TestSim;

#[tokio::test]
async fn a_new_item_has_a_checking_and_a_saving_account_at_first_platypus_bank() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    assert!(item.access_token.starts_with("access-sandbox-"));
    let body = sim.ok("/accounts/balance/get", json!({"access_token": item.access_token})).await;
    let accounts = body["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    for (account, (name, mask)) in accounts.iter().zip([("Plaid Checking", "0000"), ("Plaid Saving", "1111")]) {
        assert_eq!(account["name"], name);
        assert_eq!(account["mask"], mask);
        assert_eq!(account["balances"]["available"], json!(50000.0));
        assert_eq!(account["balances"]["current"], json!(50000.0));
    }
    let got = sim.ok("/item/get", json!({"access_token": item.access_token})).await;
    assert_eq!(got["item"]["institution_name"], "First Platypus Bank");
    assert_eq!(got["item"]["item_id"], item.item_id.as_str());
    assert!(got["item"]["error"].is_null());
}

#[tokio::test]
async fn reset_login_breaks_account_calls_until_repaired() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    sim.ok("/sandbox/item/reset_login", json!({"access_token": item.access_token})).await;

    for path in ["/accounts/get", "/accounts/balance/get"] {
        let answer = sim.call(path, json!({"access_token": item.access_token})).await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.body["error_type"], "ITEM_ERROR");
        assert_eq!(answer.error_code(), "ITEM_LOGIN_REQUIRED");
    }
    let got = sim.ok("/item/get", json!({"access_token": item.access_token})).await;
    assert_eq!(got["item"]["error"]["error_code"], "ITEM_LOGIN_REQUIRED");

    let repaired = sim
        .http
        .post(format!("{}/sim/items/repair", sim.base))
        .json(&json!({"access_token": item.access_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(repaired.status(), 200);
    sim.ok("/accounts/get", json!({"access_token": item.access_token})).await;
}

#[tokio::test]
async fn link_token_lifetime_depends_on_update_mode() {
    let sim = TestSim::start().await;
    let item = sim.link_item(None).await;
    let base = json!({"client_name": "Countersign", "language": "en", "country_codes": ["US"],
        "user": {"client_user_id": "user-1"}});
    let expiry = |body: &serde_json::Value| {
        let text = body["expiration"].as_str().unwrap();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    let mut update = base.clone();
    update["access_token"] = json!(item.access_token);
    let update = sim.ok("/link/token/create", update).await;
    assert!(update["link_token"].as_str().unwrap().starts_with("link-sandbox-"));
    let mut new_item = base.clone();
    new_item["products"] = json!(["transfer"]);
    let new_item = sim.ok("/link/token/create", new_item).await;
    let difference = expiry(&new_item) - expiry(&update);
    assert!(difference >= time::Duration::minutes(209), "{difference}");

    let mut unknown = base.clone();
    unknown["access_token"] = json!("access-sandbox-unknown");
    let answer = sim.call("/link/token/create", unknown).await;
    assert_eq!(answer.error_code(), "INVALID_ACCESS_TOKEN");

    let mut no_user = base;
    no_user.as_object_mut().unwrap().remove("user");
    assert_eq!(sim.call("/link/token/create", no_user).await.error_code(), "MISSING_FIELDS");
}

#[tokio::test]
async fn a_seeded_item_works_after_a_restart() {
    let simulator = Simulator::new(SimConfig::default());
    simulator.seed_item(SeedItem {
        access_token: "access-sandbox-seeded".into(),
        item_id: "item-seeded".into(),
        accounts: vec![SeedAccount {
            account_id: "acc-seeded".into(),
            name: "Plaid Checking".into(),
            mask: "0000".into(),
            subtype: "checking".into(),
            available: "12.34".into(),
        }],
    });
    let running = simulator.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/accounts/get", running.base_url()))
        .header("PLAID-CLIENT-ID", "sim-client-id")
        .header("PLAID-SECRET", "sim-secret")
        .json(&json!({"access_token": "access-sandbox-seeded"}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    super::schema::assert_conforms("/accounts/get", 200, &body);
    assert_eq!(body["accounts"][0]["balances"]["available"], json!(12.34));
    running.shutdown().await;
}
