//! Read tiers are rules of the policy file: a raised tier takes effect, reload applies tiers and
//! the rate without a restart, an invalid file is refused and the old tiers stay, every read's
//! audit record names the policy version that tiered it, and `/ui/policy` shows them.

use super::{read, read_records, reader};
use crate::helpers::{body, Db};
use crate::on_both_backends;
use crate::policy::{app_with_policy, policy};
use countersign::service::policy::{self as runtime, Reloaded};
use reqwest::StatusCode;
use serde_json::json;

const OPEN: &str = "label = \"reads at their defaults\"\n";
const IDENTITY_TWO: &str = "label = \"identity needs an approver\"\n\n[reads]\nper_agent_per_minute = 3\n\
                            tiers = { identity = 2 }\n";

async fn a_policy_file_raising_identity_to_tier_two_makes_identity_reads_wait_for_an_approver(db: Db) {
    let (app, _dir) = app_with_policy(db, IDENTITY_TWO).await;
    let key = reader(&app, "kyc", &["identity", "balance"], &[]).await;
    let (status, waiting) = body(read(&app, &key, "/identity/get", json!({"reason": "verify the payee"})).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{waiting}");
    assert_eq!(waiting["read_request"]["state"], "pending_approval");
    assert!(app.sim_calls("/identity/get").await.is_empty(), "Plaid is not called before an approver says so");
    let balance = read(&app, &key, "/accounts/balance/get", json!({})).await;
    assert_eq!(balance.status(), StatusCode::OK, "other products keep their tier");

    let version = policy(IDENTITY_TWO).version;
    let records = read_records(&app).await;
    let seen: Vec<_> = records
        .iter()
        .map(|r| (r.fields.event_type.as_str(), r.fields.risk_tier, r.fields.policy_version.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [("plaid.read_request", Some(2), Some(version.as_str())), ("plaid.read", Some(0), Some(version.as_str()))]
    );
    app.stop().await;
}

async fn reload_applies_read_tiers_and_the_rate_and_keeps_them_on_an_invalid_file(db: Db) {
    let (app, dir) = app_with_policy(db, OPEN).await;
    let file = dir.path().join("policy.toml");
    let key = reader(&app, "kyc", &["identity"], &[]).await;
    let first = read(&app, &key, "/identity/get", json!({"reason": "verify the payee"})).await;
    assert_eq!((first.status(), &first.headers()["ratelimit-limit"]), (StatusCode::OK, &"600".parse().expect("h")));

    std::fs::write(&file, IDENTITY_TWO).expect("write");
    assert!(matches!(runtime::reload(&app.ctx, "sighup").await.expect("reload"), Reloaded::Switched { .. }));
    let raised = read(&app, &key, "/identity/get", json!({"reason": "verify the payee"})).await;
    assert_eq!(raised.status(), StatusCode::ACCEPTED, "no restart needed");
    assert_eq!(raised.headers()["ratelimit-limit"], "3", "the rate is the new policy's too");

    std::fs::write(&file, "[reads.tiers]\nidentity = 2\nauth = 3\n").expect("write");
    match runtime::reload(&app.ctx, "sighup").await.expect("reload") {
        Reloaded::Refused(why) => assert!(why.contains("line 3, column 8") && why.contains("auth"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let kept = read(&app, &key, "/identity/get", json!({"reason": "verify the payee"})).await;
    assert_eq!(kept.status(), StatusCode::ACCEPTED, "the old read tiers stay");

    let versions: Vec<_> = read_records(&app).await.into_iter().map(|r| r.fields.policy_version).collect();
    let (open, raised) = (policy(OPEN).version, policy(IDENTITY_TWO).version);
    assert_eq!(versions, [Some(open), Some(raised.clone()), Some(raised)]);

    let compliance = app.add_approver("carla", "compliance", None).await;
    let browser = crate::ui::Browser::new(&app);
    browser.sign_in(&compliance).await;
    let page = browser.get("/ui/policy").await;
    assert_eq!(page.status, StatusCode::OK);
    let identity_row = "<td>identity</td><td>/identity/get</td><td>2</td>";
    assert!(page.html.contains(identity_row) && page.html.contains("at most 3 reads per agent"), "{}", page.html);
    assert!(page.html.contains("<td>auth</td><td>/auth/get</td><td>1</td>"), "{}", page.html);
    app.stop().await;
}

on_both_backends!(
    a_policy_file_raising_identity_to_tier_two_makes_identity_reads_wait_for_an_approver,
    reload_applies_read_tiers_and_the_rate_and_keeps_them_on_an_invalid_file,
);
