//! Who may administer: a session with the `admin` role, and a fresh, unused TOTP code for every
//! change. Anything less changes nothing.

use super::{audited, get, Admins};
use crate::helpers::{body, error_code, spawn_app, Db, TestApp};
use crate::on_both_backends;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Every admin route with real ids and a body that would be valid for an admin.
async fn routes(app: &TestApp, approver_id: &str) -> Vec<(&'static str, String, Value)> {
    let agent = countersign::service::admin::list_agents(&app.ctx, countersign::service::admin::Actor::Operator)
        .await
        .expect("agents")
        .remove(0)
        .id;
    let code = json!({"totp": "123456"});
    vec![
        ("get", "/v1/admin/approvers".into(), Value::Null),
        ("get", "/v1/admin/agents".into(), Value::Null),
        ("get", "/v1/admin/items".into(), Value::Null),
        ("post", "/v1/admin/approvers".into(), json!({"username": "mallory", "role": "admin", "totp": "123456"})),
        ("post", format!("/v1/admin/approvers/{approver_id}/disable"), code.clone()),
        ("post", format!("/v1/admin/approvers/{approver_id}/reset-totp"), code.clone()),
        ("post", format!("/v1/admin/approvers/{approver_id}/unlock"), code.clone()),
        ("post", format!("/v1/admin/approvers/{approver_id}/revoke-sessions"), code.clone()),
        ("post", "/v1/admin/agents".into(), json!({"name": "rogue", "totp": "123456"})),
        ("post", format!("/v1/admin/agents/{agent}/rotate-key"), code.clone()),
        ("post", format!("/v1/admin/agents/{agent}/disable"), code.clone()),
        ("post", format!("/v1/admin/agents/{agent}/items"), json!({"items": [], "totp": "123456"})),
    ]
}

async fn call(app: &TestApp, session: Option<&str>, method: &str, path: &str, payload: &Value) -> (StatusCode, Value) {
    let url = format!("{}{path}", app.address);
    let mut request = if method == "get" { app.client.get(url) } else { app.client.post(url).json(payload) };
    if let Some(session) = session {
        request = request.bearer_auth(session);
    }
    body(request.send().await.expect("sent")).await
}

async fn without_the_admin_role_or_a_session_every_admin_route_is_refused(db: Db) {
    let app = spawn_app(db).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let carol = app.add_approver("carol", "compliance", None).await;
    let sessions = [app.sign_in(&bob).await, app.sign_in(&carol).await];
    for (method, path, payload) in routes(&app, &bob.id).await {
        let (status, error) = call(&app, None, method, &path, &payload).await;
        assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "unauthorized"), "{method} {path}");
        for session in &sessions {
            let (status, error) = call(&app, Some(session), method, &path, &payload).await;
            assert_eq!((status, error_code(&error)), (StatusCode::FORBIDDEN, "not_an_admin"), "{method} {path}");
        }
    }
    // Nothing changed: bob still signs in, the agent's key still works, no admin record.
    assert_eq!(get(&app, &sessions[0], "/v1/approver/transfers").await.0, StatusCode::OK);
    assert_eq!(get(&app, &app.api_key, "/v1/items").await.0, StatusCode::OK);
    assert!(app.audit_rows().await.iter().all(|row| !row.fields.event_type.starts_with("admin.")));
    app.stop().await;
}

async fn every_change_needs_a_fresh_code_that_counts_once(db: Db) {
    let app = spawn_app(db).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let bob_session = app.sign_in(&bob).await;
    let admin = Admins::new(&app).next().await;
    let path = format!("/v1/admin/approvers/{}/revoke-sessions", bob.id);
    let change = |payload: Value| app.approver_post(&admin.session, &path, payload);

    let (status, error) = body(change(json!({})).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNPROCESSABLE_ENTITY, "missing_field"));
    let (status, error) = body(change(json!({"totp": " "})).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::BAD_REQUEST, "totp_required"));
    let code = admin.person.next_code().await;
    let wrong = format!("{:06}", (code.parse::<u32>().expect("digits") + 500_000) % 1_000_000);
    let (status, error) = body(change(json!({"totp": wrong})).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "invalid_totp"));
    assert_eq!(get(&app, &bob_session, "/v1/approver/transfers").await.0, StatusCode::OK, "refusals change nothing");

    let (status, done) = body(change(json!({"totp": code})).await).await;
    assert_eq!((status, done["sessions_revoked"].as_i64()), (StatusCode::OK, Some(1)), "{done}");
    let (status, error) = body(change(json!({"totp": code})).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "totp_reused"));
    assert!(audited(&app, "admin.approver_sessions_revoked", &admin.person.id).await);
    let refused: Vec<_> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|row| row.fields.event_type == "admin.step_up" && row.fields.outcome == "error")
        .filter_map(|row| row.fields.error_code)
        .collect();
    assert_eq!(refused, ["bad_totp", "totp_reused"]);
    app.stop().await;
}

on_both_backends!(
    without_the_admin_role_or_a_session_every_admin_route_is_refused,
    every_change_needs_a_fresh_code_that_counts_once,
);
