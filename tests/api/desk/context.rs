//! Issue 16.4: context against rubber-stamping on the request page — the agent's last 30 days,
//! earlier requests on the account, the other debits still to come off it and the balance after
//! all of them, Plaid's rationale — and a confirmation when a tier-3 approval comes too fast.

use crate::helpers::{body, spawn_app, spawn_app_with, Db, Options};
use crate::on_both_backends;
use crate::ui::{location, Browser};
use reqwest::StatusCode;
use std::time::Duration;

async fn the_request_page_counts_every_debit_still_to_come_off_the_account(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let submitted = app.propose_ok("2000.00").await;
    let (status, done) = app.approve_as(&alice, &submitted).await;
    assert_eq!((status, done["state"].as_str()), (StatusCode::OK, Some("submitted")), "{done}");
    app.set_balance("3000.00").await;
    let pending = app.propose_ok("400.00").await;
    let viewed = app.propose_ok("2500.00").await;

    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let html = browser.get(&format!("/ui/requests/{}", viewed["id"].as_str().expect("id"))).await.html;
    for expected in [
        "3 requests, 1 approved, 0 rejected, $2,000.00 moved",
        "Available balance after</dt><dd>$500.00",
        "Available balance after this and all of them</dt><dd class=\"negative\">-$1,900.00 (more than is available)",
        "In total $2,400.00.",
        "Plaid's rationale",
    ] {
        assert!(html.contains(expected), "shows {expected:?}:\n{html}");
    }
    for other in [&submitted, &pending] {
        let link = format!("href=\"/ui/requests/{}\"", other["id"].as_str().expect("id"));
        assert_eq!(html.matches(&link).count(), 2, "listed as earlier and as still to come: {link}");
    }
    app.stop().await;
}

async fn a_tier_three_approval_faster_than_the_reading_time_asks_for_confirmation(db: Db) {
    let options = Options { tier3_min_reading: Duration::from_secs(120), ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("12000.00").await;
    let id = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{id}");
    let action = format!("{path}/approve");

    let hasty = [("confirm_amount", "12000".to_owned()), ("totp", alice.next_code().await)];
    let refused = browser.submit(&path, &action, &hasty).await;
    assert_eq!(location(&refused), format!("{path}?m=read_first&confirm=12000"), "what was typed comes back");
    let shown = browser.get(&location(&refused)).await.html;
    assert!(shown.contains("Nothing was approved") && shown.contains("name=\"read_confirmed\""), "{shown}");
    assert!(app.audit_events_for(id).await.iter().all(|e| e != "approval_token.issued"), "no code was spent");

    let confirmed = [
        ("confirm_amount", "12,000".to_owned()),
        ("totp", alice.next_code().await),
        ("read_confirmed", "yes".to_owned()),
    ];
    let approved = browser.submit(&location(&refused), &action, &confirmed).await;
    assert_eq!(location(&approved), format!("{path}?m=approved"));
    let (_, seen) = body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "pending_approval", "one of two approvals");
    assert_eq!(app.audit_events_for(id).await.iter().filter(|e| *e == "transfer.approval").count(), 1);
    app.stop().await;
}

on_both_backends!(
    the_request_page_counts_every_debit_still_to_come_off_the_account,
    a_tier_three_approval_faster_than_the_reading_time_asks_for_confirmation,
);
