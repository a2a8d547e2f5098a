//! Issue 16.2: the inbox as a worklist — flags, waiting for you vs. for others, sort and filter,
//! the next request after a decision, and batch approval decided and audited one by one.

use crate::helpers::{body, spawn_app, Db, TestApp};
use crate::on_both_backends;
use crate::ui::{hidden_fields, location, Browser};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The inbox's "waiting for you" part and its "waiting for others" part.
fn sections(html: &str) -> (&str, &str) {
    let start = html.find("id=\"for-you\"").unwrap_or_else(|| panic!("no waiting-for-you section:\n{html}"));
    let split = html.find("id=\"for-others\"").unwrap_or_else(|| panic!("no waiting-for-others section:\n{html}"));
    (&html[start..split], &html[split..])
}

/// The table row of the inbox that links to request `id`.
fn row<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!("/ui/requests/{id}\"")).unwrap_or_else(|| panic!("{id} not in:\n{html}"));
    let start = html[..at].rfind("<tr>").unwrap_or(0);
    let end = html[at..].find("</tr>").map_or(html.len(), |e| at + e);
    &html[start..end]
}

/// A field name for the form list (a few per test).
fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

async fn propose_id(app: &TestApp, amount: &str) -> String {
    app.propose_ok(amount).await["id"].as_str().expect("id").to_owned()
}

async fn the_inbox_flags_first_transfers_look_alikes_most_of_the_balance_and_broken_logins(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    app.set_balance("1000.00").await;
    let big = propose_id(&app, "950.00").await;
    let twin = propose_id(&app, "950.00").await;
    let small = propose_id(&app, "10.00").await;
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let html = browser.get("/ui").await.html;
    let (mine, _) = sections(&html);
    for id in [&big, &twin, &small] {
        assert!(row(mine, id).contains("First transfer to this account"), "no transfer was ever created:\n{mine}");
    }
    assert!(row(mine, &big).contains("Looks like a duplicate") && row(mine, &twin).contains("Looks like a duplicate"));
    assert!(!row(mine, &small).contains("Looks like a duplicate"));
    assert!(row(mine, &big).contains("90% or more of the balance"));
    assert!(!row(mine, &small).contains("90% or more of the balance"));
    assert!(!mine.contains("Bank connection needs attention"));

    // Once a transfer was created on the account, it is no longer a first; a broken login flags
    // every request on the item.
    let (status, done) = app.approve_as(&alice, &json!({"id": small, "payload_hash": hash(&app, &small).await})).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let broken = app.propose_ok("11.00").await;
    app.sim_post(
        "/sandbox/item/reset_login",
        json!({"client_id": "sim-client-id", "secret": "sim-secret", "access_token": app.access_token}),
    )
    .await;
    let (_, waiting) = app.approve_as(&alice, &broken).await;
    assert_eq!(waiting["state"], "reauth_required");
    let html = browser.get("/ui").await.html;
    let (mine, _) = sections(&html);
    assert!(!row(mine, &big).contains("First transfer to this account"), "{mine}");
    assert!(row(mine, &big).contains("Bank connection needs attention"), "{mine}");
    let filtered = browser.get("/ui?flag=duplicate").await.html;
    assert!(filtered.contains(&big) && filtered.contains(&twin), "{filtered}");
    app.stop().await;
}

async fn hash(app: &TestApp, id: &str) -> Value {
    body(app.get_request(id, None).await).await.1["payload_hash"].clone()
}

async fn requests_you_approved_wait_for_others_apart_from_those_waiting_for_you(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let big = app.propose_ok("12000.00").await;
    let big_id = big["id"].as_str().expect("id");
    let small = propose_id(&app, "25.00").await;
    let (status, value) = app.approve_as(&alice, &big).await;
    assert_eq!((status, value["state"].as_str()), (StatusCode::OK, Some("pending_approval")), "{value}");

    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let html = browser.get("/ui").await.html;
    let (mine, others) = sections(&html);
    assert!(mine.contains(&small) && !mine.contains(big_id), "{mine}");
    assert!(others.contains(big_id) && row(others, big_id).contains("1 of 2"), "{others}");

    let bob = app.add_approver("bob", "approver", None).await;
    let bobs = Browser::new(&app);
    bobs.sign_in(&bob).await;
    let html = bobs.get("/ui").await.html;
    let (mine, others) = sections(&html);
    assert!(mine.contains(big_id) && mine.contains(&small), "bob has not approved either:\n{mine}");
    assert!(!others.contains(big_id));
    app.stop().await;
}

async fn the_inbox_sorts_and_filters_by_tier_agent_account_and_flag(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let small = propose_id(&app, "25.00").await;
    let large = propose_id(&app, "12000.00").await;
    let other_agent = app.new_agent("second-agent", None).await;
    let mut proposal = app.proposal("30.00");
    proposal["description"] = "Other".into();
    let response = app.propose_with(&other_agent, "k-second-agent-1", &proposal).await;
    let (status, theirs) = body(response).await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    let theirs = theirs["id"].as_str().expect("id").to_owned();

    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let by_amount = browser.get("/ui?sort=amount").await.html;
    let (at_large, at_small) = (by_amount.find(&large).expect("large"), by_amount.find(&small).expect("small"));
    assert!(at_large < at_small, "largest amount first");
    let tier3 = browser.get("/ui?tier=3").await.html;
    assert!(tier3.contains(&large) && !tier3.contains(&small) && !tier3.contains(&theirs), "{tier3}");
    let agent_id =
        body(app.get_request(&small, None).await).await.1["intent"]["agent_id"].as_str().unwrap_or_default().to_owned();
    let first_agent = browser.get(&format!("/ui?agent={agent_id}")).await.html;
    assert!(first_agent.contains(&small) && !first_agent.contains(&theirs), "{first_agent}");
    let account = browser.get(&format!("/ui?account={}", app.account_id)).await.html;
    assert!(account.contains(&small) && account.contains(&theirs));
    let nowhere = browser.get("/ui?account=acc-elsewhere&flag=%3Cscript%3E").await.html;
    assert!(!nowhere.contains(&small) && !nowhere.contains("<script>"), "{nowhere}");
    app.stop().await;
}

async fn after_a_decision_the_next_request_waiting_for_you_opens(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let first = propose_id(&app, "25.00").await;
    let second = propose_id(&app, "26.00").await;
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{first}");
    let approved = browser.submit(&path, &format!("{path}/approve"), &[]).await;
    assert_eq!(location(&approved), format!("/ui/requests/{second}?m=approved_next&prev={first}"));
    let shown = browser.get(&location(&approved)).await.html;
    assert!(shown.contains("Your approval of the previous request is recorded."), "{shown}");
    assert!(shown.contains(&format!("href=\"/ui/requests/{first}\"")), "links back to the decided one");
    let path = format!("/ui/requests/{second}");
    let rejected = browser.submit(&path, &format!("{path}/reject"), &[("reason", "not this one".to_owned())]).await;
    assert_eq!(location(&rejected), format!("{path}?m=rejected"), "nothing else waits: stay on the decided one");
    app.stop().await;
}

async fn batch_approval_confirms_once_then_decides_and_audits_each_request_on_its_own(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let mut ids = Vec::new();
    for amount in ["100.00", "200.00", "900.00", "13.00"] {
        ids.push(propose_id(&app, amount).await);
    }
    let step_up = propose_id(&app, "1500.00").await;
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let inbox = browser.get("/ui").await.html;
    for id in &ids {
        assert!(row(&inbox, id).contains("type=\"checkbox\""), "tier 2 below step-up is selectable");
    }
    assert!(!row(&inbox, &step_up).contains("type=\"checkbox\""), "a step-up request is not");

    let query: Vec<String> = ids.iter().chain([&step_up]).map(|id| format!("id={id}")).collect();
    let confirm_path = format!("/ui/batch?{}", query.join("&"));
    let confirm = browser.get(&confirm_path).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.html.contains("Approve 4 debits, $1,213.00 in total"), "{}", confirm.html);
    assert!(confirm.html.contains("Left out") && confirm.html.contains("$1,500.00"), "{}", confirm.html);

    // One of them is decided elsewhere meanwhile: the batch approves the others and says so.
    let form = hidden_fields(&confirm.html, "/ui/batch");
    let (status, _) = body(app.cancel(&ids[3], "cancel-before-batch").await).await;
    assert_eq!(status, StatusCode::OK);
    let form: Vec<(&str, String)> = form.into_iter().map(|(name, value)| (leak(name), value)).collect();
    let done = browser.post("/ui/batch", &form).await;
    assert_eq!(location(&done), "/ui?m=batch_done&approved=3&refused=1");
    let shown = browser.get(&location(&done)).await.html;
    assert!(shown.contains("Approved 3 requests; 1 request could not be approved"), "{shown}");
    for id in &ids[..3] {
        let (_, seen) = body(app.get_request(id, None).await).await;
        assert_eq!(seen["state"], "submitted", "{id}");
        let events = app.audit_events_for(id).await;
        assert_eq!(events.iter().filter(|e| *e == "approval_token.issued").count(), 1, "{id}: {events:?}");
        assert_eq!(events.iter().filter(|e| *e == "transfer.approval").count(), 1, "{id}: {events:?}");
    }
    let (_, untouched) = body(app.get_request(&step_up, None).await).await;
    assert_eq!(untouched["state"], "pending_approval", "left out of the batch");
    assert_eq!(app.transfers_at_plaid().await, 3);
    app.stop().await;
}

async fn a_batch_cannot_smuggle_in_a_step_up_request(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let small = app.propose_ok("10.00").await;
    let step_up = app.propose_ok("1500.00").await;
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let confirm_path = format!("/ui/batch?id={}", small["id"].as_str().expect("id"));
    let forged = format!(
        "{}:{},{}:{}",
        small["id"].as_str().expect("id"),
        small["payload_hash"].as_str().expect("hash"),
        step_up["id"].as_str().expect("id"),
        step_up["payload_hash"].as_str().expect("hash")
    );
    let page = browser.get(&confirm_path).await;
    let form: Vec<(&str, String)> = hidden_fields(&page.html, "/ui/batch")
        .into_iter()
        .map(|(name, value)| if name == "requests" { ("requests", forged.clone()) } else { (leak(name), value) })
        .collect();
    let done = browser.post("/ui/batch", &form).await;
    assert_eq!(location(&done), "/ui?m=batch_done&approved=1&refused=1");
    let (_, seen) = body(app.get_request(step_up["id"].as_str().expect("id"), None).await).await;
    assert_eq!(seen["state"], "pending_approval", "the step-up request still needs its own page and a code");
    app.stop().await;
}

on_both_backends!(
    the_inbox_flags_first_transfers_look_alikes_most_of_the_balance_and_broken_logins,
    requests_you_approved_wait_for_others_apart_from_those_waiting_for_you,
    the_inbox_sorts_and_filters_by_tier_agent_account_and_flag,
    after_a_decision_the_next_request_waiting_for_you_opens,
    batch_approval_confirms_once_then_decides_and_audits_each_request_on_its_own,
    a_batch_cannot_smuggle_in_a_step_up_request,
);
