//! Approver alerts: who hears of a request (only approvers allowed on its item, not its agent's
//! owner, nobody who already decided), what Slack and webhook alerts say (the amount, the account's
//! mask, a link; no secret, no legal name), reminders, the escalation to the team channel, and
//! alerts for returned transfers.

use super::receiver::{verified_with, Receiver};
use crate::helpers::{spawn_app_with, test_outbound, Db, Options, TestApp};
use crate::on_both_backends;
use countersign::notify::alerts::Channel;
use countersign::service::outbound;
use serde_json::{json, Value};
use std::time::Duration;

const TEAM_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// An app whose requests have `minutes_left` of their window when they reach approvers, with the
/// team channel a signed webhook to `team`.
async fn app_with(db: Db, minutes_left: u64, team: Option<&Receiver>) -> TestApp {
    let outbound = countersign::notify::Outbound {
        team_channel: team.map(|t| Channel::Webhook(t.url.clone())),
        alert_webhook_secret: Some(TEAM_SECRET.to_owned().into()),
        public_url: "https://countersign.example.com".into(),
        ..test_outbound()
    };
    let options = Options {
        authorization_ttl: Duration::from_secs(3600),
        expiry_margin: Duration::from_secs(3600 - minutes_left * 60),
        outbound,
        ..Options::default()
    };
    spawn_app_with(db, options).await
}

async fn slack_for(app: &TestApp, username: &str) -> Receiver {
    let slack = Receiver::start().await;
    outbound::set_approver_channel(&app.ctx, username, "slack", Some(&slack.url)).await.expect("channel");
    slack
}

fn text_of(hit: &super::receiver::Hit) -> String {
    hit.json()["text"].as_str().unwrap_or_default().to_owned()
}

async fn a_slack_alert_says_what_when_and_where_without_secrets_or_the_legal_name(db: Db) {
    let app = app_with(db, 50, None).await;
    app.add_approver("alice", "approver", None).await;
    let slack = slack_for(&app, "alice").await;
    let request = app.propose_ok("1500.00").await;
    let id = request["id"].as_str().expect("id");
    app.eventually("a Slack alert", || async { !slack.hits().is_empty() }).await;
    let hit = &slack.hits()[0];
    let text = text_of(hit);
    assert!(text.starts_with("Agent test-agent wants to debit $1,500.00 from Plaid Checking ••0000 — "), "{text}");
    assert!(text.contains("min left"), "{text}");
    let message = hit.json();
    let button = &message["blocks"][2]["elements"][0];
    assert_eq!(button["url"], format!("https://countersign.example.com/ui/requests/{id}"));
    assert_eq!(message["blocks"][0]["type"], "section");
    for secret in ["Ada", "Lovelace", &app.api_key, &app.access_token, "whsec_", &app.account_id] {
        assert!(!hit.body.contains(secret), "the alert must not contain {secret:?}: {}", hit.body);
    }
    app.stop().await;
}

async fn only_approvers_allowed_on_the_item_and_not_the_owner_are_alerted(db: Db) {
    let app = app_with(db, 50, None).await;
    let other_item = countersign::domain::ItemId::generate();
    app.add_approver("alice", "approver", Some(std::slice::from_ref(&app.item_id))).await;
    let alice = slack_for(&app, "alice").await;
    // Bob may approve another item only; the agent's owner and a compliance officer may approve nothing here.
    sqlx::query("INSERT INTO items (id, plaid_item_id, access_token_enc, institution_name, health, created_at) VALUES ($1, 'other', 'x', 'Other', 'healthy', 0)")
        .bind(other_item.as_str())
        .execute(app.ctx.store.reader())
        .await
        .expect("item");
    app.add_approver("bob", "approver", Some(std::slice::from_ref(&other_item))).await;
    let bob = slack_for(&app, "bob").await;
    app.add_approver("agent-owner", "approver", None).await;
    let owner = slack_for(&app, "agent-owner").await;
    app.add_approver("carol", "compliance", None).await;
    let carol = slack_for(&app, "carol").await;
    app.propose_ok("100.00").await;
    app.eventually("alice's alert", || async { alice.hits().len() == 1 }).await;
    app.eventually("fan-out finished", || async {
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state <> 'delivered'")
            .fetch_one(app.ctx.store.reader())
            .await
            .expect("count");
        pending == 0
    })
    .await;
    assert!(bob.hits().is_empty() && owner.hits().is_empty() && carol.hits().is_empty());
    app.stop().await;
}

async fn reminders_skip_approvers_who_decided_and_escalation_reaches_the_team(db: Db) {
    // A tier-3 request; Alice approves it, then it comes within 15 minutes of its window's end.
    let team = Receiver::start().await;
    let app = app_with(db, 50, Some(&team)).await;
    let alice_approver = app.add_approver("alice", "approver", None).await;
    let alice = slack_for(&app, "alice").await;
    app.add_approver("dave", "approver", None).await;
    let dave = slack_for(&app, "dave").await;
    let request = app.propose_ok("12000.00").await;
    assert_eq!(request["tier"], 3);
    app.eventually("alerts to both", || async { !alice.hits().is_empty() && !dave.hits().is_empty() }).await;
    let (status, _) = app.approve_as(&alice_approver, &request).await;
    assert!(status.is_success());
    sqlx::query("UPDATE transfer_requests SET expires_at = $1 WHERE id = $2")
        .bind(countersign::service::now_ms() + 14 * 60_000)
        .bind(request["id"].as_str().expect("id"))
        .execute(app.ctx.store.reader())
        .await
        .expect("window moved");
    app.eventually("dave's reminder", || async { dave.hits().iter().any(|h| text_of(h).starts_with("Reminder:")) })
        .await;
    app.eventually("the fan-outs ran", || async {
        let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state <> 'delivered'")
            .fetch_one(app.ctx.store.reader())
            .await
            .expect("count");
        waiting == 0
    })
    .await;
    let alice_texts: Vec<String> = alice.hits().iter().map(text_of).collect();
    assert!(
        alice_texts.iter().all(|t| !t.starts_with("Reminder:")),
        "no reminder to an approver who decided: {alice_texts:?}"
    );
    assert!(team.hits().is_empty(), "14 minutes left: no escalation yet (and someone acted)");
    app.stop().await;

    // 9 minutes left and nobody has acted: the team channel hears of it, signed.
    let team = Receiver::start().await;
    let app = app_with(db, 9, Some(&team)).await;
    app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("12000.00").await;
    app.eventually("an escalation", || async { team.hits().iter().any(|h| h.json()["type"] == "transfer.escalation") })
        .await;
    let hits = team.hits();
    let escalation: Vec<_> = hits.iter().filter(|h| h.json()["type"] == "transfer.escalation").cloned().collect();
    assert_eq!(escalation.len(), 1, "once, however many passes and replicas");
    assert!(verified_with(TEAM_SECRET, &escalation).iter().all(|ok| *ok));
    let data: Value = escalation[0].json()["data"].clone();
    assert!(data["headline"].as_str().is_some_and(|h| h.starts_with("Nobody has acted yet")), "{data}");
    assert_eq!(data["facts"]["request_id"], request["id"]);
    assert_eq!(data["facts"]["amount"], "12000.00");
    app.stop().await;
}

async fn a_returned_transfer_alerts_the_team_with_its_code(db: Db) {
    let team = Receiver::start().await;
    let app = app_with(db, 50, Some(&team)).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("21.00").await;
    let (_, done) = app.approve_as(&alice, &request).await;
    let transfer = done["transfer_id"].as_str().expect("transfer");
    for (event, failure) in [("posted", None), ("returned", Some(json!({"failure_code": "R01", "description": "NSF"})))]
    {
        let mut call =
            json!({"client_id": "sim-client-id", "secret": "sim-secret", "transfer_id": transfer, "event_type": event});
        if let Some(failure) = failure {
            call["failure_reason"] = failure;
        }
        app.sim_post("/sandbox/transfer/simulate", call).await;
    }
    app.eventually("a return alert", || async { team.hits().iter().any(|h| h.json()["type"] == "transfer.returned") })
        .await;
    let hit = team.hits().into_iter().find(|h| h.json()["type"] == "transfer.returned").expect("hit");
    let headline = hit.json()["data"]["headline"].as_str().unwrap_or_default().to_owned();
    assert!(headline.starts_with("Transfer returned (R01): debit of $21.00 from Plaid Checking ••0000"), "{headline}");
    app.stop().await;
}

async fn a_broken_item_and_a_notice_reach_the_team_channel(db: Db) {
    let team = Receiver::start().await;
    let app = app_with(db, 50, Some(&team)).await;
    let plaid_item_id: String = sqlx::query_scalar("SELECT plaid_item_id FROM items WHERE id = $1")
        .bind(app.item_id.as_str())
        .fetch_one(app.ctx.store.reader())
        .await
        .expect("item");
    let webhook = json!({"webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": plaid_item_id,
        "error": {"error_code": "ITEM_LOGIN_REQUIRED"}});
    let signed_at = countersign::service::now_ms() / 1000;
    countersign::service::item_health::record(&app.ctx, &webhook, signed_at).await.expect("applied");
    // The same break reported again (Plaid re-signs a retry) is not news.
    countersign::service::item_health::record(&app.ctx, &webhook, signed_at + 1).await.expect("applied");
    // What the policy's tier 1 ("execute, notify and audit") will write in its own transaction.
    let mut tx = app.ctx.store.begin().await.expect("tx");
    let now = countersign::service::now_ms();
    countersign::notify::alerts::enqueue_notice(&mut tx, "gateway.tier1", "Agent test-agent read identity", now)
        .await
        .expect("notice");
    app.ctx.store.commit(tx).await.expect("commit");
    app.eventually("both", || async { team.hits().len() >= 2 }).await;
    app.eventually("nothing left to send", || async {
        let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state <> 'delivered'")
            .fetch_one(app.ctx.store.reader())
            .await
            .expect("count");
        waiting == 0
    })
    .await;
    let hits = team.hits();
    assert_eq!(hits.len(), 2, "one item alert, one notice");
    let broken = hits.iter().map(|h| h.json()).find(|e| e["type"] == "item.broken").expect("item alert");
    let headline = broken["data"]["headline"].as_str().unwrap_or_default();
    assert!(headline.starts_with("Bank connection broken at") && headline.contains("ITEM_LOGIN_REQUIRED"), "{broken}");
    let notice = hits.iter().map(|h| h.json()).find(|e| e["type"] == "gateway.tier1").expect("notice");
    assert_eq!(notice["data"]["headline"], "Agent test-agent read identity");
    assert!(verified_with(TEAM_SECRET, &hits).iter().all(|ok| *ok));
    app.stop().await;
}

/// The embedded default (SQLite only) prints alerts: its team channel is the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_prints_an_alert_for_a_request_that_needs_approval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = crate::helpers::EmbeddedApp::start(dir.path()).await;
    let response = app.propose_demo(dir.path(), "1250.00").await;
    assert!(response.status().is_success());
    let printed = || async {
        let listed =
            countersign::store::outbox::list(app.ctx.store.reader(), Some("delivered"), 10).await.expect("list");
        listed.into_iter().find(|m| m.channel == "console")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let message = loop {
        if let Some(message) = printed().await {
            break message;
        }
        assert!(tokio::time::Instant::now() < deadline, "no console alert");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(message.event_type, "transfer.pending_approval");
    let text: Value = serde_json::from_str(&message.payload).expect("json");
    let text = text["text"].as_str().expect("text");
    // The demo proposes on the item's first account by id: checking ••0000 or savings ••1111.
    let account = ["from Plaid Checking ••0000 — ", "from Plaid Saving ••1111 — "].iter().any(|a| text.contains(a));
    assert!(text.starts_with("Agent demo-agent wants to debit $1,250.00 from Plaid ") && account, "{text}");
    app.stop().await;
}

/// A recurring transfer is approved whole, so its alert says the whole schedule, count and total.
async fn a_recurring_transfer_alert_says_the_whole_schedule(db: Db) {
    let app = app_with(db, 50, None).await;
    app.add_approver("alice", "approver", None).await;
    let slack = slack_for(&app, "alice").await;
    let mut proposal = app.proposal("250.00");
    proposal["schedule"] = json!({"interval_unit": "month", "interval_count": 1, "interval_execution_day": 1,
        "start_date": "2027-01-01", "end_date": "2027-12-01"});
    assert_eq!(app.propose(&proposal).await.status(), reqwest::StatusCode::CREATED);
    app.eventually("a Slack alert", || async { !slack.hits().is_empty() }).await;
    let text = text_of(&slack.hits()[0]);
    assert!(
        text.starts_with(
            "Agent test-agent wants a recurring transfer: Debit $250.00 from ••0000 every month on the 1st, \
             from 2027-01-01 to 2027-12-01 — 12 debits, $3,000.00 in total"
        ),
        "{text}"
    );
    assert!(!slack.hits()[0].body.contains("Lovelace"));
    app.stop().await;
}

on_both_backends!(
    a_recurring_transfer_alert_says_the_whole_schedule,
    a_broken_item_and_a_notice_reach_the_team_channel,
    a_slack_alert_says_what_when_and_where_without_secrets_or_the_legal_name,
    only_approvers_allowed_on_the_item_and_not_the_owner_are_alerted,
    reminders_skip_approvers_who_decided_and_escalation_reaches_the_team,
    a_returned_transfer_alerts_the_team_with_its_code,
);
