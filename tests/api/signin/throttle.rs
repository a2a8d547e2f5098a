//! Known and unknown usernames look alike (status, body, time); failures slow an attacker down
//! with growing delays instead of locking the approver out.

use super::{median, ratio, retry_after, without_request_id};
use crate::helpers::{body, error_code, spawn_app_with, Db, Options, TestApp, TestApprover};
use crate::on_both_backends;
use countersign::auth::SessionPolicy;
use reqwest::Response;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

/// One timed attempt: status, body without request id, elapsed.
async fn timed(app: &TestApp, username: &str, password: &str) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let (status, value) = body(app.sign_in_as(&app.address, username, password, "123456").await).await;
    (status, without_request_id(value), started.elapsed())
}

/// Interleaves attempts for a known and an unknown name; asserts identical answers and returns
/// the ratio of their median times.
async fn compare(app: &TestApp, known: &[String], unknown: &[String]) -> (StatusCode, f64) {
    let (mut known_times, mut unknown_times, mut statuses) = (vec![], vec![], vec![]);
    for (i, (k, u)) in known.iter().zip(unknown).enumerate() {
        // Alternate who goes first, so warm-up and neighbours' load fall on both alike.
        let ((known_status, known_body, known_time), (unknown_status, unknown_body, unknown_time)) = if i % 2 == 0 {
            let known = timed(app, k, "a wrong password").await;
            (known, timed(app, u, "a wrong password").await)
        } else {
            let unknown = timed(app, u, "a wrong password").await;
            (timed(app, k, "a wrong password").await, unknown)
        };
        assert_eq!((known_status, &known_body), (unknown_status, &unknown_body), "{k} vs {u}");
        statuses.push(known_status);
        known_times.push(known_time);
        unknown_times.push(unknown_time);
    }
    statuses.dedup();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    let (k, u) = (median(known_times), median(unknown_times));
    println!("median known {k:?}, unknown {u:?}");
    (statuses[0], ratio(k, u))
}

async fn known_and_unknown_usernames_get_the_same_answers_in_the_same_time(db: Db) {
    // A long first delay, so the throttled phase stays throttled however slow the machine is.
    let sessions = SessionPolicy { throttle_first_delay: Duration::from_secs(60), ..SessionPolicy::default() };
    let app = spawn_app_with(db, Options { sessions, ..Options::default() }).await;
    let mut known = vec![];
    for i in 0..10 {
        known.push(app.add_approver(&format!("known{i}"), "approver", None).await.username);
    }
    let unknown: Vec<String> = (0..10).map(|i| format!("ghost{i}")).collect();
    let (status, spread) = compare(&app, &known, &unknown).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(spread < 2.0, "a wrong password for a known name and an unknown name differ {spread:.2}x in time");

    // Five failures for one known and one unknown name: both are throttled alike.
    for _ in 0..4 {
        compare(&app, &known[..1], &unknown[..1]).await;
    }
    let (status, spread) = compare(&app, &vec![known[0].clone(); 21], &vec![unknown[0].clone(); 21]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(spread < 2.0, "throttled known and unknown names differ {spread:.2}x in time");
    app.stop().await;
}

/// Alice after five wrong passwords, and the answer to her right password and code right after.
async fn after_five_wrong_passwords(db: Db, sessions: SessionPolicy) -> (TestApp, TestApprover, String, Response) {
    let app = spawn_app_with(db, Options { sessions, ..Options::default() }).await;
    let alice = app.add_approver("alice", "approver", None).await;
    for _ in 0..5 {
        let (status, error) = body(app.sign_in_response(&alice, "a wrong password", "123456").await).await;
        assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    }
    let code = alice.next_code().await;
    let answer = app.sign_in_response(&alice, &alice.password, &code).await;
    (app, alice, code, answer)
}

async fn five_bad_passwords_delay_the_right_one_only_for_a_while_and_say_how_long(db: Db) {
    let sessions = SessionPolicy { lockout: Duration::from_secs(1), ..SessionPolicy::default() };
    let (app, alice, code, throttled) = after_five_wrong_passwords(db, sessions).await;
    assert_eq!(retry_after(&throttled), Some(1));
    let (status, error) = body(throttled).await;
    assert_eq!((status, error_code(&error)), (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"));
    assert!(error["error"]["message"].as_str().is_some_and(|m| m.contains("try again in 1 second")), "{error}");

    // Once the delay has passed, the right password and code work: nobody is locked out at will.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = app.sign_in_response(&alice, &alice.password, &code).await.status();
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(Instant::now() < deadline, "the right password still refused after the delay");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = app.audit_rows().await;
    let throttled = rows.iter().filter(|r| r.fields.error_code.as_deref() == Some("throttled")).count();
    assert!(throttled >= 1, "every throttled attempt is audited");
    app.stop().await;
}

async fn an_admin_unlock_lets_the_right_password_in_at_once_and_is_audited(db: Db) {
    let sessions = SessionPolicy { throttle_first_delay: Duration::from_secs(600), ..SessionPolicy::default() };
    let (app, alice, code, throttled) = after_five_wrong_passwords(db, sessions).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&throttled).is_some_and(|s| s > 500), "ten minutes to wait");

    app.run_cli(&["approver", "unlock", "ALICE"]).await.expect("unlock runs");
    let (status, value) = body(app.sign_in_response(&alice, &alice.password, &code).await).await;
    assert_eq!(status, StatusCode::CREATED, "{value}");
    let unlocked = app.audit_rows().await.into_iter().find(|r| r.fields.event_type == "approver.unlocked");
    assert_eq!(unlocked.and_then(|r| r.fields.approver_id), Some(alice.id.clone()));
    app.stop().await;
}

on_both_backends!(
    an_admin_unlock_lets_the_right_password_in_at_once_and_is_audited,
    known_and_unknown_usernames_get_the_same_answers_in_the_same_time,
    five_bad_passwords_delay_the_right_one_only_for_a_while_and_say_how_long,
);
