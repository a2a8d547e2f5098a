//! Issue 16.1: a right-to-left override made a $321.00 request read "Pay $1000 to vendor". Unicode
//! format characters (Cf) and other invisible controls are refused in every agent string and in
//! approvers' edits, naming the field; agent text is shown isolated and labelled as the agent's.

use crate::helpers::{body, error_code, spawn_app, Db};
use crate::on_both_backends;
use crate::ui::{shows_as_text, Browser};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn assert_refused(status: StatusCode, value: &Value, field: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {value}");
    assert_eq!(error_code(value), "invalid_characters", "{field}: {value}");
    let message = value["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("`{field}`")), "the message names {field}: {message}");
}

async fn a_bidi_override_or_invisible_character_in_any_agent_string_is_refused_naming_the_field(db: Db) {
    let app = spawn_app(db).await;
    for (field, pointer, bad) in [
        ("reason", "/reason", "Pay \u{202E} 0001$ \u{202C} to vendor"),
        ("reason", "/reason", "isolate \u{2067}x\u{2069}"),
        ("reason", "/reason", "line\u{2028}separator"),
        ("user.legal_name", "/user/legal_name", "Ada\u{200B}Lovelace"),
        ("user.legal_name", "/user/legal_name", "\u{FEFF}Ada Lovelace"),
        ("thread_id", "/thread_id", "thread\u{2066}-7"),
        ("thread_id", "/thread_id", "thread\u{200D}7"),
        ("description", "/description", "Inv\u{200E}42"),
        ("reason", "/reason", "hangul filler \u{3164} here"),
    ] {
        let mut proposal = app.proposal("321.00");
        *proposal.pointer_mut(pointer).expect("field") = bad.into();
        let (status, value) = body(app.propose(&proposal).await).await;
        assert_refused(status, &value, field);
    }
    app.stop().await;
}

async fn visible_unicode_in_agent_text_is_still_accepted(db: Db) {
    let app = spawn_app(db).await;
    let mut proposal = app.proposal("321.00");
    proposal["reason"] = "Café ünïcödé — 日本語, עברית, العربية 🙂\nsecond line".into();
    proposal["user"]["legal_name"] = "Zoë Ångström-Şahin".into();
    let (status, value) = body(app.propose(&proposal).await).await;
    assert_eq!(status, StatusCode::CREATED, "{value}");
    app.stop().await;
}

async fn an_approver_edit_with_a_format_character_is_refused_on_the_api_and_the_form(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let session = app.sign_in(&alice).await;
    let request = app.propose_ok("321.00").await;
    let id = request["id"].as_str().expect("id");

    let edit = json!({"approval_token": "t", "description": "Inv\u{202E}24"});
    let (status, value) = body(app.approver_post(&session, &format!("/v1/transfers/{id}/edit"), edit).await).await;
    assert_refused(status, &value, "description");

    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let page = format!("/ui/requests/{id}");
    let response =
        browser.submit(&page, &format!("/ui/requests/{id}/edit"), &[("description", "Inv\u{200B}24".to_owned())]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("body");
    assert!(shows_as_text(&html, "\"description\""), "the page names the field: {html}");

    let (_, seen) = body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "pending_approval", "nothing was decided");
    app.stop().await;
}

async fn agent_text_is_isolated_and_labelled_as_written_by_the_agent(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let mut proposal = app.proposal("321.00");
    proposal["reason"] = "שלם לספק".into();
    let (status, created) = body(app.propose(&proposal).await).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id");

    let browser = Browser::new(&app);
    browser.sign_in(&alice).await;
    let html = browser.get(&format!("/ui/requests/{id}")).await.html;
    for text in ["שלם לספק", "Ada Lovelace", "thread-7", "Invoice 42"] {
        assert!(html.contains(&format!("<bdi class=\"agent-text\">{text}</bdi>")), "{text} isolated in:\n{html}");
    }
    assert!(html.contains("written by the agent"), "labelled as the agent's:\n{html}");
    let inbox = browser.get("/ui").await.html;
    assert!(inbox.contains("<bdi class=\"agent-text\">שלם לספק</bdi>"), "the inbox isolates it too:\n{inbox}");
    app.stop().await;
}

on_both_backends!(
    a_bidi_override_or_invisible_character_in_any_agent_string_is_refused_naming_the_field,
    visible_unicode_in_agent_text_is_still_accepted,
    an_approver_edit_with_a_format_character_is_refused_on_the_api_and_the_form,
    agent_text_is_isolated_and_labelled_as_written_by_the_agent,
);
