//! Bad input is a 4xx with our error body, never a 500: control characters (NUL above all, which
//! PostgreSQL refuses to store), media types, duplicate JSON keys.

use crate::helpers::{body, error_code, spawn_app, Db, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Sends `raw` as the JSON body of an approver or agent POST.
async fn post_raw(
    app: &TestApp,
    path: &str,
    bearer: Option<&str>,
    content_type: &str,
    raw: &str,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(format!("{}{path}", app.address))
        .header("Content-Type", content_type)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .body(raw.to_owned());
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    body(request.send().await.expect("sent")).await
}

fn assert_invalid_characters(status: StatusCode, value: &Value, field: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {value}");
    assert_eq!(error_code(value), "invalid_characters", "{field}: {value}");
    let message = value["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(field), "the message names {field}: {message}");
}

async fn a_nul_or_control_character_in_any_json_string_is_refused_with_422_naming_the_field(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let session = app.sign_in(&alice).await;
    let request = app.propose_ok("25.00").await;
    let id = request["id"].as_str().expect("id");

    let sign_in = json!({"username": "ann\u{0}", "password": "x", "totp": "123456"});
    let (status, value) = post_raw(&app, "/v1/approver/sessions", None, "application/json", &sign_in.to_string()).await;
    assert_invalid_characters(status, &value, "username");

    for (field, pointer, bad) in [
        ("description", "/description", "Inv\u{0}42"),
        ("user.legal_name", "/user/legal_name", "Ada\u{0}Lovelace"),
        ("thread_id", "/thread_id", "thread\u{0}"),
        ("reason", "/reason", "collect\u{0}"),
        ("reason", "/reason", "bell\u{7}"),
        ("account_id", "/account_id", "\u{1b}[31m"),
    ] {
        let mut proposal = app.proposal("25.00");
        *proposal.pointer_mut(pointer).expect("field") = bad.into();
        let (status, value) = body(app.propose(&proposal).await).await;
        assert_invalid_characters(status, &value, field);
    }

    let reject = json!({"reason": "no\u{0}"}).to_string();
    let (status, value) =
        post_raw(&app, &format!("/v1/transfers/{id}/reject"), Some(&session), "application/json", &reject).await;
    assert_invalid_characters(status, &value, "reason");
    let token = json!({"payload_hash": "\u{0}"}).to_string();
    let (status, value) =
        post_raw(&app, &format!("/v1/transfers/{id}/approval-token"), Some(&session), "application/json", &token).await;
    assert_invalid_characters(status, &value, "payload_hash");
    let edit = json!({"approval_token": "t", "description": "a\u{0}"}).to_string();
    let (status, value) =
        post_raw(&app, &format!("/v1/transfers/{id}/edit"), Some(&session), "application/json", &edit).await;
    assert_invalid_characters(status, &value, "description");

    let (_, seen) = body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "pending_approval", "nothing was decided");
    app.stop().await;
}

async fn a_newline_is_allowed_in_free_text_reasons(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let session = app.sign_in(&alice).await;
    let mut proposal = app.proposal("25.00");
    proposal["reason"] = "collect invoice 42\nsecond instalment\tof three".into();
    let (status, created) = body(app.propose(&proposal).await).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id");
    let reason = json!({"reason": "wrong account\nask the agent again"});
    let (status, value) = body(app.approver_post(&session, &format!("/v1/transfers/{id}/reject"), reason).await).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["rejection_reason"], "wrong account\nask the agent again");
    app.stop().await;
}

async fn nul_bytes_in_query_strings_and_paths_are_4xx(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "compliance", None).await;
    let session = app.sign_in(&alice).await;
    let request = app.propose_ok("25.00").await;
    let id = request["id"].as_str().expect("id");
    let agent_paths = [
        "/v1/transfers?cursor=%00".to_owned(),
        "/v1/transfers?state=%00".to_owned(),
        format!("/v1/transfers/{id}?wait=%00"),
        "/v1/transfers/tr_%00".to_owned(),
    ];
    for path in agent_paths {
        let response = app.client.get(format!("{}{path}", app.address)).bearer_auth(&app.api_key).send().await;
        let status = response.expect("sent").status();
        assert!(status.is_client_error(), "{path}: {status}");
    }
    let approver_paths = [
        "/v1/audit/export?from=%00".to_owned(),
        "/v1/approver/transfers/tr_%00".to_owned(),
        format!("/v1/transfers/{id}/evidence?x=%00"),
    ];
    for path in approver_paths {
        let response = app.client.get(format!("{}{path}", app.address)).bearer_auth(&session).send().await;
        let status = response.expect("sent").status();
        assert!(status.is_client_error() || status.is_success(), "{path}: {status}");
    }
    for path in ["/ui/enroll/abc%00", "/ui/sign-in?m=%00"] {
        let status = app.client.get(format!("{}{path}", app.address)).send().await.expect("sent").status();
        assert!(!status.is_server_error(), "{path}: {status}");
    }
    app.stop().await;
}

async fn content_type_is_parsed_as_a_media_type(db: Db) {
    let app = spawn_app(db).await;
    let proposal = app.proposal("25.00").to_string();
    let key = app.api_key.clone();
    for refused in ["application/jsonx", "application/json-patch", "text/plain", "application", ""] {
        let (status, value) = post_raw(&app, "/v1/transfers", Some(&key), refused, &proposal).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{refused:?}: {value}");
        assert_eq!(error_code(&value), "unsupported_media_type");
    }
    for accepted in
        ["application/json", "APPLICATION/JSON", "Application/Json; charset=UTF-8", "application/json ;charset=utf-8"]
    {
        let (status, value) = post_raw(&app, "/v1/transfers", Some(&key), accepted, &proposal).await;
        assert_eq!(status, StatusCode::CREATED, "{accepted:?}: {value}");
    }
    app.stop().await;
}

async fn duplicate_json_keys_are_refused_with_422(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let session = app.sign_in(&alice).await;
    let request = app.propose_ok("25.00").await;
    let id = request["id"].as_str().expect("id");

    let proposal = app.proposal("25.00").to_string();
    let top = proposal.replacen("{", "{\"amount\":\"9999.00\",", 1);
    let nested = proposal.replacen("\"legal_name\":", "\"legal_name\":\"Eve\",\"legal_name\":", 1);
    for raw in [top, nested] {
        let (status, value) = post_raw(&app, "/v1/transfers", Some(&app.api_key), "application/json", &raw).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{raw}: {value}");
        assert_eq!(error_code(&value), "duplicate_key", "{value}");
    }
    let reject = r#"{"reason":"fine","reason":"second"}"#;
    let path = format!("/v1/transfers/{id}/reject");
    let (status, value) = post_raw(&app, &path, Some(&session), "application/json", reject).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value}");
    assert_eq!(error_code(&value), "duplicate_key");
    let (_, seen) = body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "pending_approval");
    app.stop().await;
}

/// Header values cannot carry NUL or other control bytes over HTTP/1.1 at all: the HTTP parser
/// refuses them before any handler runs. This proves it stays a 4xx (an Idempotency-Key above all).
async fn control_bytes_in_a_header_are_a_4xx(db: Db) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(db).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let body = app.proposal("25.00").to_string();
    for bad in ["key\u{0}nul", "key\u{1}soh", "key\u{1b}esc"] {
        let mut stream = tokio::net::TcpStream::connect(&host).await.expect("connect");
        let request = format!(
            "POST /v1/transfers HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\
             Idempotency-Key: {bad}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\
             Connection: close\r\n\r\n{body}",
            key = app.api_key,
            len = body.len(),
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read");
        let answer = String::from_utf8_lossy(&answer);
        let status: u16 = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!((400..500).contains(&status), "{bad:?}: {answer}");
    }
    app.stop().await;
}

on_both_backends!(
    control_bytes_in_a_header_are_a_4xx,
    a_nul_or_control_character_in_any_json_string_is_refused_with_422_naming_the_field,
    a_newline_is_allowed_in_free_text_reasons,
    nul_bytes_in_query_strings_and_paths_are_4xx,
    content_type_is_parsed_as_a_media_type,
    duplicate_json_keys_are_refused_with_422,
);
