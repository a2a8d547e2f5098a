//! Administering approvers: add by enrollment link, deactivate, reset TOTP, clear a throttle,
//! revoke sessions — through the API and the CLI.

use super::{audited, get, Admins};
use crate::helpers::{body, error_code, spawn_app, spawn_app_with, Db, Options, TestApp, PASSWORD};
use crate::on_both_backends;
use countersign::auth::SessionPolicy;
use countersign::domain::RequestId;
use countersign::service::{approvers, decide, enrollment};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Enrolls through a link's token with a new password; returns the new authenticator.
async fn enroll(app: &TestApp, path: &str) -> totp_rs::TOTP {
    let token = path.strip_prefix("/ui/enroll/").expect("an enrollment path");
    let page = enrollment::show(&app.ctx, token).await.expect("the link works");
    let authenticator = totp_rs::TOTP::from_url(&page.otpauth_uri).expect("otpauth URI");
    let code = authenticator.generate_current().expect("code");
    enrollment::complete(&app.ctx, token, PASSWORD, &code).await.expect("enrolled");
    authenticator
}

async fn an_admin_adds_an_approver_who_enrolls_through_the_returned_link(db: Db) {
    let app = spawn_app(db).await;
    let admins = Admins::new(&app);
    let item = app.item_id.to_string();
    let payload = json!({"username": "dana", "role": "approver", "items": [item]});
    let (admin, status, added) = admins.change("/v1/admin/approvers", payload).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let path = added["enrollment_path"].as_str().expect("enrollment path");
    assert_eq!(app.client.get(format!("{}{path}", app.address)).send().await.expect("sent").status(), StatusCode::OK);
    enroll(&app, path).await;

    let (_, listed) = get(&app, &admin.session, "/v1/admin/approvers").await;
    let dana = listed["approvers"].as_array().expect("list").iter().find(|a| a["username"] == "dana").cloned();
    let dana = dana.expect("dana is listed");
    assert_eq!(
        (dana["roles"].clone(), dana["items"].clone(), dana["active"].clone()),
        (json!(["approver"]), json!([item]), json!(true))
    );
    let dana_id = added["approver_id"].as_str().expect("id");
    assert!(audited(&app, "approver.enrolled", dana_id).await);
    assert!(audited(&app, "admin.approver_added", &admin.person.id).await);

    let (_, status, again) =
        admins.change("/v1/admin/approvers", json!({"username": "DANA", "role": "approver"})).await;
    assert_eq!((status, error_code(&again)), (StatusCode::CONFLICT, "approver_exists"));
    let (_, status, bad) = admins.change("/v1/admin/approvers", json!({"username": "erin", "role": "root"})).await;
    assert_eq!((status, error_code(&bad)), (StatusCode::BAD_REQUEST, "invalid_role"));
    app.stop().await;
}

async fn deactivating_ends_sessions_and_voids_unspent_tokens_at_once_while_given_approvals_stay(db: Db) {
    let app = spawn_app(db).await;
    let admins = Admins::new(&app);
    let [alice, bob, carol] = [
        app.add_approver("alice", "approver", None).await,
        app.add_approver("bob", "approver", None).await,
        app.add_approver("carol", "approver", None).await,
    ];
    // Alice's approval is given on a two-person request; Bob holds a token he has not spent.
    let big = app.propose_ok("12000.00").await;
    assert_eq!(app.approve_as(&alice, &big).await.0, StatusCode::OK);
    let small = app.propose_ok("250.00").await;
    let bob_session = app.sign_in(&bob).await;
    let bob_token = app.token_for(&bob, &bob_session, &small).await;
    // The request that will try to spend it authenticated before the deactivation commits.
    let bob_in_flight = approvers::authenticate(&app.ctx, &bob_session).await.expect("bob's session");

    for person in [&alice, &bob] {
        let (admin, status, done) =
            admins.change(&format!("/v1/admin/approvers/{}/disable", person.id), json!({})).await;
        assert_eq!((status, done["active"].clone()), (StatusCode::OK, json!(false)), "{done}");
        assert!(audited(&app, "approver.disabled", &person.id).await);
        assert!(audited(&app, "admin.approver_disabled", &admin.person.id).await);
    }
    assert_eq!(get(&app, &bob_session, "/v1/approver/transfers").await.0, StatusCode::UNAUTHORIZED);
    let small_id = small["id"].as_str().expect("id");
    assert_eq!(app.approve(&bob_session, small_id, &bob_token).await.status(), StatusCode::UNAUTHORIZED);
    let small_request = RequestId::parse(small_id).expect("request id");
    let raced = decide::approve(&app.ctx, &bob_in_flight, &small_request, &bob_token).await;
    match raced {
        Err(countersign::error::Error::Client { code, .. }) => assert_eq!(code, "approval_token_voided"),
        other => panic!("the voided token was accepted: {:?}", other.map(|r| r.record.state)),
    }
    assert_eq!(body(app.get_request(small_id, None).await).await.1["state"], "pending_approval");
    let code = bob.next_code().await;
    let (status, error) = body(app.sign_in_response(&bob, &bob.password, &code).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "invalid_credentials"));

    // Alice's approval still counts: Carol's completes the quorum.
    assert_eq!(app.approve_as(&carol, &big).await.0, StatusCode::OK);
    let big_id = big["id"].as_str().expect("id");
    app.eventually("submitted", || async { body(app.get_request(big_id, None).await).await.1["state"] == "submitted" })
        .await;

    let (admin, status, again) = admins.change(&format!("/v1/admin/approvers/{}/disable", bob.id), json!({})).await;
    assert_eq!((status, error_code(&again)), (StatusCode::CONFLICT, "already_disabled"));
    let own = format!("/v1/admin/approvers/{}/disable", admin.person.id);
    let payload = json!({"totp": admin.person.next_code().await});
    let (status, error) = body(app.approver_post(&admin.session, &own, payload).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::CONFLICT, "cannot_disable_self"));
    app.stop().await;
}

async fn resetting_totp_ends_sessions_and_only_the_new_enrollment_signs_in(db: Db) {
    let app = spawn_app(db).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let session = app.sign_in(&bob).await;
    let (admin, status, reset) =
        Admins::new(&app).change(&format!("/v1/admin/approvers/{}/reset-totp", bob.id), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(get(&app, &session, "/v1/approver/transfers").await.0, StatusCode::UNAUTHORIZED);
    let code = bob.next_code().await;
    assert_eq!(app.sign_in_response(&bob, &bob.password, &code).await.status(), StatusCode::UNAUTHORIZED);

    let authenticator = enroll(&app, reset["enrollment_path"].as_str().expect("path")).await;
    let next = authenticator.generate((crate::helpers::unix_now() / 30 + 1) * 30);
    let (status, signed_in) = body(app.sign_in_response(&bob, PASSWORD, &next).await).await;
    assert_eq!(status, StatusCode::CREATED, "{signed_in}");
    assert!(audited(&app, "approver.totp_reset", &bob.id).await);
    assert!(audited(&app, "admin.approver_totp_reset", &admin.person.id).await);
    app.stop().await;
}

async fn clearing_a_throttle_lets_the_next_sign_in_be_checked_at_once(db: Db) {
    // A long first delay: the fourth attempt is throttled however slow the machine is.
    let sessions =
        SessionPolicy { max_failures: 2, throttle_first_delay: Duration::from_secs(60), ..SessionPolicy::default() };
    let app = spawn_app_with(db, Options { sessions, ..Options::default() }).await;
    let bob = app.add_approver("bob", "approver", None).await;
    app.sign_in(&bob).await;
    let (admins, path) = (Admins::new(&app), format!("/v1/admin/approvers/{}/unlock", bob.id));
    let (_, status, nothing) = admins.change(&path, json!({})).await;
    assert_eq!((status, nothing["was_throttled"].clone()), (StatusCode::OK, json!(false)), "a success is no throttle");
    let mut last = StatusCode::OK;
    for _ in 0..4 {
        last = app.sign_in_response(&bob, "a wrong password", "123456").await.status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let lister = admins.next().await;
    let throttled_until = || async {
        let (_, listed) = get(&app, &lister.session, "/v1/admin/approvers").await;
        let rows = listed["approvers"].as_array().cloned().unwrap_or_default();
        rows.into_iter().find(|a| a["id"] == bob.id).map(|a| a["throttled_until"].clone()).unwrap_or_default()
    };
    assert!(throttled_until().await.is_string(), "the list shows the throttle");
    let (admin, status, cleared) = admins.change(&path, json!({})).await;
    assert_eq!((status, cleared["was_throttled"].clone()), (StatusCode::OK, json!(true)), "{cleared}");
    assert_eq!(throttled_until().await, Value::Null);
    app.sign_in(&bob).await;
    assert!(audited(&app, "approver.unlocked", &bob.id).await);
    assert!(audited(&app, "admin.approver_unlocked", &admin.person.id).await);
    app.stop().await;
}

async fn revoking_sessions_signs_the_approver_out_everywhere(db: Db) {
    let app = spawn_app(db).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let sessions = [app.sign_in(&bob).await, app.sign_in(&bob).await];
    let (admin, status, revoked) =
        Admins::new(&app).change(&format!("/v1/admin/approvers/{}/revoke-sessions", bob.id), json!({})).await;
    assert_eq!((status, revoked["sessions_revoked"].as_i64()), (StatusCode::OK, Some(2)), "{revoked}");
    for session in &sessions {
        assert_eq!(get(&app, session, "/v1/approver/transfers").await.0, StatusCode::UNAUTHORIZED);
    }
    let (_, listed) = get(&app, &admin.session, "/v1/admin/approvers").await;
    let bob_row: Vec<&Value> =
        listed["approvers"].as_array().expect("list").iter().filter(|a| a["id"] == bob.id).collect();
    assert_eq!((bob_row[0]["live_sessions"].as_i64(), bob_row[0]["active"].clone()), (Some(0), json!(true)));
    assert!(audited(&app, "approver.sessions_revoked", &bob.id).await);
    app.sign_in(&bob).await;
    app.stop().await;
}

async fn the_cli_lists_deactivates_and_resets_approvers(db: Db) {
    let app = spawn_app(db).await;
    let bob = app.add_approver("bob", "approver", None).await;
    let carol = app.add_approver("carol", "approver", None).await;
    let carol_session = app.sign_in(&carol).await;
    app.run_cli(&["approver", "list"]).await.expect("list");
    app.run_cli(&["approver", "disable", "BOB"]).await.expect("disable");
    app.run_cli(&["approver", "reset-totp", "carol"]).await.expect("reset-totp");
    let code = bob.next_code().await;
    assert_eq!(app.sign_in_response(&bob, &bob.password, &code).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, &carol_session, "/v1/approver/transfers").await.0, StatusCode::UNAUTHORIZED);
    assert!(audited(&app, "approver.disabled", &bob.id).await);
    assert!(audited(&app, "approver.totp_reset", &carol.id).await);
    assert!(app.run_cli(&["approver", "disable", "nobody"]).await.is_err());
    app.stop().await;
}

on_both_backends!(
    an_admin_adds_an_approver_who_enrolls_through_the_returned_link,
    deactivating_ends_sessions_and_voids_unspent_tokens_at_once_while_given_approvals_stay,
    resetting_totp_ends_sessions_and_only_the_new_enrollment_signs_in,
    clearing_a_throttle_lets_the_next_sign_in_be_checked_at_once,
    revoking_sessions_signs_the_approver_out_everywhere,
    the_cli_lists_deactivates_and_resets_approvers,
);
