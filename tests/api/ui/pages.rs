//! The pages: inbox, request page, history with the audit trail, enrollment by link.

use super::{field, location, Browser};
use crate::helpers::{spawn_app, Db};
use crate::on_both_backends;
use countersign::service::enrollment;
use reqwest::StatusCode;

async fn the_inbox_lists_pending_requests_soonest_deadline_first_with_what_matters(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let first = app.propose_ok("250.00").await;
    let second = app.propose_ok("12000.00").await;
    let browser = Browser::new(&app);

    let anonymous = browser.get("/ui").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER, "signed-out visitors go to the sign-in page");
    browser.sign_in(&alice).await;
    let inbox = browser.get("/ui").await;
    assert_eq!(inbox.status, StatusCode::OK);
    let html = &inbox.html;
    let (a, b) = (first["id"].as_str().expect("id"), second["id"].as_str().expect("id"));
    assert!(html.find(a) < html.find(b), "soonest expiry first:\n{html}");
    for expected in ["Debit $250.00", "Debit $12,000.00", "••0000 at", "0 of 1", "0 of 2", "min left", "Tier"] {
        assert!(html.contains(expected), "inbox shows {expected:?}:\n{html}");
    }
    app.stop().await;
}

async fn the_request_page_renders_the_change_in_plain_words_and_escapes_agent_text(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let mut proposal = app.proposal("1250.00");
    proposal["reason"] = "<script>alert(1)</script> pay now".into();
    proposal["thread_id"] = "thread-\"quoted\"".into();
    let response = app.propose(&proposal).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let request: serde_json::Value = response.json().await.expect("json");
    let id = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;

    let page = browser.get(&format!("/ui/requests/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.html;
    assert!(super::shows_as_text(html, "<script>alert(1)</script> pay now"), "{html}");
    assert!(!html.contains("<script>alert"), "no agent text becomes markup");
    assert_eq!(html.matches("<script").count(), 1, "only our own live-window script");
    assert!(super::shows_as_text(html, "thread-\"quoted\""), "{html}");
    let hash = request["payload_hash"].as_str().expect("hash");
    for expected in [
        "Debit $1,250.00 from Plaid Checking ••0000 at",
        "Available balance now",
        "Available balance after",
        "approved",
        "every transfer needs a human approval",
        "step-up threshold",
        "test-agent",
        "First transfer to this account",
        &hash[..12],
        "min left",
        "Fresh code from your authenticator app",
    ] {
        assert!(html.contains(expected), "request page shows {expected:?}:\n{html}");
    }
    let csp = page.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    // Our own form posts must carry our origin (the cross-site check refuses `Origin: null`, which
    // `no-referrer` makes browsers send); other sites get no Referer at all.
    assert_eq!(page.headers.get("referrer-policy").and_then(|v| v.to_str().ok()), Some("same-origin"));
    let css = browser.get("/ui/static/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/css")));

    // A second proposal is still a first (issue 16: only a created transfer counts); once a
    // transfer to the account was submitted, a new request is no longer a first.
    let later = app.propose_ok("20.00").await;
    let page = browser.get(&format!("/ui/requests/{}", later["id"].as_str().expect("id"))).await;
    assert!(page.html.contains("First transfer to this account"));
    let bob = app.add_approver("bob", "approver", None).await;
    let (status, done) = app.approve_as(&bob, &later).await;
    assert_eq!((status, done["state"].as_str()), (StatusCode::OK, Some("submitted")), "{done}");
    let page = browser.get(&format!("/ui/requests/{id}")).await;
    assert!(!page.html.contains("First transfer to this account"));
    app.stop().await;
}

async fn history_lists_decided_requests_filters_them_and_shows_the_trail(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let approved = app.propose_ok("250.00").await;
    let rejected = app.propose_ok("260.00").await;
    let (approved_id, rejected_id) = (approved["id"].as_str().expect("id"), rejected["id"].as_str().expect("id"));
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{approved_id}");
    browser.submit(&path, &format!("{path}/approve"), &[]).await;
    let path = format!("/ui/requests/{rejected_id}");
    browser.submit(&path, &format!("{path}/reject"), &[("reason", "duplicate".to_owned())]).await;

    let all = browser.get("/ui/history").await;
    assert!(all.html.contains(approved_id) && all.html.contains(rejected_id), "{}", all.html);
    assert!(all.html.contains("Transfer submitted") && all.html.contains("pending"), "{}", all.html);
    let only_rejected = browser.get("/ui/history?state=rejected").await;
    assert!(only_rejected.html.contains(rejected_id) && !only_rejected.html.contains(approved_id));

    let trail = browser.get(&format!("/ui/history/{approved_id}")).await;
    assert_eq!(trail.status, StatusCode::OK);
    // Readable event names and approver names (issue 16.6).
    for event in ["Proposed by the agent", "Approval given", "Approved (all approvals in)", "Transfer created at Plaid"]
    {
        assert!(trail.html.contains(event), "trail shows {event}:\n{}", trail.html);
    }
    assert!(trail.html.contains(&format!("<td>{}</td>", alice.username)));
    app.stop().await;
}

async fn enrollment_by_link_sets_the_password_and_confirms_the_authenticator_once(db: Db) {
    let app = spawn_app(db).await;
    let grant =
        enrollment::add_with_link(&app.ctx.store, &app.ctx.master_key, "dora", "approver", None).await.expect("link");
    assert!(grant.enrollment.generated_password.is_some(), "a random password nobody is shown");
    let path = format!("/ui/enroll/{}", grant.token);
    let browser = Browser::new(&app);

    let page = browser.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("<svg") && page.html.contains(&grant.enrollment.totp_secret_base32));
    let authenticator = totp_rs::TOTP::from_url(&grant.enrollment.otpauth_uri).expect("uri");
    let code = authenticator.generate_current().expect("code");
    let mut form = vec![("csrf", field(&page.html, &path, "csrf"))];
    form.push(("password", "dora's long passphrase".to_owned()));
    form.push(("password_again", "dora's long passphrase".to_owned()));
    let other = [form[0].clone(), form[1].clone(), ("password_again", "another passphrase".to_owned())];
    let mismatch = browser.post(&path, &other).await;
    assert_eq!(location(&mismatch), format!("{path}?m=password_mismatch"));
    form.push(("totp", code));
    let done = browser.post(&path, &form).await;
    assert_eq!(location(&done), "/ui/sign-in?m=enrolled");

    assert_eq!(browser.get(&path).await.status, StatusCode::GONE, "the link works once");
    let session = countersign::service::signin::sign_in(
        &app.ctx,
        "127.0.0.1",
        "dora",
        "dora's long passphrase",
        &authenticator.generate(countersign::auth::totp::STEP_SECONDS * (crate::helpers::unix_now() / 30 + 1)),
    )
    .await;
    assert!(session.is_ok(), "the new password and the authenticator sign in");
    app.stop().await;
}

on_both_backends!(
    the_inbox_lists_pending_requests_soonest_deadline_first_with_what_matters,
    the_request_page_renders_the_change_in_plain_words_and_escapes_agent_text,
    history_lists_decided_requests_filters_them_and_shows_the_trail,
    enrollment_by_link_sets_the_password_and_confirms_the_authenticator_once,
);
