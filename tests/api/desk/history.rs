//! Issue 16.6: history that explains itself — declined, expired and cancelled requests listed
//! and filterable, edited versions linked both ways, a decided page that says who decided and
//! when, and an audit trail with approver names and readable event names.

use crate::helpers::{body, spawn_app, spawn_app_with, Db, Options};
use crate::on_both_backends;
use crate::ui::{location, Browser};
use reqwest::StatusCode;
use std::time::Duration;

async fn history_lists_declined_expired_and_cancelled_requests_and_filters_them(db: Db) {
    let options =
        Options { authorization_ttl: Duration::from_secs(3), expiry_margin: Duration::ZERO, ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let expired = app.propose_ok("25.00").await["id"].as_str().expect("id").to_owned();
    let cancelled = app.propose_ok("26.00").await["id"].as_str().expect("id").to_owned();
    assert_eq!(body(app.cancel(&cancelled, "cancel-history-1").await).await.0, StatusCode::OK);
    app.set_balance("10.00").await;
    let (status, declined) = body(app.propose(&app.proposal("500.00")).await).await;
    assert_eq!((status, declined["state"].as_str()), (StatusCode::CREATED, Some("declined")), "{declined}");
    let declined = declined["id"].as_str().expect("id").to_owned();
    app.eventually("the request expires", || async {
        body(app.get_request(&expired, None).await).await.1["state"] == "expired"
    })
    .await;

    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let all = browser.get("/ui/history").await.html;
    for id in [&expired, &cancelled, &declined] {
        assert!(all.contains(id.as_str()), "{id} in history:\n{all}");
    }
    let only_declined = browser.get("/ui/history?state=declined").await.html;
    assert!(only_declined.contains(&declined) && !only_declined.contains(&expired), "{only_declined}");
    let tier3 = browser.get("/ui/history?tier=3").await.html;
    assert!(!tier3.contains(&expired) && tier3.contains("No decided requests here."), "{tier3}");
    let expired_page = browser.get(&format!("/ui/requests/{expired}")).await.html;
    assert!(expired_page.contains("The approval window closed at") && expired_page.contains("What was asked"));
    app.stop().await;
}

async fn edited_versions_link_both_ways_and_a_decided_page_says_who_decided(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let bob = app.add_approver("bob", "approver", None).await;
    // Tier 3, so the edited version still waits for a second approver after alice's edit.
    let request = app.propose_ok("12000.00").await;
    let old = request["id"].as_str().expect("id");
    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let path = format!("/ui/requests/{old}");
    let typed = [("amount", "11,000".to_owned()), ("totp", alice.next_code().await)];
    let edited = browser.submit(&path, &format!("{path}/edit"), &typed).await;
    assert!(location(&edited).ends_with("?m=edited"), "{}", location(&edited));
    let new_path = location(&edited).split('?').next().unwrap_or_default().to_owned();
    let new = new_path.trim_start_matches("/ui/requests/").to_owned();
    assert_ne!(new, old);

    let old_page = browser.get(&path).await.html;
    assert!(old_page.contains(&format!("Replaced by <a href=\"/ui/requests/{new}\">")), "{old_page}");
    let new_page = browser.get(&new_path).await.html;
    assert!(new_page.contains(&format!("Edited from <a href=\"/ui/requests/{old}\">")), "{new_page}");

    let bobs = Browser::new(&app);
    bobs.sign_in(&bob).await;
    let rejected = bobs.submit(&new_path, &format!("{new_path}/reject"), &[("reason", "wrong".to_owned())]).await;
    assert_eq!(rejected.status(), StatusCode::SEE_OTHER);
    let decided = browser.get(&new_path).await.html;
    assert!(decided.contains("Rejected by bob at "), "{decided}");
    assert!(decided.contains("What was asked") && !decided.contains("What will happen"), "{decided}");
    let history = browser.get("/ui/history").await.html;
    assert!(history.contains(&format!("Edited from <a href=\"/ui/requests/{old}\">")), "{history}");
    assert!(history.contains(&format!("Replaced by <a href=\"/ui/requests/{new}\">")), "{history}");

    let trail = browser.get(&format!("/ui/history/{new}")).await.html;
    for expected in
        ["Approval given", "Rejected by an approver", "<td>alice</td>", "<td>bob</td>", "Proposed by the agent"]
    {
        assert!(trail.contains(expected), "the trail shows {expected:?}:\n{trail}");
    }
    assert!(!trail.contains("<td>ap_"), "names, not ids:\n{trail}");
    assert!(!trail.contains("class=\"scroll\""), "no sideways scrolling region");
    app.stop().await;
}

on_both_backends!(
    history_lists_declined_expired_and_cancelled_requests_and_filters_them,
    edited_versions_link_both_ways_and_a_decided_page_says_who_decided,
);
