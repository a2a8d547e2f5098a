//! Deciding in the form: approve (with step-up and tier-3 confirmation), reject, edit, double
//! submits, and a clear message for every refusal.

use super::{location, Browser};
use crate::helpers::{body, spawn_app, spawn_app_with, Db, Options};
use crate::on_both_backends;
use reqwest::StatusCode;
use std::time::Duration;

async fn approving_in_the_form_submits_the_transfer_once_even_when_submitted_twice(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{id}");
    let action = format!("{path}/approve");

    let page = browser.get(&path).await;
    let form = super::hidden_fields(&page.html, &action);
    let pairs: Vec<(&str, String)> = form.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let first = browser.post(&action, &pairs).await;
    let second = browser.post(&action, &pairs).await;
    assert_eq!((first.status(), second.status()), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER));
    assert_eq!(location(&first), format!("{path}?m=approved"));
    assert_eq!(location(&second), location(&first), "the repeat lands on the same result");

    let shown = browser.get(&location(&first)).await;
    assert!(shown.html.contains("Your approval is recorded."), "{}", shown.html);
    assert!(shown.html.contains("Transfer submitted"), "{}", shown.html);
    assert_eq!(app.sim_calls("/transfer/create").await.len(), 1);
    assert_eq!(app.transfers_at_plaid().await, 1);
    let approvals = app.audit_events_for(id).await.iter().filter(|e| *e == "transfer.approval").count();
    assert_eq!(approvals, 1);
    app.stop().await;
}

async fn step_up_needs_a_fresh_code_and_every_refusal_is_explained(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("1500.00").await;
    let id = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{id}");
    let action = format!("{path}/approve");
    let page = browser.get(&path).await;
    assert!(page.html.contains("name=\"totp\""), "the approve form asks for a code");

    let missing = browser.submit(&path, &action, &[("totp", String::new())]).await;
    assert_eq!(location(&missing), format!("{path}?m=totp_required"));
    let reused = browser.submit(&path, &action, &[("totp", alice.last_code())]).await;
    assert_eq!(location(&reused), format!("{path}?m=totp_reused"));
    let shown = browser.get(&location(&reused)).await;
    assert!(shown.html.contains("That code was already used"), "{}", shown.html);
    let wrong = if alice.last_code() == "000000" { "111111" } else { "000000" };
    let refused = browser.submit(&path, &action, &[("totp", wrong.to_owned())]).await;
    assert_eq!(location(&refused), format!("{path}?m=invalid_totp"));
    assert!(app.sim_calls("/transfer/create").await.is_empty());

    let approved = browser.submit(&path, &action, &[("totp", alice.next_code().await)]).await;
    assert_eq!(location(&approved), format!("{path}?m=approved"));
    let (_, seen) = body(app.get_request(id, Some(5)).await).await;
    assert_eq!(seen["state"], "submitted");
    app.stop().await;
}

async fn tier_three_needs_the_amount_typed_to_confirm(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("12000.00").await;
    let id = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{id}");
    let action = format!("{path}/approve");

    // The amount is checked before the code, so a typo costs no code.
    let typo = [("confirm_amount", "1200.00".to_owned()), ("totp", "123456".to_owned())];
    let refused = browser.submit(&path, &action, &typo).await;
    // What was typed comes back with the refusal (issue 16.5).
    assert!(location(&refused).starts_with(&format!("{path}?m=amount_mismatch")), "{}", location(&refused));
    let shown = browser.get(&location(&refused)).await;
    assert!(shown.html.contains("Type the amount exactly as shown"), "{}", shown.html);
    assert!(app.audit_events_for(id).await.iter().all(|e| e != "approval_token.issued"), "no code was spent");

    let confirmed = [("confirm_amount", "12,000.00".to_owned()), ("totp", alice.next_code().await)];
    let approved = browser.submit(&path, &action, &confirmed).await;
    assert_eq!(location(&approved), format!("{path}?m=approved"));
    let page = browser.get(&path).await;
    assert!(page.html.contains("1 of 2"), "{}", page.html);
    assert!(page.html.contains("You already approved this request"), "{}", page.html);
    app.stop().await;
}

async fn rejecting_needs_a_reason_and_ends_the_request(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{id}");
    let action = format!("{path}/reject");

    let blank = browser.submit(&path, &action, &[("reason", "  ".to_owned())]).await;
    assert!(location(&blank).starts_with(&format!("{path}?m=reason_required")), "{}", location(&blank));
    let rejected = browser.submit(&path, &action, &[("reason", "not <b>this</b> invoice".to_owned())]).await;
    assert_eq!(location(&rejected), format!("{path}?m=rejected"));
    let (_, seen) = body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "rejected");
    let page = browser.get(&path).await;
    assert!(super::shows_as_text(&page.html, "not <b>this</b> invoice"), "{}", page.html);
    assert!(!page.html.contains("/approve\""), "no decision forms once decided");
    app.stop().await;
}

async fn approving_with_edits_creates_a_lower_version_and_counts_the_approval(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{id}");
    let action = format!("{path}/edit");

    let higher = browser.submit(&path, &action, &[("amount", "300.00".to_owned())]).await;
    assert!(location(&higher).starts_with(&format!("{path}?m=invalid_amount")), "{}", location(&higher));
    let edited =
        browser.submit(&path, &action, &[("amount", "200.00".to_owned()), ("description", "Inv 42b".to_owned())]).await;
    let new_location = location(&edited);
    assert!(new_location.ends_with("?m=edited") && !new_location.contains(id), "{new_location}");
    let page = browser.get(&new_location).await;
    assert!(page.html.contains("Debit $200.00"), "{}", page.html);
    assert!(page.html.contains("Inv 42b"));
    let (_, old) = body(app.get_request(id, None).await).await;
    assert_eq!(old["state"], "superseded");
    app.eventually("the edited version is submitted", || async { app.transfers_at_plaid().await == 1 }).await;
    app.stop().await;
}

async fn a_request_whose_window_passed_leaves_the_inbox_and_cannot_be_approved(db: Db) {
    let options = Options {
        authorization_ttl: Duration::from_secs(3),
        expiry_margin: Duration::from_secs(0),
        ..Options::default()
    };
    let app = spawn_app_with(db, options).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{id}");
    let page = browser.get(&path).await;
    let form = super::hidden_fields(&page.html, &format!("{path}/approve"));
    assert!(browser.get("/ui").await.html.contains(id));

    app.eventually("the request expires", || async {
        body(app.get_request(id, None).await).await.1["state"] == "expired"
    })
    .await;
    assert!(!browser.get("/ui").await.html.contains(id), "expired requests drop out of the inbox");
    let pairs: Vec<(&str, String)> = form.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let late = browser.post(&format!("{path}/approve"), &pairs).await;
    // Nobody decided it, so it never says "already decided" (issue 16.3).
    assert_eq!(location(&late), format!("{path}?m=window_passed"));
    let shown = browser.get(&location(&late)).await;
    assert!(shown.html.contains("window for this request has passed"), "{}", shown.html);
    assert!(!shown.html.contains("already decided"), "{}", shown.html);
    assert!(shown.html.contains("Expired"), "{}", shown.html);
    app.stop().await;
}

/// An approver cancels a submitted transfer from its page while Plaid still allows it; the audit
/// record names them. Once Plaid refuses (cancelled already, or moved), the page says so.
async fn an_approver_cancels_a_submitted_transfer_from_its_page_while_plaid_allows_it(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let (_, done) = app.approve_as(&alice, &app.propose_ok("21.00").await).await;
    let id = done["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&bob).await;
    let path = format!("/ui/requests/{id}");
    let action = format!("{path}/cancel-transfer");
    let page = browser.get(&path).await;
    assert!(page.html.contains(&action), "a pending transfer offers the cancel form: {}", page.html);
    let stale_form = super::hidden_fields(&page.html, &action);

    let cancelled = browser.submit(&path, &action, &[]).await;
    assert_eq!(location(&cancelled), format!("{path}?m=transfer_cancelled"));
    let (_, seen) = body(app.get_request(id, None).await).await;
    assert_eq!((seen["state"].as_str(), seen["transfer_status"].as_str()), (Some("submitted"), Some("cancelled")));
    let rows = app.audit_rows().await;
    let audited = rows.iter().find(|r| r.fields.event_type == "transfer.cancel_requested").expect("audited");
    assert_eq!(audited.fields.approver_id.as_deref(), Some(bob.id.as_str()));
    assert_eq!(audited.fields.plaid_endpoint.as_deref(), Some("/transfer/cancel"));
    assert!(!browser.get(&path).await.html.contains(&action), "no cancel form once cancelled");

    // The stale form, sent again with a fresh key: Plaid refuses, the page says why.
    let mut again: Vec<(&str, String)> = stale_form.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    again.retain(|(k, _)| *k != "idempotency_key");
    again.push(("idempotency_key", "a-second-try".to_owned()));
    let refused = browser.post(&action, &again).await;
    assert_eq!(location(&refused), format!("{path}?m=transfer_not_cancellable"));
    assert!(browser.get(&location(&refused)).await.html.contains("moved past pending"));
    assert_eq!(app.sim_calls("/transfer/cancel").await.len(), 2);
    app.stop().await;
}

/// Only approvers of the item may cancel its transfer, and only a submitted one.
async fn cancelling_a_transfer_from_the_page_needs_the_item_and_a_submitted_request(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let outsider = app.add_approver("olga", "approver", Some(&[])).await;
    let (_, done) = app.approve_as(&alice, &app.propose_ok("21.00").await).await;
    let pending = app.propose_ok("22.00").await;
    let browser = Browser::new(&app);
    browser.sign_in(&outsider).await;
    let submitted = format!("/ui/requests/{}/cancel-transfer", done["id"].as_str().expect("id"));
    let form = [("csrf", browser.csrf().await), ("idempotency_key", "first-key".to_owned())];
    let refused = browser.post(&submitted, &form).await;
    assert!(location(&refused).ends_with("?m=approver_not_allowed"), "{:?} {}", refused.status(), location(&refused));

    let insider = Browser::new(&app);
    let bob = app.add_approver("bob", "approver", None).await;
    insider.sign_in(&bob).await;
    let not_yet = format!("/ui/requests/{}/cancel-transfer", pending["id"].as_str().expect("id"));
    let form = [("csrf", insider.csrf().await), ("idempotency_key", "second-key".to_owned())];
    assert!(location(&insider.post(&not_yet, &form).await).ends_with("?m=invalid_state"));
    assert!(app.sim_calls("/transfer/cancel").await.is_empty(), "Plaid was never asked");
    app.stop().await;
}

on_both_backends!(
    approving_in_the_form_submits_the_transfer_once_even_when_submitted_twice,
    step_up_needs_a_fresh_code_and_every_refusal_is_explained,
    tier_three_needs_the_amount_typed_to_confirm,
    rejecting_needs_a_reason_and_ends_the_request,
    approving_with_edits_creates_a_lower_version_and_counts_the_approval,
    a_request_whose_window_passed_leaves_the_inbox_and_cannot_be_approved,
    an_approver_cancels_a_submitted_transfer_from_its_page_while_plaid_allows_it,
    cancelling_a_transfer_from_the_page_needs_the_item_and_a_submitted_request,
);
