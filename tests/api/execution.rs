//! Execution exactly once: faults at Plaid, crashes, re-authentication, the window, renewal.

use crate::helpers::{body, error_code, spawn_app, spawn_app_with, Db, Options, TestApp};
use crate::on_both_backends;
use countersign::domain::{RequestId, RequestState};
use countersign::store::requests::{self, Changes};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

async fn state_of(app: &TestApp, id: &str) -> String {
    body(app.get_request(id, None).await).await.1["state"].as_str().unwrap_or_default().to_owned()
}

async fn arm(app: &TestApp, kind: &str, delay_ms: u64) {
    app.sim_post(
        "/sim/faults",
        json!({"endpoint": "/transfer/create", "kind": kind, "delay_ms": delay_ms, "times": 1}),
    )
    .await;
}

async fn a_500_after_plaid_committed_still_yields_one_transfer(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    arm(&app, "error_500_after_commit", 0).await;
    let (status, answered) = app.approve_as(&alice, &request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answered["state"], "executing", "an unknown outcome is never marked failed");
    app.eventually("reconciled to submitted", || async { state_of(&app, id).await == "submitted" }).await;
    assert_eq!(app.transfers_at_plaid().await, 1);
    let (_, done) = body(app.get_request(id, None).await).await;
    assert!(done["transfer_id"].as_str().is_some());
    app.stop().await;
}

async fn a_timeout_after_plaid_committed_still_yields_one_transfer(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    arm(&app, "delay_after_commit", 4000).await; // our client gives up after 2 s
    let (status, _) = app.approve_as(&alice, &request).await;
    assert_eq!(status, StatusCode::OK);
    app.eventually("reconciled to submitted", || async { state_of(&app, id).await == "submitted" }).await;
    assert_eq!(app.transfers_at_plaid().await, 1);
    app.stop().await;
}

async fn a_500_before_plaid_committed_is_created_once_by_the_reconciler(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    arm(&app, "error_500", 0).await;
    let (_, answered) = app.approve_as(&alice, &request).await;
    assert_eq!(answered["state"], "executing");
    app.eventually("reconciled to submitted", || async { state_of(&app, id).await == "submitted" }).await;
    let statuses: Vec<_> = app.sim_calls("/transfer/create").await.iter().map(|c| c["status"].clone()).collect();
    assert_eq!(statuses, [json!(500), json!(200)]);
    assert_eq!(app.transfers_at_plaid().await, 1);
    app.stop().await;
}

async fn a_request_forced_into_executing_without_approvals_is_never_created(db: Db) {
    let app = spawn_app(db).await;
    let request = app.propose_ok("250.00").await;
    let id = RequestId::parse(request["id"].as_str().expect("id")).expect("request id");
    // What a write to the database behind the service's back would leave: executing, no approval.
    let mut tx = app.ctx.store.begin().await.expect("tx");
    let claimed = requests::transition(
        &mut tx,
        &id,
        &[RequestState::PendingApproval],
        RequestState::Executing,
        &Changes::default(),
        0,
    )
    .await
    .expect("claim");
    app.ctx.store.commit(tx).await.expect("commit");
    assert!(claimed);
    app.eventually("refused", || async { state_of(&app, id.as_str()).await == "failed" }).await;
    let (_, failed) = body(app.get_request(id.as_str(), None).await).await;
    assert_eq!(failed["error"]["code"], "payload_hash_mismatch");
    assert!(app.sim_calls("/transfer/create").await.is_empty());
    assert_eq!(app.transfers_at_plaid().await, 0);
    app.stop().await;
}

async fn item_login_required_during_create_hands_back_a_link_token_and_resumes(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    app.sim_post(
        "/sandbox/item/reset_login",
        json!({"client_id": "sim-client-id", "secret": "sim-secret", "access_token": app.access_token}),
    )
    .await;
    let (_, answered) = app.approve_as(&alice, &request).await;
    assert_eq!(answered["state"], "reauth_required");
    let (_, seen) = body(app.get_request(id, Some(1)).await).await;
    assert!(seen["link_token"].as_str().is_some_and(|t| t.starts_with("link-")), "{seen}");
    let (_, items) = body(
        app.client.get(format!("{}/v1/items", app.address)).bearer_auth(&app.api_key).send().await.expect("items"),
    )
    .await;
    assert_eq!(items["items"][0]["health"], "login_required");

    let resume = |key: &'static str| {
        app.client
            .post(format!("{}/v1/transfers/{id}/resume", app.address))
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", key)
            .send()
    };
    // Still broken: back to reauth_required with a new link token.
    let (status, again) = body(resume("r1").await.expect("sent")).await;
    assert_eq!((status, again["state"].as_str()), (StatusCode::OK, Some("reauth_required")));
    // The user re-links; the approvals are kept and the transfer goes through.
    app.sim_post("/sim/items/repair", json!({"access_token": app.access_token})).await;
    let (status, done) = body(resume("r2").await.expect("sent")).await;
    assert_eq!((status, done["state"].as_str()), (StatusCode::OK, Some("submitted")));
    assert_eq!(app.transfers_at_plaid().await, 1);
    let (status, error) = body(resume("r3").await.expect("sent")).await;
    assert_eq!((status, done["state"].as_str()), (StatusCode::OK, Some("submitted")), "{error}");
    app.stop().await;
}

async fn approving_after_the_window_is_refused_and_nothing_is_created(db: Db) {
    let options =
        Options { authorization_ttl: Duration::from_secs(3), expiry_margin: Duration::ZERO, ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id");
    let session = app.sign_in(&alice).await;
    let token = app.token_for(&alice, &session, &request).await;
    let (_, expired) = body(app.get_request(id, Some(20)).await).await;
    assert_eq!(expired["state"], "expired");
    let (status, error) = body(app.approve(&session, id, &token).await).await;
    // Nobody decided it: the window passed (issue 16.3: never "already decided" for an expired request).
    assert_eq!((status, error_code(&error)), (StatusCode::CONFLICT, "window_passed"));
    assert!(app.sim_calls("/transfer/create").await.is_empty());

    // Renewing makes a new request with a new authorization and no approvals, linked to the old one.
    let renew = app
        .client
        .post(format!("{}/v1/transfers/{id}/renew", app.address))
        .bearer_auth(&app.api_key)
        .header("Idempotency-Key", "n1");
    let (status, renewed) = body(renew.send().await.expect("sent")).await;
    assert_eq!(status, StatusCode::CREATED, "{renewed}");
    assert_eq!((renewed["state"].as_str(), renewed["renews"].as_str()), (Some("pending_approval"), Some(id)));
    assert_ne!(renewed["authorization_id"], request["authorization_id"]);
    let (status, done) = app.approve_as(&alice, &renewed).await;
    assert_eq!((status, done["state"].as_str()), (StatusCode::OK, Some("submitted")));
    let renew_live =
        app.client.post(format!("{}/v1/transfers/{}/renew", app.address, renewed["id"].as_str().expect("id")));
    let (status, error) =
        body(renew_live.bearer_auth(&app.api_key).header("Idempotency-Key", "n2").send().await.expect("sent")).await;
    assert_eq!((status, error_code(&error)), (StatusCode::CONFLICT, "invalid_state"));
    app.stop().await;
}

async fn a_proposal_plaid_never_answered_is_retried_then_abandoned(db: Db) {
    let app = spawn_app(db).await;
    // Plaid takes the authorization but its answer is lost (our client gives up after 2 s).
    app.sim_post(
        "/sim/faults",
        json!({"endpoint": "/transfer/authorization/create", "kind": "delay_after_commit", "delay_ms": 4000, "times": 1}),
    )
    .await;
    let (status, _) = body(app.propose(&app.proposal("10.00")).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (_, page) = body(
        app.client.get(format!("{}/v1/transfers", app.address)).bearer_auth(&app.api_key).send().await.expect("list"),
    )
    .await;
    let id = page["items"][0]["id"].as_str().expect("the request was kept").to_owned();
    // Nobody retries: the reconciler asks Plaid again with the same key and the request goes on.
    app.eventually("reconciled to pending_approval", || async { state_of(&app, &id).await == "pending_approval" })
        .await;
    app.eventually("both calls logged", || async { app.sim_calls("/transfer/authorization/create").await.len() >= 2 })
        .await;
    let keys: Vec<_> = app
        .sim_calls("/transfer/authorization/create")
        .await
        .iter()
        .map(|c| c["fields"]["idempotency_key"].clone())
        .collect();
    assert!(keys.len() >= 2 && keys.iter().all(|k| *k == keys[0]), "{keys:?}");

    // A proposal stuck for longer than ten minutes is failed instead of re-asked.
    app.sim_post("/sim/faults", json!({"endpoint": "/transfer/authorization/create", "kind": "error_500", "times": 1}))
        .await;
    let (status, _) = body(app.propose(&app.proposal("11.00")).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (_, page) = body(
        app.client
            .get(format!("{}/v1/transfers?state=proposed", app.address))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .expect("list"),
    )
    .await;
    let stuck = page["items"][0]["id"].as_str().expect("stuck request").to_owned();
    sqlx::query("UPDATE transfer_requests SET created_at = created_at - 700000 WHERE id = $1")
        .bind(&stuck)
        .execute(app.ctx.store.reader())
        .await
        .expect("age the request");
    app.eventually("abandoned", || async { state_of(&app, &stuck).await == "failed" }).await;
    let (_, failed) = body(app.get_request(&stuck, None).await).await;
    assert_eq!(failed["error"]["code"], "authorization_abandoned");
    app.stop().await;
}

async fn two_replicas_on_one_database_create_exactly_one_transfer(db: Db) {
    let app = spawn_app(db).await;
    let replica = app.spawn_replica().await;
    let approvers = [
        app.add_approver("alice", "approver", None).await,
        app.add_approver("bob", "approver", None).await,
        app.add_approver("carol", "approver", None).await,
    ];
    let request = app.propose_ok("12000.00").await;
    let id = request["id"].as_str().expect("id");
    let mut grants = Vec::new();
    for approver in &approvers {
        let session = app.sign_in(approver).await;
        let token = app.token_for(approver, &session, &request).await;
        grants.push((session, token));
    }
    // Each approval goes to both replicas at once; three approvers race for a quorum of two.
    let calls = grants.iter().flat_map(|(session, token)| {
        [app.address.clone(), replica.address.clone()].into_iter().map(move |base| {
            let client = reqwest::Client::new();
            let url = format!("{base}/v1/transfers/{id}/approve");
            async move {
                client
                    .post(url)
                    .bearer_auth(session)
                    .json(&json!({"approval_token": token}))
                    .send()
                    .await
                    .expect("sent")
                    .status()
            }
        })
    });
    let statuses = futures::future::join_all(calls).await;
    assert!(statuses.iter().filter(|s| **s == StatusCode::OK).count() >= 2, "{statuses:?}");
    app.eventually("submitted", || async { state_of(&app, id).await == "submitted" }).await;
    assert_eq!(app.sim_calls("/transfer/create").await.len(), 1);
    assert_eq!(app.transfers_at_plaid().await, 1);
    let approvals = app.audit_events_for(id).await.iter().filter(|e| *e == "transfer.approval").count();
    assert_eq!(approvals, 2, "the third approver came too late to count");
    replica.stop().await;
    app.stop().await;
}

async fn expired_request(db: Db) -> (TestApp, String) {
    let options =
        Options { authorization_ttl: Duration::from_secs(2), expiry_margin: Duration::ZERO, ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let request = app.propose_ok("250.00").await;
    let id = request["id"].as_str().expect("id").to_owned();
    app.eventually("expired", || async { state_of(&app, &id).await == "expired" }).await;
    (app, id)
}

async fn renew(app: &TestApp, id: &str, key: &str) -> (StatusCode, serde_json::Value) {
    let renew = app.client.post(format!("{}/v1/transfers/{id}/renew", app.address));
    body(renew.bearer_auth(&app.api_key).header("Idempotency-Key", key).send().await.expect("sent")).await
}

async fn a_request_is_renewed_once_whatever_the_keys_and_the_races(db: Db) {
    let (app, id) = expired_request(db).await;
    // Eight renewals at once, each with its own Idempotency-Key: one wins.
    let answers = futures::future::join_all((0..8).map(|n| {
        let (app, id) = (&app, &id);
        async move { renew(app, id, &format!("race-{n}")).await }
    }))
    .await;
    let created = answers.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{answers:?}");
    for (status, answer) in answers.iter().filter(|(status, _)| *status != StatusCode::CREATED) {
        assert_eq!((*status, error_code(answer)), (StatusCode::CONFLICT, "already_renewed"), "{answer}");
    }
    let (status, again) = renew(&app, &id, "later").await;
    assert_eq!((status, error_code(&again)), (StatusCode::CONFLICT, "already_renewed"));
    assert_eq!(app.sim_calls("/transfer/authorization/create").await.len(), 2, "one original, one renewal");
    app.stop().await;
}

async fn a_request_whose_legal_name_was_purged_is_not_renewed(db: Db) {
    let (app, id) = expired_request(db).await;
    let purged = countersign::service::retention::purge_once(&app.ctx, Duration::ZERO).await.expect("purges");
    assert!(purged >= 1);
    let (status, error) = renew(&app, &id, "after-purge").await;
    assert_eq!((status, error_code(&error)), (StatusCode::CONFLICT, "legal_name_purged"), "{error}");
    let authorizations = app.sim_calls("/transfer/authorization/create").await;
    assert_eq!(authorizations.len(), 1, "nothing with a redacted name reaches Plaid");
    app.stop().await;
}

on_both_backends!(
    two_replicas_on_one_database_create_exactly_one_transfer,
    a_proposal_plaid_never_answered_is_retried_then_abandoned,
    a_500_after_plaid_committed_still_yields_one_transfer,
    a_timeout_after_plaid_committed_still_yields_one_transfer,
    a_500_before_plaid_committed_is_created_once_by_the_reconciler,
    a_request_forced_into_executing_without_approvals_is_never_created,
    item_login_required_during_create_hands_back_a_link_token_and_resumes,
    approving_after_the_window_is_refused_and_nothing_is_created,
    a_request_is_renewed_once_whatever_the_keys_and_the_races,
    a_request_whose_legal_name_was_purged_is_not_renewed,
);
