//! Tiers from windows, counterparties, groups and deny.

use super::{app_with_policy, tier_of};
use crate::helpers::{body, error_code, Db};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

const HOURLY_LIMIT: &str = r#"label = "hourly"
[[rule]]
name = "hourly debits"
when.direction = "debit"
when.window = { scope = "agent_account", period = "1h", total_at_least = "10000.00" }
then.tier = 3
"#;

async fn five_split_debits_in_an_hour_make_the_fourth_tier_three_and_say_why(db: Db) {
    let options = crate::helpers::Options { policy: countersign::domain::Policy::default(), ..Default::default() };
    let app = crate::helpers::spawn_app_with(db, options).await;
    let mut tiers = Vec::new();
    let mut requests = Vec::new();
    for _ in 0..5 {
        let request = app.propose_ok("2500.00").await;
        tiers.push(tier_of(&request));
        requests.push(request);
    }
    assert_eq!(tiers, vec![2, 2, 2, 3, 3], "the built-in policy counts debits to one account over 24 h");
    let reasons: Vec<&str> =
        requests[3]["policy_reasons"].as_array().expect("reasons").iter().filter_map(Value::as_str).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r
                .starts_with("4th debit to ••0000 by this agent in 24 h: $10,000.00 in total, at or above $10,000.00")),
        "{reasons:?}"
    );
    assert_eq!(requests[3]["approvals_required"], 2);
    assert_eq!(requests[3]["step_up_required"], true);
    let version = app.ctx.policies.active().version.clone();
    assert_eq!(requests[3]["policy_version"], version.as_str());
    let id = requests[3]["id"].as_str().expect("id");
    let rows = app.audit_rows().await;
    let about_it: Vec<_> = rows.iter().filter(|r| r.fields.transfer_request_id.as_deref() == Some(id)).collect();
    assert!(!about_it.is_empty());
    assert!(
        about_it.iter().all(|r| r.fields.policy_version.as_deref() == Some(version.as_str())),
        "every record names the policy"
    );
    app.stop().await;
}

/// Proposes `count` $2,500.00 debits at once, alternating between `addresses`; returns the tiers.
async fn concurrent_debits(app: &crate::helpers::TestApp, addresses: &[String], count: usize) -> Vec<i64> {
    let body = app.proposal("2500.00");
    let calls = (0..count).map(|i| {
        let request = app
            .client
            .post(format!("{}/v1/transfers", addresses[i % addresses.len()]))
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&body)
            .send();
        async move {
            let (status, value) = crate::helpers::body(request.await.expect("sent")).await;
            assert_eq!(status, StatusCode::CREATED, "{value}");
            tier_of(&value)
        }
    });
    futures::future::join_all(calls).await
}

async fn twenty_concurrent_debits_cannot_all_slip_under_an_hourly_limit(db: Db) {
    let (app, _dir) = app_with_policy(db, HOURLY_LIMIT).await;
    app.set_balance("1000000.00").await;
    let tiers = concurrent_debits(&app, std::slice::from_ref(&app.address), 20).await;
    let below = tiers.iter().filter(|t| **t == 2).count();
    assert_eq!(below, 3, "only $7,500.00 fits under $10,000.00 per hour: {tiers:?}");
    app.stop().await;
}

async fn twenty_concurrent_debits_across_two_replicas_cannot_slip_under_the_limit(db: Db) {
    let (app, _dir) = app_with_policy(db, HOURLY_LIMIT).await;
    app.set_balance("1000000.00").await;
    let replica = app.spawn_replica().await;
    let tiers = concurrent_debits(&app, &[app.address.clone(), replica.address.clone()], 20).await;
    assert_eq!(tiers.iter().filter(|t| **t == 2).count(), 3, "{tiers:?}");
    replica.stop().await;
    app.stop().await;
}

const NEW_PAYEE: &str = r#"[[rule]]
name = "new payee"
when.counterparty = "new"
then.step_up = true
"#;

async fn only_a_submitted_transfer_makes_an_account_known(db: Db) {
    let (app, _dir) = app_with_policy(db, NEW_PAYEE).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let first = app.propose_ok("10.00").await;
    assert_eq!(first["step_up_required"], true);
    assert!(first["policy_reasons"].to_string().contains("first transfer to ••0000"), "{first}");
    let still_new = app.propose_ok("11.00").await;
    assert_eq!(still_new["step_up_required"], true, "a proposed (not submitted) transfer does not count");

    let (status, approved) = app.approve_as(&alice, &first).await;
    assert_eq!((status, approved["state"].as_str()), (StatusCode::OK, Some("submitted")), "{approved}");
    let known = app.propose_ok("12.00").await;
    assert_eq!(known["step_up_required"], false, "{known}");
    assert_eq!(known["policy_reasons"][0], "every transfer needs a human approval");
    app.stop().await;
}

const DENY_LARGE: &str = r#"[[rule]]
name = "agents stay small"
when.amount_at_least = "5000.00"
then.deny = "agents may not move $5,000.00 or more"
"#;

async fn a_denied_proposal_is_refused_before_plaid_is_called(db: Db) {
    let (app, _dir) = app_with_policy(db, DENY_LARGE).await;
    let (status, refused) = body(app.propose(&app.proposal("6000.00")).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(error_code(&refused), "denied_by_policy");
    assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains("$5,000.00 or more")), "{refused}");
    assert!(app.sim_calls("/transfer/authorization/create").await.is_empty(), "Plaid was never asked");
    let rows = app.audit_rows().await;
    let denied = rows.iter().find(|r| r.fields.event_type == "transfer.denied_by_policy").expect("denial audited");
    assert_eq!(denied.fields.policy_version.as_deref(), Some(app.ctx.policies.active().version.as_str()));
    app.propose_ok("4999.99").await;
    app.stop().await;
}

const GROUPS: &str = r#"[[rule]]
name = "two desks"
when.amount_at_least = "100.00"
then.approver_groups = ["finance", "ops"]
then.ttl = "10m"
"#;

async fn approvals_must_come_from_one_of_finance_and_one_of_ops(db: Db) {
    let (app, _dir) = app_with_policy(db, GROUPS).await;
    let set = |who: &crate::helpers::TestApprover, groups: &[&str]| {
        let id = countersign::domain::ApproverId::from_trusted(who.id.clone());
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        let store = app.ctx.store.clone();
        async move { countersign::service::approver_groups::set(&store, &id, &groups).await.expect("groups set") }
    };
    let (alice, bob, carol) = (
        app.add_approver("alice", "approver", None).await,
        app.add_approver("bob", "approver", None).await,
        app.add_approver("carol", "approver", None).await,
    );
    set(&alice, &["finance"]).await;
    set(&bob, &["finance"]).await;
    set(&carol, &["ops"]).await;
    let request = app.propose_ok("150.00").await;
    assert_eq!(request["approvals_required"], 2);
    assert_eq!(request["approver_groups"], serde_json::json!(["finance", "ops"]));
    let expires_at =
        countersign::service::parse_rfc3339_ms(request["expires_at"].as_str().expect("expires_at")).expect("RFC 3339");
    let ten_minutes = 10 * 60 * 1000 + 5_000;
    assert!(
        expires_at <= countersign::service::now_ms() + ten_minutes,
        "the rule's ttl shortens the window: {request}"
    );

    // Bob (finance) gets a token while the finance slot is still open...
    let bob_session = app.sign_in(&bob).await;
    let bob_token = app.token_for(&bob, &bob_session, &request).await;
    let (status, waiting) = app.approve_as(&alice, &request).await;
    assert_eq!((status, waiting["state"].as_str()), (StatusCode::OK, Some("pending_approval")), "{waiting}");
    // ...but once Alice filled it, his approval is refused under the request's lock,
    let id = request["id"].as_str().expect("id");
    let (status, refused) = body(app.approve(&bob_session, id, &bob_token).await).await;
    assert_eq!((status, error_code(&refused)), (StatusCode::FORBIDDEN, "approver_group_required"), "{refused}");
    // and a new token is refused before he spends a code on it.
    let hash = request["payload_hash"].as_str().expect("hash");
    let (status, early) = body(app.request_token(&bob_session, id, hash, None).await).await;
    assert_eq!((status, error_code(&early)), (StatusCode::FORBIDDEN, "approver_group_required"), "{early}");
    let (status, done) = app.approve_as(&carol, &request).await;
    assert_eq!((status, done["state"].as_str()), (StatusCode::OK, Some("submitted")), "{done}");
    assert_eq!(app.transfers_at_plaid().await, 1);
    app.stop().await;
}

on_both_backends!(
    five_split_debits_in_an_hour_make_the_fourth_tier_three_and_say_why,
    twenty_concurrent_debits_cannot_all_slip_under_an_hourly_limit,
    twenty_concurrent_debits_across_two_replicas_cannot_slip_under_the_limit,
    only_a_submitted_transfer_makes_an_account_known,
    a_denied_proposal_is_refused_before_plaid_is_called,
    approvals_must_come_from_one_of_finance_and_one_of_ops,
);

/// Windows are the one fact other proposals write: under a policy without them a proposal takes
/// no window lock and goes ahead while another transaction holds its account's windows; under a
/// window rule the same proposal waits for the holder's commit (PostgreSQL; SQLite's one writer
/// serializes every transaction anyway).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_wait_for_each_other_only_when_the_policy_has_windows() {
    use countersign::store::policy::lock_windows;
    for (source, waits) in [("label = \"thresholds only\"", false), (HOURLY_LIMIT, true)] {
        let (app, _dir) = app_with_policy(Db::Postgres, source).await;
        let mut holder = app.ctx.store.begin().await.expect("begins");
        lock_windows(&mut holder, "ag_elsewhere", app.item_id.as_str(), &app.account_id).await.expect("locks");
        let proposal = app
            .client
            .post(format!("{}/v1/transfers", app.address))
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", "behind-a-held-window")
            .json(&app.proposal("25.00"))
            .send();
        let proposal = tokio::spawn(proposal);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(!proposal.is_finished(), waits, "{source}: waits for the holder");
        app.ctx.store.commit(holder).await.expect("commits");
        let answered = tokio::time::timeout(Duration::from_secs(10), proposal).await.expect("answers").expect("joins");
        assert_eq!(answered.expect("sent").status(), StatusCode::CREATED, "{source}");
        app.stop().await;
    }
}

/// SQLite's writer: a proposal under a policy without windows is one hand-off before Plaid is
/// asked (its claim, row and record together) and one after (Plaid's answer); with a window it
/// is three before (the claim, the window read, the row with the commit). The fewest of five
/// proposals is counted, so a background loop's transaction can only add.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_reaches_sqlite_s_writer_twice_without_windows_and_four_times_with() {
    for (source, expected) in [("label = \"thresholds only\"", 2), (HOURLY_LIMIT, 4)] {
        let (app, _dir) = app_with_policy(Db::Sqlite, source).await;
        let mut fewest = u64::MAX;
        for _ in 0..5 {
            let before = app.ctx.store.writer_handoffs().get();
            app.propose_ok("25.00").await;
            fewest = fewest.min(app.ctx.store.writer_handoffs().get() - before);
        }
        assert_eq!(fewest, expected, "{source}");
        app.stop().await;
    }
}

/// The window lock itself on PostgreSQL: while one transaction holds an agent's and an account's
/// windows, another proposal by the agent or to the account waits until it commits; one by
/// another agent to another account does not wait at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_lock_holds_the_same_agent_and_the_same_account_until_commit() {
    use countersign::store::policy::lock_windows;
    let app = crate::helpers::spawn_app(Db::Postgres).await;
    let store = app.ctx.store.clone();
    let mut holder = store.begin().await.expect("begins");
    lock_windows(&mut holder, "ag_one", "it_one", "acct_one").await.expect("locks");

    let try_lock = |agent: &'static str, account: &'static str| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.expect("begins");
            lock_windows(&mut tx, agent, "it_one", account).await.expect("locks");
            store.commit(tx).await.expect("commits");
        })
    };
    let elsewhere = try_lock("ag_two", "acct_two");
    tokio::time::timeout(Duration::from_secs(5), elsewhere).await.expect("other scopes don't wait").expect("joins");
    let same_agent = try_lock("ag_one", "acct_two");
    let same_account = try_lock("ag_two", "acct_one");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!same_agent.is_finished(), "the same agent waits for the holder");
    assert!(!same_account.is_finished(), "the same account waits for the holder");
    store.commit(holder).await.expect("commits");
    for waiter in [same_agent, same_account] {
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("released at commit").expect("joins");
    }
    app.stop().await;
}
