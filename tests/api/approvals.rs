//! Human approval: sessions, step-up, approval tokens, quorum, separation of duties, reject, edit.

use crate::helpers::{body, error_code, spawn_app, spawn_app_with, Db, Options};
use crate::on_both_backends;
use countersign::auth::SessionPolicy;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn the_full_cycle_creates_exactly_one_transfer_and_audits_every_step(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");

    let (status, approved) = app.approve_as(&alice, &request).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["state"], "submitted");
    assert_eq!(approved["transfer_status"], "pending");
    assert_eq!(approved["approvals"].as_array().map(Vec::len), Some(1));

    // The agent learns the outcome.
    let (_, seen) = body(app.get_request(id, Some(5)).await).await;
    assert_eq!(seen["state"], "submitted");
    assert!(seen["transfer_id"].as_str().is_some());

    let creates = app.sim_calls("/transfer/create").await;
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0]["fields"]["authorization_id"], request["authorization_id"]);
    assert_eq!(app.transfers_at_plaid().await, 1);
    assert_eq!(
        app.audit_events_for(id).await,
        vec![
            "transfer.proposed",
            "transfer.authorization",
            "approval_token.issued",
            "transfer.approval",
            "transfer.approved",
            "transfer.execution_claimed",
            "transfer.executed",
        ]
    );
    let rows = app.audit_rows().await;
    let executed = rows.iter().find(|r| r.fields.event_type == "transfer.executed").expect("executed row");
    assert_eq!(executed.fields.executed_payload_hash.as_deref(), request["payload_hash"].as_str());
    assert!(executed.fields.ttl_seconds.is_some());
    let approval = rows.iter().find(|r| r.fields.event_type == "transfer.approval").expect("approval row");
    assert_eq!(approval.fields.approver_id.as_deref(), Some(alice.id.as_str()));
    app.stop().await;
}

async fn a_hundred_concurrent_approves_create_one_transfer(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let session = app.sign_in(&alice).await;
    let token = app.token_for(&alice, &session, &request).await;
    let calls = (0..100).map(|_| app.approve(&session, id, &token));
    let responses = futures::future::join_all(calls).await;
    let mut ok = 0;
    for response in responses {
        let (status, value) = body(response).await;
        if status == StatusCode::OK {
            ok += 1;
        } else {
            assert_eq!(status, StatusCode::CONFLICT, "{value}");
            assert!(
                ["already_decided", "approval_token_reused", "already_approved"].contains(&error_code(&value)),
                "{value}"
            );
        }
    }
    assert_eq!(ok, 1);
    app.eventually("submitted", || async { body(app.get_request(id, None).await).await.1["state"] == "submitted" })
        .await;
    assert_eq!(app.sim_calls("/transfer/create").await.len(), 1);
    assert_eq!(app.transfers_at_plaid().await, 1);
    app.stop().await;
}

async fn tier_three_needs_two_distinct_approvers_and_racing_three_creates_one_transfer(db: Db) {
    let app = spawn_app(db).await;
    let approvers = [
        app.add_approver("alice", "approver", None).await,
        app.add_approver("bob", "approver", None).await,
        app.add_approver("carol", "approver", None).await,
    ];
    let request = app.propose_ok("12000.00").await;
    assert_eq!((request["tier"].as_i64(), request["approvals_required"].as_i64()), (Some(3), Some(2)));
    let id = request["id"].as_str().expect("id");

    // One approval is not enough.
    let (status, first) = app.approve_as(&approvers[0], &request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["state"], "pending_approval");
    assert!(app.sim_calls("/transfer/create").await.is_empty());
    // The same approver can't count twice.
    let session = app.sign_in(&approvers[0]).await;
    let (status, error) = body(
        app.request_token(
            &session,
            id,
            request["payload_hash"].as_str().expect("hash"),
            Some(approvers[0].next_code().await),
        )
        .await,
    )
    .await;
    assert_eq!((status, error_code(&error)), (StatusCode::CONFLICT, "already_approved"));

    // Two more race; exactly one transfer.
    let mut tokens = Vec::new();
    for approver in &approvers[1..] {
        let session = app.sign_in(approver).await;
        let token = app.token_for(approver, &session, &request).await;
        tokens.push((session, token));
    }
    let races = tokens.iter().map(|(session, token)| app.approve(session, id, token));
    let statuses: Vec<_> = futures::future::join_all(races).await.into_iter().map(|r| r.status()).collect();
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    app.eventually("submitted", || async { body(app.get_request(id, None).await).await.1["state"] == "submitted" })
        .await;
    assert_eq!(app.sim_calls("/transfer/create").await.len(), 1);
    assert_eq!(app.transfers_at_plaid().await, 1);
    app.stop().await;
}

async fn step_up_codes_are_required_checked_and_never_accepted_twice(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("1500.00").await;
    assert_eq!(request["step_up_required"], true);
    let id = request["id"].as_str().expect("id");
    let hash = request["payload_hash"].as_str().expect("hash");
    let session = app.sign_in(&alice).await;

    let (status, error) = body(app.request_token(&session, id, hash, None).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::BAD_REQUEST, "totp_required"));
    let wrong = if alice.last_code() == "000000" { "111111" } else { "000000" };
    let (status, error) = body(app.request_token(&session, id, hash, Some(wrong.into())).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "invalid_totp"));
    // The code used to sign in can't be used again for step-up.
    let (status, error) = body(app.request_token(&session, id, hash, Some(alice.last_code())).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "totp_reused"));

    // One fresh code, twenty concurrent uses: exactly one token.
    let code = alice.next_code().await;
    let attempts = (0..20).map(|_| app.request_token(&session, id, hash, Some(code.clone())));
    let statuses: Vec<_> = futures::future::join_all(attempts).await.into_iter().map(|r| r.status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    app.stop().await;
}

async fn repeated_failures_throttle_the_approver_and_every_attempt_is_audited(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    for _ in 0..5 {
        let (status, error) = body(app.sign_in_response(&alice, "wrong password!", "123456").await).await;
        assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    }
    let code = alice.next_code().await;
    let (status, error) = body(app.sign_in_response(&alice, &alice.password, &code).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"));
    // Unknown users look exactly like wrong passwords.
    let (status, error) = body(
        app.client
            .post(format!("{}/v1/approver/sessions", app.address))
            .json(&json!({"username": "mallory", "password": "x", "totp": "123456"}))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    let failures = app
        .audit_rows()
        .await
        .iter()
        .filter(|r| r.fields.event_type == "approver.sign_in" && r.fields.outcome == "error")
        .count();
    assert_eq!(failures, 7, "every attempt is audited");
    app.stop().await;
}

async fn tier_three_needs_a_recent_sign_in(db: Db) {
    let options = Options {
        sessions: SessionPolicy { recent_auth: Duration::ZERO, ..SessionPolicy::default() },
        ..Options::default()
    };
    let app = spawn_app_with(db, options).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("10000.00").await;
    let session = app.sign_in(&alice).await;
    tokio::time::sleep(Duration::from_millis(5)).await; // the session must be older than "recent" (zero)
    let (status, error) = body(
        app.request_token(
            &session,
            request["id"].as_str().expect("id"),
            request["payload_hash"].as_str().expect("hash"),
            Some(alice.next_code().await),
        )
        .await,
    )
    .await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "reauthentication_required"));
    app.stop().await;
}

async fn sessions_end_when_idle_or_signed_out(db: Db) {
    let options = Options {
        sessions: SessionPolicy { idle: Duration::from_millis(1), ..SessionPolicy::default() },
        ..Options::default()
    };
    let app = spawn_app_with(db, options).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let session = app.sign_in(&alice).await;
    tokio::time::sleep(Duration::from_millis(20)).await; // age the session past its idle timeout
    let inbox = app
        .client
        .get(format!("{}/v1/approver/transfers", app.address))
        .bearer_auth(&session)
        .send()
        .await
        .expect("sent");
    assert_eq!(inbox.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;

    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let session = app.sign_in(&alice).await;
    let url = format!("{}/v1/approver/transfers", app.address);
    assert_eq!(app.client.get(&url).bearer_auth(&session).send().await.expect("sent").status(), StatusCode::OK);
    let out = app
        .client
        .delete(format!("{}/v1/approver/sessions/current", app.address))
        .bearer_auth(&session)
        .send()
        .await
        .expect("sent");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.client.get(&url).bearer_auth(&session).send().await.expect("sent").status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

async fn approval_tokens_are_bound_single_use_and_short_lived(db: Db) {
    use countersign::auth::approval_token::{mint, Binding};
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let big = app.propose_ok("20000.00").await;
    let other = app.propose_ok("20.00").await;
    let id = big["id"].as_str().expect("id");
    let session = app.sign_in(&alice).await;
    let token = app.token_for(&alice, &session, &big).await;

    // Another request.
    let (status, error) = body(app.approve(&session, other["id"].as_str().expect("id"), &token).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::FORBIDDEN, "approval_token_wrong_request"));
    // Another approver's session.
    let bob_session = app.sign_in(&bob).await;
    let (status, error) = body(app.approve(&bob_session, id, &token).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::FORBIDDEN, "approval_token_wrong_approver"));
    // Tampered signature and alg none.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged_signature = "A".repeat(parts[2].len());
    parts[2] = &forged_signature;
    let (status, error) = body(app.approve(&session, id, &parts.join(".")).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::FORBIDDEN, "approval_token_invalid"));
    use base64::Engine;
    let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{none_header}.{}.", token.split('.').nth(1).expect("payload"));
    let (status, error) = body(app.approve(&session, id, &alg_none).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::FORBIDDEN, "approval_token_malformed"));
    // Expired: minted with the server's key three minutes ago.
    let session_id: String = {
        let hash = countersign::auth::tokens::hash_presented("css_", &session).expect("session token");
        countersign::store::sessions::find_with_approver(app.ctx.store.reader(), &hash)
            .await
            .expect("read")
            .expect("session")
            .0
            .id
    };
    let binding = Binding {
        approver_id: &alice.id,
        request_id: id,
        payload_hash: big["payload_hash"].as_str().expect("hash"),
        session_id: &session_id,
    };
    let (expired, _) =
        mint(&app.ctx.approval_key, &binding, true, (countersign::service::now_ms() / 1000) - 180, 120).expect("mint");
    let (status, error) = body(app.approve(&session, id, &expired).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::FORBIDDEN, "approval_token_expired"));
    // Wrong hash: the approver was shown something else.
    let (status, error) =
        body(app.request_token(&session, id, &"0".repeat(64), Some(alice.next_code().await)).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::CONFLICT, "payload_hash_mismatch"));

    // The real token works once; a replay of its jti is refused.
    assert_eq!(app.approve(&session, id, &token).await.status(), StatusCode::OK);
    let (status, error) = body(app.approve(&session, id, &token).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::CONFLICT, "approval_token_reused"));
    app.stop().await;
}

async fn only_allowed_approvers_who_do_not_own_the_agent_may_decide(db: Db) {
    let app = spawn_app(db).await;
    let owner = app.add_approver("agent-owner", "approver", None).await;
    let auditor = app.add_approver("carol", "compliance", None).await;
    let other_token = crate::helpers::sandbox_access_token(&app.client, &app.sim_url).await;
    let other_item = countersign::service::registry::add_item(&app.ctx, &other_token).await.expect("item");
    let outsider = app.add_approver("dave", "approver", Some(std::slice::from_ref(&other_item))).await;
    let request = app.propose_ok("20.00").await;
    let id = request["id"].as_str().expect("id");
    let hash = request["payload_hash"].as_str().expect("hash");
    for (who, code) in
        [(&owner, "owner_cannot_approve"), (&auditor, "not_an_approver"), (&outsider, "approver_not_allowed")]
    {
        let session = app.sign_in(who).await;
        let (status, error) = body(app.request_token(&session, id, hash, None).await).await;
        assert_eq!((status, error_code(&error)), (StatusCode::FORBIDDEN, code), "{}", who.username);
        let inbox = app
            .client
            .get(format!("{}/v1/approver/transfers", app.address))
            .bearer_auth(&session)
            .send()
            .await
            .expect("sent");
        assert_eq!(body(inbox).await.1["items"], json!([]), "{} sees nothing to decide", who.username);
    }
    app.stop().await;
}

async fn rejecting_needs_a_reason_and_cancels_the_authorization(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("20.00").await;
    let id = request["id"].as_str().expect("id");
    let session = app.sign_in(&alice).await;
    let path = format!("/v1/transfers/{id}/reject");
    let (status, error) = body(app.approver_post(&session, &path, json!({"reason": "  "})).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::BAD_REQUEST, "reason_required"));
    let (status, rejected) = body(app.approver_post(&session, &path, json!({"reason": "not our invoice"})).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (rejected["state"].as_str(), rejected["rejection_reason"].as_str()),
        (Some("rejected"), Some("not our invoice"))
    );
    app.eventually("authorization cancelled", || async {
        app.sim_calls("/transfer/authorization/cancel")
            .await
            .iter()
            .any(|c| c["fields"]["authorization_id"] == request["authorization_id"])
    })
    .await;
    let (status, error) = body(app.approver_post(&session, &path, json!({"reason": "again"})).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::CONFLICT, "already_decided"));
    assert!(app.sim_calls("/transfer/create").await.is_empty());
    app.stop().await;
}

async fn editing_makes_a_new_version_and_voids_earlier_approvals(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let request = app.propose_ok("20000.00").await;
    let old_id = request["id"].as_str().expect("id");
    app.approve_as(&alice, &request).await;

    let session = app.sign_in(&bob).await;
    let token = app.token_for(&bob, &session, &request).await;
    let path = format!("/v1/transfers/{old_id}/edit");
    let (status, error) =
        body(app.approver_post(&session, &path, json!({"approval_token": token, "amount": "25000.00"})).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount"));
    let (status, edited) =
        body(app.approver_post(&session, &path, json!({"approval_token": token, "amount": "15000.00"})).await).await;
    assert_eq!(status, StatusCode::CREATED, "{edited}");
    assert_eq!(
        (edited["amount"].as_str(), edited["supersedes"].as_str(), edited["version"].as_i64()),
        (Some("15000.00"), Some(old_id), Some(2))
    );
    assert_eq!(edited["state"], "pending_approval", "alice's approval of the old version does not count");
    let approvers: Vec<_> =
        edited["approvals"].as_array().expect("approvals").iter().map(|a| a["username"].clone()).collect();
    assert_eq!(approvers, vec![json!("bob")]);
    assert_ne!(edited["payload_hash"], request["payload_hash"]);
    let (_, old) = body(app.get_request(old_id, None).await).await;
    assert_eq!(old["state"], "superseded");
    let authorizations = app.sim_calls("/transfer/authorization/create").await;
    assert_eq!(authorizations.last().map(|c| c["fields"]["amount"].clone()), Some(json!("15000.00")));
    app.eventually("old authorization cancelled", || async {
        app.sim_calls("/transfer/authorization/cancel")
            .await
            .iter()
            .any(|c| c["fields"]["authorization_id"] == request["authorization_id"])
    })
    .await;

    let (status, done) = app.approve_as(&alice, &edited).await;
    assert_eq!((status, done["state"].as_str()), (StatusCode::OK, Some("submitted")));
    assert_eq!(app.transfers_at_plaid().await, 1);
    app.stop().await;
}

async fn an_edit_below_the_tier_three_amount_keeps_the_two_person_quorum(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let request = app.propose_ok("12000.00").await;
    let old_id = request["id"].as_str().expect("id");
    let session = app.sign_in(&bob).await;
    let token = app.token_for(&bob, &session, &request).await;
    let path = format!("/v1/transfers/{old_id}/edit");
    let (status, edited) =
        body(app.approver_post(&session, &path, json!({"approval_token": token, "amount": "9999.99"})).await).await;
    assert_eq!(status, StatusCode::CREATED, "{edited}");
    assert_eq!(
        (edited["state"].as_str(), edited["tier"].as_i64(), edited["approvals_required"].as_i64()),
        (Some("pending_approval"), Some(3), Some(2)),
        "the editor's approval alone must not execute a two-person transfer: {edited}"
    );
    assert!(app.sim_calls("/transfer/create").await.is_empty());
    let (status, done) = app.approve_as(&alice, &edited).await;
    assert_eq!((status, done["state"].as_str()), (StatusCode::OK, Some("submitted")), "{done}");
    assert_eq!(app.transfers_at_plaid().await, 1);
    app.stop().await;
}

/// An approval answers with the request as stored without reading it back when it met a quorum
/// of one (the row and the approval as written): every answer must be what a read shows — the
/// plain approval, one with step-up, and each approval of a two-person quorum.
async fn an_approval_answers_with_the_request_exactly_as_stored(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let shown = |session: String, id: String| {
        let request = app.client.get(format!("{}/v1/approver/transfers/{id}", app.address)).bearer_auth(session);
        async move { body(request.send().await.expect("sent")).await }
    };
    for (amount, approvers) in [("250.00", vec![&alice]), ("1500.00", vec![&alice]), ("12000.00", vec![&alice, &bob])] {
        let request = app.propose_ok(amount).await;
        let id = request["id"].as_str().expect("id").to_owned();
        for approver in approvers {
            let session = app.sign_in(approver).await;
            let token = app.token_for(approver, &session, &request).await;
            let (status, answered) = body(app.approve(&session, &id, &token).await).await;
            assert_eq!(status, StatusCode::OK, "{answered}");
            let (status, stored) = shown(session, id.clone()).await;
            assert_eq!(status, StatusCode::OK, "{stored}");
            assert_eq!(answered, stored, "{amount}: the answer is the stored request");
        }
        let (_, last) = shown(app.sign_in(&alice).await, id.clone()).await;
        assert_eq!(last["state"], "submitted", "{amount}");
        assert_eq!(
            last["approvals"].as_array().map(Vec::len),
            request["approvals_required"].as_u64().map(|n| n as usize)
        );
    }
    app.stop().await;
}

/// A decision reads the approver's session and the request in one statement: the session is
/// still judged first — a missing, unknown or signed-out session is refused whatever the id or
/// the body says — then the body, then the id.
async fn a_decision_judges_the_session_before_the_request_and_the_body(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let hash = request["payload_hash"].as_str().expect("hash");
    let post = |session: Option<String>, path: String, payload: Value| {
        let mut call = app.client.post(format!("{}{path}", app.address)).json(&payload);
        if let Some(session) = session {
            call = call.bearer_auth(session);
        }
        async move {
            let (status, value) = body(call.send().await.expect("sent")).await;
            (status, error_code(&value).to_owned())
        }
    };
    let unknown_request = "tr_0123456789abcdef0123456789abcdef";
    let paths = |id: &str| [format!("/v1/transfers/{id}/approval-token"), format!("/v1/transfers/{id}/approve")];
    let good = |path: &str| {
        if path.ends_with("approval-token") {
            json!({"payload_hash": hash})
        } else {
            json!({"approval_token": "x"})
        }
    };
    let unknown_session = Some(format!("css_{}", "x".repeat(43)));
    for asked in [id, "nonsense", unknown_request] {
        for path in paths(asked) {
            for session in [None, unknown_session.clone()] {
                for payload in [good(&path), json!({"surprise": 1})] {
                    let refused = post(session.clone(), path.clone(), payload).await;
                    assert_eq!(refused, (StatusCode::UNAUTHORIZED, "unauthorized".to_owned()), "{path} {session:?}");
                }
            }
        }
    }
    let session = Some(app.sign_in(&alice).await);
    for path in paths("nonsense") {
        let (status, code) = post(session.clone(), path.clone(), json!({"surprise": 1})).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {status} {code}"
        );
        let refused = post(session.clone(), path.clone(), good(&path)).await;
        assert_eq!(refused, (StatusCode::NOT_FOUND, "not_found".to_owned()), "{path}");
    }
    for path in paths(unknown_request) {
        let refused = post(session.clone(), path.clone(), good(&path)).await;
        assert_eq!(refused, (StatusCode::NOT_FOUND, "not_found".to_owned()), "{path}");
    }
    let signed_out = app
        .client
        .delete(format!("{}/v1/approver/sessions/current", app.address))
        .bearer_auth(session.as_deref().expect("session"))
        .send()
        .await
        .expect("sent");
    assert!(signed_out.status().is_success());
    for path in paths(id) {
        let refused = post(session.clone(), path.clone(), good(&path)).await;
        assert_eq!(refused, (StatusCode::UNAUTHORIZED, "unauthorized".to_owned()), "signed out: {path}");
    }
    let (status, approved) = app.approve_as(&alice, &request).await;
    assert_eq!((status, approved["state"].as_str()), (StatusCode::OK, Some("submitted")));
    app.stop().await;
}

on_both_backends!(
    a_decision_judges_the_session_before_the_request_and_the_body,
    an_approval_answers_with_the_request_exactly_as_stored,
    the_full_cycle_creates_exactly_one_transfer_and_audits_every_step,
    an_edit_below_the_tier_three_amount_keeps_the_two_person_quorum,
    a_hundred_concurrent_approves_create_one_transfer,
    tier_three_needs_two_distinct_approvers_and_racing_three_creates_one_transfer,
    step_up_codes_are_required_checked_and_never_accepted_twice,
    repeated_failures_throttle_the_approver_and_every_attempt_is_audited,
    tier_three_needs_a_recent_sign_in,
    sessions_end_when_idle_or_signed_out,
    approval_tokens_are_bound_single_use_and_short_lived,
    only_allowed_approvers_who_do_not_own_the_agent_may_decide,
    rejecting_needs_a_reason_and_cancels_the_authorization,
    editing_makes_a_new_version_and_voids_earlier_approvals,
);
