//! Issue 16.5: forgiving, accessible inputs — typed values kept after a refusal, the error beside
//! its field (aria-invalid, aria-describedby, focus), the description limited to what the network
//! allows, a button that says what happens, and a session that ends mid-approval.

use crate::helpers::{body, spawn_app, Db};
use crate::on_both_backends;
use crate::ui::{field, hidden_fields, location, Browser};
use reqwest::StatusCode;

async fn a_refused_edit_keeps_what_was_typed_and_points_at_the_field(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{id}");
    let page = browser.get(&path).await.html;
    assert!(page.contains("Approve and send $250.00 — Plaid creates the debit now"), "{page}");
    assert!(page.contains("maxlength=\"10\""), "ACH descriptions stop at 10 characters:\n{page}");

    let typed = [("amount", "300".to_owned()), ("description", "Inv <43>".to_owned())];
    let refused = browser.submit(&path, &format!("{path}/edit"), &typed).await;
    assert!(location(&refused).starts_with(&format!("{path}?m=invalid_amount&form=edit")), "{}", location(&refused));
    let shown = browser.get(&location(&refused)).await.html;
    for expected in [
        "<details class=\"card\" open>",
        "value=\"300\" aria-invalid=\"true\" aria-describedby=\"edit_amount-error\" autofocus",
        "<p id=\"edit_amount-error\" class=\"field-error\">An edit may only lower the amount",
        "value=\"Inv &#60;43&#62;\"",
    ] {
        assert!(shown.contains(expected), "shows {expected:?}:\n{shown}");
    }
    let (_, seen) = body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "pending_approval");

    // A whole-dollar amount is read as dollars and cents: "$99" is 99.00.
    let lower = browser.submit(&path, &format!("{path}/edit"), &[("amount", "$99".to_owned())]).await;
    assert!(location(&lower).contains("m=edited"), "{}", location(&lower));
    let (_, edited) =
        body(app.get_request(location(&lower).split(['/', '?']).nth(3).unwrap_or_default(), None).await).await;
    assert_eq!(edited["amount"], "99.00", "{edited}");
    app.stop().await;
}

async fn a_session_that_ends_mid_approval_returns_to_the_request_and_says_nothing_was_approved(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let path = format!("/ui/requests/{id}");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let page = browser.get(&path).await.html;
    let approve = hidden_fields(&page, &format!("{path}/approve"));
    let sign_out = [("csrf", field(&page, "/ui/sign-out", "csrf"))];
    assert_eq!(browser.post("/ui/sign-out", &sign_out).await.status(), StatusCode::SEE_OTHER);

    let pairs: Vec<(&str, String)> = approve.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let ended = browser.post(&format!("{path}/approve"), &pairs).await;
    assert_eq!(location(&ended), format!("/ui/sign-in?m=session_ended_nothing_done&next={path}"));
    let sign_in = browser.get(&location(&ended)).await.html;
    assert!(sign_in.contains("nothing was approved or rejected"), "{sign_in}");
    let form = [
        ("csrf", field(&sign_in, "/ui/sign-in", "csrf")),
        ("next", field(&sign_in, "/ui/sign-in", "next")),
        ("username", alice.username.clone()),
        ("password", alice.password.clone()),
        ("totp", alice.next_code().await),
    ];
    let back = browser.post("/ui/sign-in", &form).await;
    assert_eq!(location(&back), format!("{path}?m=signed_in_again"));
    let shown = browser.get(&location(&back)).await.html;
    assert!(shown.contains("Nothing was approved or rejected while you were signed out"), "{shown}");
    let (_, seen) = body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "pending_approval");
    assert!(app.audit_events_for(id).await.iter().all(|e| e != "transfer.approval"));
    app.stop().await;
}

on_both_backends!(
    a_refused_edit_keeps_what_was_typed_and_points_at_the_field,
    a_session_that_ends_mid_approval_returns_to_the_request_and_says_nothing_was_approved,
);
