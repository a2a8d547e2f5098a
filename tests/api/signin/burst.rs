//! Bursts: many sign-ins at once must neither evaluate more codes than the limit nor hash
//! passwords without bound.

use super::retry_after;
use crate::helpers::{body, error_code, spawn_app, spawn_app_with, Db, Options};
use crate::on_both_backends;
use countersign::auth::SessionPolicy;
use reqwest::StatusCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Codes evaluated: every sign-in whose TOTP code was checked, right or wrong.
async fn codes_evaluated(app: &crate::helpers::TestApp) -> usize {
    app.audit_rows()
        .await
        .iter()
        .filter(|r| r.fields.event_type == "approver.sign_in")
        .filter(|r| {
            r.fields.outcome == "success" || matches!(r.fields.error_code.as_deref(), Some("bad_totp" | "totp_reused"))
        })
        .count()
}

async fn sixty_concurrent_wrong_codes_on_two_replicas_evaluate_at_most_five(db: Db) {
    // A long first delay, so the block outlasts the burst however slow the machine is.
    let sessions = SessionPolicy { throttle_first_delay: Duration::from_secs(60), ..SessionPolicy::default() };
    let app = spawn_app_with(db, Options { sessions, ..Options::default() }).await;
    let replica = app.spawn_replica().await;
    let alice = app.add_approver("alice", "approver", None).await;
    let wrong = alice.wrong_code();
    let replicas = [app.address.clone(), replica.address.clone()];
    let attempts = (0..60).map(|i| app.sign_in_as(&replicas[i % 2], "alice", &alice.password, &wrong));
    let answers = futures::future::join_all(attempts).await;
    let statuses: Vec<StatusCode> = answers.iter().map(reqwest::Response::status).collect();
    assert!(
        statuses.iter().all(|s| matches!(*s, StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS)),
        "{statuses:?}"
    );
    let evaluated = codes_evaluated(&app).await;
    assert!(evaluated <= 5, "{evaluated} wrong codes were evaluated; the limit is 5");

    // The right code right after: still throttled (nothing more is evaluated while blocked).
    let right = alice.next_code().await;
    let answer = app.sign_in_as(&replica.address, "alice", &alice.password, &right).await;
    assert!(retry_after(&answer).is_some_and(|s| s >= 1), "429 says when to retry");
    let (status, error) = body(answer).await;
    assert_eq!((status, error_code(&error)), (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"));
    assert_eq!(codes_evaluated(&app).await, evaluated);
    replica.stop().await;
    app.stop().await;
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn two_hundred_concurrent_sign_ins_keep_memory_bounded_and_answer_cleanly(db: Db) {
    let app = spawn_app(db).await;
    let before = resident_kib();
    let (peak, done) = (Arc::new(AtomicU64::new(before)), Arc::new(AtomicBool::new(false)));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(resident_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let usernames: Vec<String> = (0..200).map(|_| format!("user-{}", uuid::Uuid::new_v4().simple())).collect();
    let attempts = usernames.iter().map(|u| app.sign_in_as(&app.address, u, "not anyone's password", "123456"));
    let answers = futures::future::join_all(attempts).await;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    for answer in answers {
        let status = answer.status();
        let retry = retry_after(&answer);
        let (_, error) = body(answer).await;
        let code = error_code(&error).to_owned();
        match status {
            StatusCode::UNAUTHORIZED => assert_eq!(code, "invalid_credentials"),
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                assert!(retry.is_some(), "{status} {code} says when to retry")
            }
            other => panic!("unexpected {other}: {error}"),
        }
    }
    let growth_mib = peak.load(Ordering::Relaxed).saturating_sub(before) / 1024;
    println!("resident memory grew by {growth_mib} MiB at the peak of 200 concurrent sign-ins");
    assert!(growth_mib < 300, "resident memory grew by {growth_mib} MiB");
    let metrics = app.client.get(format!("{}/metrics", app.address)).send().await.expect("metrics");
    let metrics = metrics.text().await.expect("text");
    assert!(metrics.contains("countersign_sign_in_attempts_total{outcome=\"throttled\"}"), "{metrics}");
    app.stop().await;
}

on_both_backends!(
    sixty_concurrent_wrong_codes_on_two_replicas_evaluate_at_most_five,
    two_hundred_concurrent_sign_ins_keep_memory_bounded_and_answer_cleanly,
);
