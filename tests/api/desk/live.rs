//! Issue 16.3: the live window — a same-origin script under the strict CSP counts down and asks
//! whether the request was decided elsewhere; the words say which (an expired request is never
//! "already decided"); without JavaScript the page says the same.

use crate::helpers::{body, spawn_app, spawn_app_with, Db, Options};
use crate::on_both_backends;
use crate::ui::{hidden_fields, location, Browser};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn status(browser: &Browser, id: &str) -> Value {
    let response = browser.client.get(format!("{}/ui/requests/{id}/status", browser.base)).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

async fn an_expired_request_says_the_window_closed_and_never_already_decided(db: Db) {
    let options =
        Options { authorization_ttl: Duration::from_secs(3), expiry_margin: Duration::ZERO, ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("25.00").await;
    let id = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{id}");
    let page = browser.get(&path).await;
    assert!(page.html.contains("data-seconds-left="), "{}", page.html);
    let form = hidden_fields(&page.html, &format!("{path}/approve"));
    app.eventually("the sweeper expires the request", || async {
        body(app.get_request(id, None).await).await.1["state"] == "expired"
    })
    .await;

    let pairs: Vec<(&str, String)> = form.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let late = browser.post(&format!("{path}/approve"), &pairs).await;
    assert_eq!(location(&late), format!("{path}?m=window_passed"));
    let shown = browser.get(&location(&late)).await.html;
    assert!(shown.contains("The approval window closed at"), "{shown}");
    assert!(!shown.contains("already decided"), "never 'already decided' for an expired request:\n{shown}");
    let seen = status(&browser, id).await;
    assert_eq!(seen["open"], false);
    let message = seen["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("The approval window closed at ") && message.contains(" UTC"), "{seen}");
    app.stop().await;
}

async fn the_page_learns_that_a_request_was_decided_elsewhere(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let request = app.propose_ok("25.00").await;
    let id = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let open = status(&browser, id).await;
    assert_eq!(open["open"], true, "{open}");
    assert!(open["seconds_left"].as_i64().is_some_and(|s| s > 3000), "{open}");

    let session = app.sign_in(&bob).await;
    let reason = json!({"reason": "not ours"});
    let response = app.approver_post(&session, &format!("/v1/transfers/{id}/reject"), reason).await;
    assert_eq!(response.status(), StatusCode::OK);
    let decided = status(&browser, id).await;
    assert_eq!(decided["open"], false);
    let message = decided["message"].as_str().unwrap_or_default();
    assert!(message.contains("no longer waiting") && message.contains("Rejected"), "{decided}");
    assert!(!message.contains("window closed"), "{decided}");
    let page = browser.get(&format!("/ui/requests/{id}")).await.html;
    assert!(page.contains(message), "the page without JavaScript says the same:\n{page}");
    app.stop().await;
}

async fn the_live_script_is_a_same_origin_file_under_the_strict_csp(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("25.00").await;
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let page = browser.get(&format!("/ui/requests/{}", request["id"].as_str().expect("id"))).await;
    let csp = page.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(page.html.contains("<script src=\"/ui/static/live.js\" defer></script>"), "{}", page.html);
    assert_eq!(page.html.matches("<script").count(), 1, "no inline script");
    assert!(!page.html.contains(" onclick=") && !page.html.contains(" onload="), "no inline handlers");
    let script = browser.get("/ui/static/live.js").await;
    assert_eq!(script.status, StatusCode::OK);
    let kind = script.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(kind.starts_with("text/javascript"), "{kind}");
    assert!(script.html.contains("data-live") || script.html.contains("dataset.live"));
    let signed_out = Browser::new(&app);
    let refused = signed_out.get(&format!("/ui/requests/{}/status", request["id"].as_str().expect("id"))).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER, "the status needs a session");
    app.stop().await;
}

on_both_backends!(
    an_expired_request_says_the_window_closed_and_never_already_decided,
    the_page_learns_that_a_request_was_decided_elsewhere,
    the_live_script_is_a_same_origin_file_under_the_strict_csp,
);
