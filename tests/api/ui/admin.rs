//! The administration pages (`/ui/admin`) as a browser uses them: only admins see them, every
//! form is refused from another site, without the session's CSRF token or without a fresh code,
//! and a secret (API key, enrollment link) is shown once.

use super::{hidden_fields, location, Browser};
use crate::helpers::{body, spawn_app, Db, TestApp, TestApprover};
use crate::on_both_backends;
use reqwest::StatusCode;

/// A browser signed in as a new admin (each change needs a fresh code: one admin per change
/// keeps the tests from waiting for the authenticator's clock).
async fn admin_browser(app: &TestApp, name: &str) -> (Browser, TestApprover) {
    let admin = app.add_approver(name, "admin", None).await;
    let browser = Browser::new(app);
    browser.sign_in(&admin).await;
    (browser, admin)
}

/// The secret a "shown once" page shows.
fn secret(html: &str) -> String {
    let start = html.find("<code class=\"secret\">").map(|at| at + "<code class=\"secret\">".len());
    let start = start.unwrap_or_else(|| panic!("no secret on the page:\n{html}"));
    html[start..].split("</code>").next().unwrap_or_default().to_owned()
}

async fn agent_key_works(app: &TestApp, key: &str) -> StatusCode {
    let response = app.client.get(format!("{}/v1/items", app.address)).bearer_auth(key).send().await.expect("sent");
    response.status()
}

async fn only_signed_in_admins_see_the_administration_pages(db: Db) {
    let app = spawn_app(db).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let anonymous = Browser::new(&app);
    let page = anonymous.get("/ui/admin").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let posted = anonymous.post(&format!("/ui/admin/approvers/{}/disable", bob.id), &[]).await;
    assert_eq!((posted.status(), location(&posted)), (StatusCode::SEE_OTHER, "/ui/sign-in".into()));

    let approver = Browser::new(&app);
    approver.sign_in(&bob).await;
    assert!(!approver.get("/ui").await.html.contains("/ui/admin"), "no link for non-admins");
    for path in ["/ui/admin".to_owned(), format!("/ui/admin/approvers/{}", bob.id)] {
        assert_eq!(approver.get(&path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let csrf = super::field(&approver.get("/ui").await.html, "/ui/sign-out", "csrf");
    let form = [("csrf", csrf), ("idempotency_key", "k1234567".into()), ("totp", bob.next_code().await)];
    let refused = approver.post(&format!("/ui/admin/approvers/{}/revoke-sessions", bob.id), &form).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let (admin, _) = admin_browser(&app, "root").await;
    let page = admin.get("/ui/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers.get("content-security-policy").is_some());
    for shown in ["href=\"/ui/admin\"", "bob", "test-agent", "healthy", &app.item_id.to_string()] {
        assert!(page.html.contains(shown), "{shown} in:\n{}", page.html);
    }
    assert!(!page.html.contains("<script"), "no script");
    let agent_id =
        page.html.split("/ui/admin/agents/").nth(1).and_then(|rest| rest.split('"').next()).expect("agent link");
    assert_eq!(admin.get(&format!("/ui/admin/agents/{agent_id}")).await.status, StatusCode::OK);
    assert_eq!(admin.get(&format!("/ui/admin/approvers/{}", bob.id)).await.status, StatusCode::OK);
    assert_eq!(admin.get("/ui/admin/approvers/ap_nope").await.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn admin_forms_refuse_another_site_a_missing_token_and_a_missing_code(db: Db) {
    let app = spawn_app(db).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let bob_session = app.sign_in(&bob).await;
    let (admin, root) = admin_browser(&app, "root").await;
    let page_path = format!("/ui/admin/approvers/{}", bob.id);
    let action = format!("{page_path}/disable");
    let fields = hidden_fields(&admin.get(&page_path).await.html, &action);
    let with = |extra: &[(&'static str, String)]| {
        let mut form: Vec<(&str, String)> = fields.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        form.extend(extra.iter().cloned());
        form
    };
    let code = root.next_code().await;

    let foreign = admin
        .client
        .post(format!("{}{action}", app.address))
        .header("origin", "https://evil.example")
        .form(&with(&[("totp", code.clone())]))
        .send()
        .await
        .expect("sent");
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let no_token: Vec<_> = with(&[("totp", code.clone())]).into_iter().filter(|(k, _)| *k != "csrf").collect();
    assert_eq!(admin.post(&action, &no_token).await.status(), StatusCode::FORBIDDEN);
    let no_code = admin.post(&action, &with(&[("totp", String::new())])).await;
    assert_eq!(location(&no_code), format!("{page_path}?m=totp_required"));
    assert!(admin.get(&location(&no_code)).await.html.contains("needs a fresh code"));
    let still = app.client.get(format!("{}/v1/approver/transfers", app.address)).bearer_auth(&bob_session);
    assert_eq!(still.send().await.expect("sent").status(), StatusCode::OK, "nothing changed");

    let done = admin.submit(&page_path, &action, &[("totp", code)]).await;
    assert_eq!(location(&done), format!("{page_path}?m=approver_disabled"));
    let ended = app.client.get(format!("{}/v1/approver/transfers", app.address)).bearer_auth(&bob_session);
    assert_eq!(ended.send().await.expect("sent").status(), StatusCode::UNAUTHORIZED);
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.fields.event_type == "admin.approver_disabled"
        && r.fields.approver_id.as_deref() == Some(root.id.as_str())));
    app.stop().await;
}

async fn every_admin_form_makes_its_change_and_shows_a_secret_once(db: Db) {
    let app = spawn_app(db).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let bob_session = app.sign_in(&bob).await;
    let mut admins = Vec::new();
    for n in 0..8 {
        admins.push(admin_browser(&app, &format!("root-{n}")).await);
    }
    let code = |n: usize| {
        let admin = &admins[n].1;
        async move { admin.next_code().await }
    };

    // Add an agent: the key once, then never again for the same form.
    let (browser, _) = &admins[0];
    let page = browser.get("/ui/admin").await;
    let mut form = hidden_fields(&page.html, "/ui/admin/agents");
    form.extend([
        ("name".into(), "payroll-bot".into()),
        ("owner".into(), "dana".into()),
        ("totp".into(), code(0).await),
    ]);
    let pairs: Vec<(&str, String)> = form.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let shown = browser.post("/ui/admin/agents", &pairs).await;
    assert_eq!(shown.status(), StatusCode::OK);
    let key = secret(&shown.text().await.expect("page"));
    assert_eq!(agent_key_works(&app, &key).await, StatusCode::OK);
    let again = browser.post("/ui/admin/agents", &pairs).await;
    assert!(location(&again).ends_with("?m=shown_once"), "{}", location(&again));
    let agent_page = location(&again).replace("?m=shown_once", "");

    // Set its items, then rotate its key with no overlap.
    let items = format!("{agent_page}/items");
    let set =
        admins[1].0.submit(&agent_page, &items, &[("items", app.item_id.to_string()), ("totp", code(1).await)]).await;
    assert_eq!(location(&set), format!("{agent_page}?m=items_set"));
    let rotate = format!("{agent_page}/rotate-key");
    let rotated = admins[2].0.submit(&agent_page, &rotate, &[("overlap", "0".into()), ("totp", code(2).await)]).await;
    let new_key = secret(&rotated.text().await.expect("page"));
    assert_eq!(agent_key_works(&app, &key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(agent_key_works(&app, &new_key).await, StatusCode::OK);
    let disable = format!("{agent_page}/disable");
    let disabled = admins[3].0.submit(&agent_page, &disable, &[("totp", code(3).await)]).await;
    assert_eq!(location(&disabled), format!("{agent_page}?m=agent_disabled"));
    assert_eq!(agent_key_works(&app, &new_key).await, StatusCode::FORBIDDEN);

    // Add an approver (enrollment link once), then reset Bob's TOTP (a link for him).
    let (browser, _) = &admins[4];
    let page = browser.get("/ui/admin").await;
    let mut form = hidden_fields(&page.html, "/ui/admin/approvers");
    form.extend([
        ("username".into(), "erin".into()),
        ("role".into(), "compliance".into()),
        ("totp".into(), code(4).await),
    ]);
    let pairs: Vec<(&str, String)> = form.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let link = secret(&browser.post("/ui/admin/approvers", &pairs).await.text().await.expect("page"));
    let path = link.split_once("/ui/enroll/").map(|(_, token)| format!("/ui/enroll/{token}")).expect("a link");
    assert_eq!(Browser::new(&app).get(&path).await.status, StatusCode::OK);
    let bob_page = format!("/ui/admin/approvers/{}", bob.id);
    let reset = admins[5].0.submit(&bob_page, &format!("{bob_page}/reset-totp"), &[("totp", code(5).await)]).await;
    assert!(secret(&reset.text().await.expect("page")).contains("/ui/enroll/"));
    let ended = app.client.get(format!("{}/v1/approver/transfers", app.address)).bearer_auth(&bob_session);
    assert_eq!(body(ended.send().await.expect("sent")).await.0, StatusCode::UNAUTHORIZED);

    let revoke = format!("{bob_page}/revoke-sessions");
    let revoked = admins[6].0.submit(&bob_page, &revoke, &[("totp", code(6).await)]).await;
    assert_eq!(location(&revoked), format!("{bob_page}?m=sessions_revoked"));
    let unlock = format!("{bob_page}/unlock");
    let unlocked = admins[7].0.submit(&bob_page, &unlock, &[("totp", code(7).await)]).await;
    assert_eq!(location(&unlocked), format!("{bob_page}?m=not_throttled"));

    let events: Vec<String> = app.audit_rows().await.into_iter().map(|r| r.fields.event_type).collect();
    for event in [
        "admin.agent_added",
        "agent.items_set",
        "agent.key_rotated",
        "agent.disabled",
        "admin.approver_added",
        "admin.approver_totp_reset",
        "admin.approver_sessions_revoked",
        "admin.approver_unlocked",
    ] {
        assert!(events.iter().any(|e| e == event), "{event} in {events:?}");
    }
    app.stop().await;
}

on_both_backends!(
    only_signed_in_admins_see_the_administration_pages,
    admin_forms_refuse_another_site_a_missing_token_and_a_missing_code,
    every_admin_form_makes_its_change_and_shows_a_secret_once,
);
