//! CSRF, cookie flags, session rotation at sign-in and step-up, lockout, sign-out.

use super::{hidden_fields, location, session_cookie, Browser};
use crate::helpers::{spawn_app, spawn_app_with, Db, Options, TestApp};
use crate::on_both_backends;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;

/// What a browser without our cookies sees when it presents this session token.
async fn with_session_token(app: &TestApp, name: &str, token: &str) -> reqwest::Response {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    client.get(format!("{}/ui", app.address)).header(COOKIE, format!("{name}={token}")).send().await.expect("sent")
}

async fn forms_without_the_sessions_csrf_token_are_refused_and_change_nothing(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let path = format!("/ui/requests/{id}");
    let (browser, other) = (Browser::new(&app), Browser::new(&app));
    browser.sign_in(&alice).await;
    other.sign_in(&bob).await;
    let foreign = super::field(&other.get(&path).await.html, &format!("{path}/approve"), "csrf");

    let page = browser.get(&path).await;
    for action in ["approve", "reject"] {
        let action = format!("{path}/{action}");
        let fields = hidden_fields(&page.html, &action);
        let without: Vec<(&str, String)> =
            fields.iter().filter(|(k, _)| k != "csrf").map(|(k, v)| (k.as_str(), v.clone())).collect();
        let mut forged = without.clone();
        forged.push(("csrf", foreign.clone()));
        forged.push(("reason", "forged".to_owned()));
        for form in [without, forged] {
            let response = browser.post(&action, &form).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            let html = response.text().await.expect("body");
            assert!(html.contains("did not come from this site"), "{html}");
        }
    }
    let sign_out = browser.post("/ui/sign-out", &[("csrf", foreign)]).await;
    assert_eq!(sign_out.status(), StatusCode::FORBIDDEN);
    let (_, seen) = crate::helpers::body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "pending_approval");
    assert!(app.audit_events_for(id).await.iter().all(|e| e != "transfer.approval" && e != "transfer.rejected"));
    assert_eq!(browser.get("/ui").await.status, StatusCode::OK, "still signed in");

    let anonymous = Browser::new(&app);
    let no_nonce = anonymous
        .post("/ui/sign-in", &[("username", alice.username.clone()), ("password", alice.password.clone())])
        .await;
    assert_eq!(no_nonce.status(), StatusCode::FORBIDDEN, "sign-in is CSRF-protected too");
    app.stop().await;
}

async fn the_session_cookie_is_host_prefixed_secure_http_only_and_strict(db: Db) {
    let app = spawn_app_with(db, Options { cookie_secure: true, ..Options::default() }).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let page = client.get(format!("{}/ui/sign-in", app.address)).send().await.expect("sent");
    let nonce_cookie = page.headers().get(SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(nonce_cookie.starts_with("__Host-countersign-pre="), "{nonce_cookie}");
    let nonce = nonce_cookie.split(';').next().unwrap_or_default().to_owned();
    let csrf = super::field(&page.text().await.expect("body"), "/ui/sign-in", "csrf");
    let form = [
        ("csrf", csrf),
        ("username", alice.username.clone()),
        ("password", alice.password.clone()),
        ("totp", alice.next_code().await),
    ];
    let signed_in = client
        .post(format!("{}/ui/sign-in", app.address))
        .header(COOKIE, nonce)
        .form(&form)
        .send()
        .await
        .expect("sent");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers().get(SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(cookie.starts_with("__Host-countersign=css_"), "{cookie}");
    for flag in ["; Path=/", "; HttpOnly", "; SameSite=Strict", "; Secure"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(!cookie.contains("Domain="), "__Host- cookies have no Domain");
    app.stop().await;
}

async fn signing_in_again_rotates_the_session_and_the_old_cookie_stops_working(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let browser = Browser::new(&app);
    let first = session_cookie(&browser.sign_in(&alice).await, "countersign").expect("cookie");
    let again = browser.sign_in(&alice).await;
    let flags = again.headers().get(SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(flags.contains("HttpOnly") && !flags.contains("Secure"), "plain-http mode: {flags}");
    let second = session_cookie(&again, "countersign");
    assert!(second.is_some_and(|s| s != first));

    let old = with_session_token(&app, "countersign", &first).await;
    assert_eq!(old.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&old), "/ui/sign-in?m=session_ended");
    assert_eq!(browser.get("/ui").await.status, StatusCode::OK);
    app.stop().await;
}

async fn a_step_up_rotates_the_session_and_the_old_cookie_stops_working(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("1500.00").await;
    let path = format!("/ui/requests/{}", request["id"].as_str().expect("id"));
    let browser = Browser::new(&app);
    let before = session_cookie(&browser.sign_in(&alice).await, "countersign").expect("cookie");

    let approved = browser.submit(&path, &format!("{path}/approve"), &[("totp", alice.next_code().await)]).await;
    assert_eq!(location(&approved), format!("{path}?m=approved"));
    let after = session_cookie(&approved, "countersign").expect("a new session cookie");
    assert_ne!(after, before);
    assert_eq!(location(&with_session_token(&app, "countersign", &before).await), "/ui/sign-in?m=session_ended");
    assert_eq!(with_session_token(&app, "countersign", &after).await.status(), StatusCode::OK);
    assert!(browser.get(&path).await.html.contains("Transfer submitted"));
    app.stop().await;
}

async fn repeated_failures_throttle_the_approver_and_say_how_long_to_wait(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let browser = Browser::new(&app);
    let wrong = browser.sign_in_with(&alice, "not the password", "123456".into()).await;
    assert_eq!(location(&wrong), "/ui/sign-in?m=invalid_credentials");
    let shown = browser.get(&location(&wrong)).await;
    assert!(shown.html.contains("Username, password or code is wrong."), "{}", shown.html);
    assert!(!shown.html.contains("alice"), "input is never reflected");
    for _ in 0..4 {
        browser.sign_in_with(&alice, "not the password", "123456".into()).await;
    }
    let throttled = browser.sign_in_with(&alice, &alice.password, alice.next_code().await).await;
    assert_eq!(location(&throttled), "/ui/sign-in?m=too_many_attempts&wait=1");
    let shown = browser.get(&location(&throttled)).await;
    assert!(shown.html.contains("Too many attempts; try again in 1 second."), "{}", shown.html);
    let crafted = browser.get("/ui/sign-in?m=too_many_attempts&wait=%3Cb%3E").await;
    assert_eq!(crafted.status, StatusCode::OK, "a crafted wait shows the generic message");
    assert!(crafted.html.contains("Too many attempts. Wait a little"), "{}", crafted.html);
    assert_eq!(browser.get("/ui").await.status, StatusCode::SEE_OTHER, "no session was made");
    app.stop().await;
}

async fn signing_out_ends_the_session(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let browser = Browser::new(&app);
    let token = session_cookie(&browser.sign_in(&alice).await, "countersign").expect("cookie");
    let signed_out = browser.submit("/ui", "/ui/sign-out", &[]).await;
    assert_eq!(location(&signed_out), "/ui/sign-in?m=signed_out");
    assert_eq!(browser.get("/ui").await.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&with_session_token(&app, "countersign", &token).await), "/ui/sign-in?m=session_ended");
    app.stop().await;
}

/// Posts the reject form of `path` with its valid CSRF token and the given extra headers.
async fn reject_with_headers(browser: &Browser, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let action = format!("{path}/reject");
    let mut form = hidden_fields(&browser.get(path).await.html, &action);
    form.push(("reason".to_owned(), "not ours".to_owned()));
    let mut request = browser.client.post(format!("{}{action}", browser.base)).form(&form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("sent")
}

async fn form_posts_from_another_site_are_refused_even_with_a_valid_csrf_token(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let path = format!("/ui/requests/{id}");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let foreign = [
        [("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")],
        [("Origin", "null"), ("X-Unused", "")],
        [("Origin", "http://127.0.0.1:1"), ("X-Unused", "")],
        [("Sec-Fetch-Site", "cross-site"), ("X-Unused", "")],
        [("Sec-Fetch-Site", "same-site"), ("X-Unused", "")],
    ];
    for headers in foreign {
        let response = reject_with_headers(&browser, &path, &headers).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{headers:?}");
        let html = response.text().await.expect("body");
        assert!(html.contains("did not come from this site"), "{html}");
    }
    let (_, seen) = crate::helpers::body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "pending_approval", "nothing was decided");

    let own = app.address.clone();
    let same_origin =
        reject_with_headers(&browser, &path, &[("Origin", &own), ("Sec-Fetch-Site", "same-origin")]).await;
    assert_eq!(same_origin.status(), StatusCode::SEE_OTHER, "our own origin is accepted");
    let (_, seen) = crate::helpers::body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "rejected");

    let other = app.propose_ok("250.00").await;
    let other_path = format!("/ui/requests/{}", other["id"].as_str().expect("id"));
    let no_headers = reject_with_headers(&browser, &other_path, &[]).await;
    assert_eq!(no_headers.status(), StatusCode::SEE_OTHER, "old clients without the headers still work");
    app.stop().await;
}

async fn form_fields_with_control_characters_are_refused_with_422_and_change_nothing(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let anonymous = Browser::new(&app);
    let sign_in = anonymous.sign_in_with(&alice, "pass\u{0}word", alice.next_code().await).await;
    assert_eq!(sign_in.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(sign_in.text().await.expect("body").contains("control character"));

    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{id}");
    let refused = browser.submit(&path, &format!("{path}/reject"), &[("reason", "no\u{0}".to_owned())]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, seen) = crate::helpers::body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "pending_approval");
    // A textarea's lines arrive as CRLF: a multi-line reason is accepted.
    let lines = browser.submit(&path, &format!("{path}/reject"), &[("reason", "wrong\r\naccount".to_owned())]).await;
    assert_eq!(lines.status(), StatusCode::SEE_OTHER);
    let (_, seen) = crate::helpers::body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "rejected");
    app.stop().await;
}

on_both_backends!(
    form_fields_with_control_characters_are_refused_with_422_and_change_nothing,
    form_posts_from_another_site_are_refused_even_with_a_valid_csrf_token,
    forms_without_the_sessions_csrf_token_are_refused_and_change_nothing,
    the_session_cookie_is_host_prefixed_secure_http_only_and_strict,
    signing_in_again_rotates_the_session_and_the_old_cookie_stops_working,
    a_step_up_rotates_the_session_and_the_old_cookie_stops_working,
    repeated_failures_throttle_the_approver_and_say_how_long_to_wait,
    signing_out_ends_the_session,
);
