//! Tier 1 and the Digest, reload, shadow differences, backtest.

use super::{app_with_policy, policy, tier_of};
use crate::helpers::{body, spawn_app_with, Db, Options};
use crate::on_both_backends;
use crate::ui::{location, Browser};
use countersign::domain::policy::backtest;
use countersign::service::policy::{self as runtime, Reloaded};
use reqwest::StatusCode;
use serde_json::Value;

const SMALL_CREDITS: &str = r#"label = "tier one"
[[rule]]
name = "small credits"
when.direction = "credit"
when.amount_at_most = "25.00"
when.window = { scope = "agent", period = "24h", total_at_most = "200.00" }
then.tier = 1
"#;

fn credit(app: &crate::helpers::TestApp, amount: &str) -> Value {
    let mut proposal = app.proposal(amount);
    proposal["type"] = "credit".into();
    proposal["ach_class"] = "ppd".into();
    proposal
}

async fn a_tier_one_credit_executes_without_a_human_and_is_flagged_on_the_digest(db: Db) {
    let (app, _dir) = app_with_policy(db, SMALL_CREDITS).await;
    let (status, created) = body(app.propose(&credit(&app, "20.00")).await).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!((tier_of(&created), created["approvals_required"].as_i64()), (1, Some(0)));
    let id = created["id"].as_str().expect("id").to_owned();
    app.eventually("the tier-1 transfer is submitted without an approval", || async {
        body(app.get_request(&id, None).await).await.1["state"] == "submitted"
    })
    .await;
    assert_eq!(app.sim_calls("/transfer/create").await.len(), 1);
    let events = app.audit_events_for(&id).await;
    assert!(events.contains(&"transfer.approved_by_policy".to_owned()), "{events:?}");
    assert!(!events.contains(&"transfer.approval".to_owned()), "no human approved it");
    let (status, larger) = body(app.propose(&credit(&app, "25.01")).await).await;
    assert_eq!((status, tier_of(&larger)), (StatusCode::CREATED, 2), "above the cap a human decides");

    let alice = app.add_approver("alice", "approver", None).await;
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let digest = browser.get("/ui/digest").await;
    assert_eq!(digest.status, StatusCode::OK);
    assert!(digest.html.contains(&format!("/ui/history/{id}")), "{}", digest.html);
    let action = format!("/ui/digest/{id}/review");
    let flagged = browser
        .submit("/ui/digest", &action, &[("verdict", "flag".into()), ("note", "not a refund we know".into())])
        .await;
    assert_eq!((flagged.status(), location(&flagged)), (StatusCode::SEE_OTHER, "/ui/digest?m=flagged".into()));
    let again = browser.get("/ui/digest").await;
    assert!(again.html.contains("flagged by alice"), "{}", again.html);
    assert!(!again.html.contains(&action), "reviewed once: no form left");
    assert!(app.audit_events_for(&id).await.contains(&"digest.flagged".to_owned()));
    // The team was told when it ran and when it was flagged: in the outbox, without the note.
    let notices = app.team_notices().await;
    assert!(notices.iter().any(|n| n.starts_with("Tier 1: request") && n.contains(&id)), "{notices:?}");
    assert!(notices.iter().any(|n| n.contains("flagged tier-1 transfer") && n.contains(&id)), "{notices:?}");
    assert!(!notices.iter().any(|n| n.contains("refund we know")), "the flag's note stays out of alerts");
    let forged = browser.post(&action, &[("csrf", "forged".into()), ("verdict", "acknowledge".into())]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let (_, second) = body(app.propose(&credit(&app, "5.00")).await).await;
    let second_id = second["id"].as_str().expect("id").to_owned();
    let action = format!("/ui/digest/{second_id}/review");
    let acknowledged = browser.submit("/ui/digest", &action, &[("verdict", "acknowledge".into())]).await;
    assert_eq!(location(&acknowledged), "/ui/digest?m=acknowledged");
    assert!(browser.get("/ui/digest").await.html.contains("acknowledged by alice"));
    assert!(app.audit_events_for(&second_id).await.contains(&"digest.acknowledged".to_owned()));
    app.stop().await;
}

async fn a_request_made_tier_one_in_the_table_alone_is_never_executed(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    let request = app.propose_ok("50.00").await;
    let id = request["id"].as_str().expect("id");
    let mut tx = app.ctx.store.begin().await.expect("begin");
    sqlx::query("UPDATE transfer_requests SET tier = 1, approvals_required = 0, state = 'approved' WHERE id = $1")
        .bind(id)
        .execute(tx.conn().await.expect("connection"))
        .await
        .expect("tampered");
    app.ctx.store.commit(tx).await.expect("commit");
    let request_id = countersign::domain::RequestId::from_trusted(id.to_owned());
    countersign::service::execute::execute(&app.ctx, &request_id).await.expect("execute runs");
    let (_, after) = body(app.get_request(id, None).await).await;
    assert_eq!(
        (after["state"].as_str(), after["error"]["code"].as_str()),
        (Some("failed"), Some("payload_hash_mismatch")),
        "{after}"
    );
    assert!(app.sim_calls("/transfer/create").await.is_empty(), "nothing was sent to Plaid");
    app.stop().await;
}

async fn reload_switches_to_a_valid_file_and_keeps_the_old_policy_on_an_invalid_one(db: Db) {
    let deny = "[[rule]]\nname = \"no large\"\nwhen.amount_at_least = \"5000.00\"\nthen.deny = \"too large\"\n\n\
                [[rule]]\nname = \"all three\"\nwhen.amount_at_least = \"1.00\"\nthen.tier = 3\n";
    let (app, dir) = app_with_policy(db, deny).await;
    let file = dir.path().join("policy.toml");
    assert_eq!(app.propose(&app.proposal("6000.00")).await.status(), StatusCode::FORBIDDEN);
    let pending = app.propose_ok("100.00").await;
    assert_eq!(tier_of(&pending), 3);

    std::fs::write(&file, "label = \"open\"\n").expect("write");
    let open = policy("label = \"open\"\n");
    match runtime::reload(&app.ctx, "sighup").await.expect("reload") {
        Reloaded::Switched { to, .. } => assert!(to.starts_with("open ("), "{to}"),
        other => panic!("expected a switch, got {other:?}"),
    }
    let created = app.propose_ok("6000.00").await;
    assert_eq!(created["policy_version"], open.version.as_str());
    let (_, kept) = body(app.get_request(pending["id"].as_str().expect("id"), None).await).await;
    assert_eq!(
        (tier_of(&kept), &kept["policy_version"]),
        (3, &pending["policy_version"]),
        "a pending request keeps its assessment"
    );

    std::fs::write(&file, "[[rule]]\nname = \"x\"\nthen.tier = 0\n").expect("write");
    match runtime::reload(&app.ctx, "sighup").await.expect("reload") {
        Reloaded::Refused(why) => assert!(why.contains("line 3, column 13"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(app.ctx.policies.active().version, open.version, "the old policy stays");
    let events: Vec<String> = app.audit_rows().await.into_iter().map(|r| r.fields.event_type).collect();
    assert!(events.contains(&"policy.reloaded".to_owned()) && events.contains(&"policy.reload_refused".to_owned()));

    // `countersign policy reload` reaches every replica through the database.
    std::fs::write(&file, deny).expect("write");
    runtime::request_reload(&app.ctx.store, "test").await.expect("requested");
    app.eventually("the running app picks up the reload request", || async {
        app.ctx.policies.active().version == policy(deny).version
    })
    .await;
    app.stop().await;
}

async fn the_shadow_policy_is_compared_on_every_proposal_but_never_enforced(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let shadow = dir.path().join("shadow.toml");
    std::fs::write(&shadow, "[[rule]]\nname = \"strict\"\nwhen.amount_at_least = \"100.00\"\nthen.tier = 3\n")
        .expect("write");
    let app = spawn_app_with(db, Options { policy_shadow_file: Some(shadow), ..Options::default() }).await;
    let same = app.propose_ok("50.00").await;
    let differs = app.propose_ok("150.00").await;
    assert_eq!((tier_of(&same), tier_of(&differs)), (2, 2), "the active policy decides");
    let stored = countersign::store::policy::shadow_differences(app.ctx.store.reader(), 10).await.expect("read");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].request_id.as_deref(), differs["id"].as_str());
    assert_eq!((stored[0].active_tier, stored[0].shadow_tier), (2, 3));

    let compliance = app.add_approver("carla", "compliance", None).await;
    let browser = Browser::new(&app);
    browser.sign_in(&compliance).await;
    let page = browser.get("/ui/policy").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains(differs["id"].as_str().expect("id")), "{}", page.html);
    assert!(page.html.contains("tier 3, 2 approval(s)"), "{}", page.html);
    app.stop().await;
}

async fn the_backtest_counts_tier_changes_denials_and_approvals_on_stored_history(db: Db) {
    let app = crate::helpers::spawn_app(db).await;
    for amount in ["100.00", "2000.00", "12000.00"] {
        app.propose_ok(amount).await;
    }
    let candidate = policy(
        "[[rule]]\nname = \"big\"\nwhen.amount_at_least = \"1000.00\"\nthen.tier = 3\n\n\
         [[rule]]\nname = \"huge\"\nwhen.amount_at_least = \"12000.00\"\nthen.deny = \"too large\"\n",
    );
    let history = countersign::store::policy::history_since(app.ctx.store.reader(), 0).await.expect("history");
    let active = app.ctx.policies.active();
    let report = backtest::run(&history, &active, &candidate, |_| "••0000".into());
    assert_eq!(report.requests, 3);
    assert_eq!((report.tier_up, report.tier_down, report.newly_denied), (1, 0, 1));
    assert_eq!(report.active.tiers, [0, 0, 2, 1]);
    assert_eq!(report.candidate.tiers, [0, 0, 1, 1]);
    assert_eq!((report.active.approvals, report.candidate.approvals), (4, 3));
    let table = report.to_table("active", "candidate");
    assert!(table.contains("approvals asked of people"), "{table}");
    assert!(table.contains("tier 2 (1 approval) -> tier 3 (2 approvals)"), "{table}");
    app.stop().await;
}

on_both_backends!(
    a_tier_one_credit_executes_without_a_human_and_is_flagged_on_the_digest,
    a_request_made_tier_one_in_the_table_alone_is_never_executed,
    reload_switches_to_a_valid_file_and_keeps_the_old_policy_on_an_invalid_one,
    the_shadow_policy_is_compared_on_every_proposal_but_never_enforced,
    the_backtest_counts_tier_changes_denials_and_approvals_on_stored_history,
);
