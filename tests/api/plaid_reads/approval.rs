//! Tier-2 reads: a policy raises a product to tier 2; the read waits for one approver, then the
//! agent fetches it once.

use super::{read, read_records, reader};
use crate::helpers::{body, error_code, spawn_app_with, Db, Options, TestApp};
use crate::on_both_backends;
use countersign::domain::Policy;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn tier_two_app(db: Db) -> TestApp {
    let policy = Policy::from_toml("[reads.tiers]\nauth = 2\n").expect("policy");
    spawn_app_with(db, Options { policy, ..Options::default() }).await
}

async fn fetch(app: &TestApp, key: &str, id: &str) -> (StatusCode, Value) {
    body(app.client.post(format!("{}/v1/plaid/reads/{id}", app.address)).bearer_auth(key).send().await.expect("sent"))
        .await
}

async fn a_tier_two_read_waits_for_an_approver_then_is_fetched_once(db: Db) {
    let app = tier_two_app(db).await;
    let key = reader(&app, "payouts", &["auth"], &[]).await;
    let before = app.sim_calls("/auth/get").await.len();
    let (status, waiting) = body(read(&app, &key, "/auth/get", json!({"reason": "set up payouts"})).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{waiting}");
    assert_eq!(waiting["read_request"]["state"], "pending_approval");
    let id = waiting["read_request"]["id"].as_str().expect("id").to_owned();
    assert_eq!(app.sim_calls("/auth/get").await.len(), before, "Plaid is not called before approval");
    let (status, early) = fetch(&app, &key, &id).await;
    assert_eq!((status, error_code(&early)), (StatusCode::CONFLICT, "read_not_approved"));

    let owner = app.add_approver("owner", "approver", None).await;
    let owner_session = app.sign_in(&owner).await;
    let (status, refused) =
        body(app.approver_post(&owner_session, &format!("/v1/approver/reads/{id}/approve"), json!({})).await).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::FORBIDDEN, "owner_cannot_approve"));

    let approver = app.add_approver("reviewer", "approver", None).await;
    let session = app.sign_in(&approver).await;
    let (status, decided) =
        body(app.approver_post(&session, &format!("/v1/approver/reads/{id}/approve"), json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["read_request"]["state"], "approved");

    let (status, answer) = fetch(&app, &key, &id).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let account = answer["numbers"]["ach"][0]["account"].as_str().expect("account");
    assert!(account.starts_with("••••"), "masked as any read: {account}");
    assert_eq!(app.sim_calls("/auth/get").await.len(), before + 1);
    let (status, again) = fetch(&app, &key, &id).await;
    assert_eq!((status, error_code(&again)), (StatusCode::CONFLICT, "already_fetched"));
    let other = reader(&app, "other", &["auth"], &[]).await;
    assert_eq!(fetch(&app, &other, &id).await.0, StatusCode::NOT_FOUND, "only the asking agent fetches");

    let records = read_records(&app).await;
    let events: Vec<&str> = records.iter().map(|r| r.fields.event_type.as_str()).collect();
    assert_eq!(events, ["plaid.read_request", "plaid.read_request.approved", "plaid.read"]);
    let done = &records[2].fields;
    assert_eq!((done.risk_tier, done.approval_required), (Some(2), Some(true)));
    assert_eq!(done.approver_id.as_deref(), Some(approver.id.as_str()));
    let version = app.ctx.policies.active().version.clone();
    let versions: Vec<_> = records.iter().map(|r| r.fields.policy_version.as_deref()).collect();
    assert_eq!(versions, [Some(version.as_str()); 3], "the policy that made the read tier 2, on every record");
    app.stop().await;
}

async fn a_rejected_tier_two_read_is_never_fetched(db: Db) {
    let app = tier_two_app(db).await;
    let key = reader(&app, "curious", &["auth"], &[]).await;
    let (_, waiting) = body(read(&app, &key, "/auth/get", json!({"reason": "just looking"})).await).await;
    let id = waiting["read_request"]["id"].as_str().expect("id").to_owned();
    let approver = app.add_approver("reviewer", "approver", None).await;
    let browser = crate::ui::Browser::new(&app);
    browser.sign_in(&approver).await;
    let page = browser.get("/ui/reads").await;
    assert!(page.html.contains("account and routing numbers") && page.html.contains("just looking"), "{}", page.html);
    let csrf = crate::ui::field(&page.html, &format!("/ui/reads/{id}/reject"), "csrf");
    let response = browser.post(&format!("/ui/reads/{id}/reject"), &[("csrf", csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, refused) = fetch(&app, &key, &id).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::FORBIDDEN, "read_rejected"));
    let before = app.sim_calls("/auth/get").await.len();
    assert_eq!(before, 0, "Plaid never saw the rejected read");
    app.stop().await;
}

on_both_backends!(
    a_tier_two_read_waits_for_an_approver_then_is_fetched_once,
    a_rejected_tier_two_read_is_never_fetched,
);
