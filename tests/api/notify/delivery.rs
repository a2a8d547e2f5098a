//! The outbox's delivery: retries with the same id, timeouts, failure after the schedule, a
//! rolled-back transition sends nothing, a restart delivers what was committed, several replicas
//! deliver each message once.

use super::callbacks::{call_back_to, outbox_counts};
use super::receiver::{verified_with, Answer, Receiver};
use crate::helpers::{spawn_app, spawn_app_with, test_outbound, Db, Options, TestApp};
use crate::on_both_backends;
use countersign::store::outbox;
use std::time::Duration;

/// The agent callbacks in the outbox, newest first (alerts' fan-outs left out).
pub async fn messages(app: &TestApp) -> Vec<outbox::Message> {
    let all = outbox::list(app.ctx.store.reader(), None, 1000).await.expect("outbox");
    all.into_iter().filter(|m| m.channel == "agent_callback").collect()
}

async fn a_receiver_that_fails_three_times_gets_the_message_on_the_fourth_attempt_with_the_same_id(db: Db) {
    let app = spawn_app(db).await;
    let receiver = Receiver::start().await;
    let secret = call_back_to(&app, &receiver).await;
    receiver.answer(&[Answer::Status(500), Answer::Status(503), Answer::Status(500)]);
    app.propose_ok("21.00").await;
    app.eventually("delivered", || async { outbox_counts(&app, "agent_callback").await == (1, 1) }).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 4, "three failures, then the delivery");
    let ids: Vec<_> = hits.iter().map(|h| h.header("webhook-id").expect("id").to_owned()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "the same webhook-id on every attempt: {ids:?}");
    assert_eq!(hits.iter().map(|h| h.body.clone()).collect::<std::collections::HashSet<_>>().len(), 1);
    assert!(verified_with(&secret, &hits).iter().all(|ok| *ok));
    let message = &messages(&app).await[0];
    assert_eq!(message.id, ids[0]);
    let attempts = outbox::attempts(app.ctx.store.reader(), &message.id).await.expect("attempts");
    let statuses: Vec<_> = attempts.iter().map(|a| a.http_status).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(500), Some(200)]);
    assert!(attempts.iter().all(|a| a.latency_ms >= 0 && a.started_at > 0));
    let delivered =
        app.metric("countersign_outbox_deliveries_total{channel=\"agent_callback\",outcome=\"delivered\"}").await;
    assert_eq!(delivered, Some(1.0));
    assert_eq!(
        app.metric("countersign_outbox_deliveries_total{channel=\"agent_callback\",outcome=\"retry\"}").await,
        Some(3.0)
    );
    assert_eq!(app.metric("countersign_outbox_depth").await, Some(0.0));
    app.stop().await;
}

/// An app whose deliveries time out after `timeout`, and the test agent's receiver, which holds the
/// first request without answering.
async fn with_hanging_receiver(db: Db, timeout: Duration) -> (TestApp, Receiver) {
    let outbound = countersign::notify::Outbound { timeout, ..test_outbound() };
    let app = spawn_app_with(db, Options { outbound, ..Options::default() }).await;
    let receiver = Receiver::start().await;
    call_back_to(&app, &receiver).await;
    receiver.answer(&[Answer::Hang]);
    (app, receiver)
}

async fn a_receiver_that_hangs_times_out_and_is_retried(db: Db) {
    let (app, _receiver) = with_hanging_receiver(db, Duration::from_secs(1)).await;
    app.propose_ok("21.00").await;
    app.eventually("delivered after the timeout", || async { outbox_counts(&app, "agent_callback").await == (1, 1) })
        .await;
    let message = &messages(&app).await[0];
    let attempts = outbox::attempts(app.ctx.store.reader(), &message.id).await.expect("attempts");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0].error.as_deref(), Some("timed out"));
    assert!(attempts[0].latency_ms >= 900 && attempts[0].latency_ms < 5_000, "{attempts:?}");
    assert_eq!(attempts[1].http_status, Some(200));
    app.stop().await;
}

async fn a_hanging_receiver_holds_up_no_other_agents_callbacks(db: Db) {
    let (app, slow) = with_hanging_receiver(db, Duration::from_secs(10)).await;
    let quick = Receiver::start().await;
    let other_key = app.new_agent("other-agent", None).await;
    countersign::service::outbound::set_callback(&app.ctx, "other-agent", Some(&quick.url)).await.expect("callback");
    app.propose_ok("21.00").await;
    app.eventually("the slow receiver holds the first callback", || async { slow.hits().len() == 1 }).await;
    let response = app.propose_with(&other_key, "other-1", &app.proposal("22.00")).await;
    assert!(response.status().is_success());
    app.eventually("the other agent's callback", || async { quick.hits().len() == 1 }).await;
    let quick_agent = quick_agent(&app).await;
    let slow_message = messages(&app).await.into_iter().find(|m| m.agent_id != quick_agent).expect("slow");
    assert_eq!(slow_message.attempts, 0, "the first send is still in flight (10 s timeout)");
    app.stop().await;
}

async fn quick_agent(app: &TestApp) -> Option<String> {
    sqlx::query_scalar("SELECT id FROM agents WHERE name = 'other-agent'")
        .fetch_optional(app.ctx.store.reader())
        .await
        .expect("agent")
}

async fn a_message_whose_schedule_is_spent_is_failed_and_can_be_retried(db: Db) {
    let outbound = countersign::notify::Outbound { backoff: vec![Duration::from_millis(20); 2], ..test_outbound() };
    let app = spawn_app_with(db, Options { outbound, ..Options::default() }).await;
    let receiver = Receiver::start().await;
    call_back_to(&app, &receiver).await;
    receiver.answer(&[Answer::Status(500), Answer::Status(500), Answer::Status(500)]);
    app.propose_ok("21.00").await;
    app.eventually("failed", || async { messages(&app).await.first().is_some_and(|m| m.state == "failed") }).await;
    let failed = messages(&app).await.remove(0);
    assert_eq!((failed.attempts, failed.last_error.as_deref()), (3, Some("HTTP 500")));
    assert_eq!(receiver.hits().len(), 3);
    assert_eq!(app.metric("countersign_outbox_failed").await, Some(1.0));

    app.run_cli(&["outbox", "retry", &failed.id]).await.expect("outbox retry");
    app.eventually("delivered on retry", || async { outbox_counts(&app, "agent_callback").await == (1, 1) }).await;
    assert_eq!(receiver.hits().len(), 4);
    assert_eq!(receiver.hits()[3].header("webhook-id"), Some(failed.id.as_str()));
    assert!(app.run_cli(&["outbox", "retry", &failed.id]).await.is_err(), "a delivered message is not retried");
    assert_eq!(app.metric("countersign_outbox_failed").await, Some(0.0));
    app.run_cli(&["outbox", "list", "--state", "delivered"]).await.expect("outbox list");
    app.stop().await;
}

/// A trigger that makes the audit record of a rejection fail, so the rejection's transaction —
/// its state change, audit record and outbox message — rolls back at commit.
async fn break_rejections(app: &TestApp, db: Db) {
    let statements: &[&str] = match db {
        Db::Sqlite => &["CREATE TRIGGER refuse_rejection BEFORE INSERT ON audit_events \
             WHEN NEW.event_type = 'transfer.rejected' BEGIN SELECT RAISE(ABORT, 'refused by test'); END"],
        Db::Postgres => &[
            "CREATE FUNCTION refuse_rejection() RETURNS trigger AS $$ BEGIN \
             IF NEW.fields LIKE '%transfer.rejected%' THEN RAISE EXCEPTION 'refused by test'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_rejection BEFORE INSERT ON audit_pending FOR EACH ROW EXECUTE FUNCTION refuse_rejection()",
        ],
    };
    for statement in statements {
        sqlx::query(statement).execute(app.ctx.store.reader()).await.expect("trigger");
    }
}

async fn a_rolled_back_transition_sends_nothing(db: Db) {
    let app = spawn_app(db).await;
    let receiver = Receiver::start().await;
    call_back_to(&app, &receiver).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("21.00").await;
    app.eventually("the pending callback", || async { receiver.hits().len() == 1 }).await;
    break_rejections(&app, db).await;
    let session = app.sign_in(&alice).await;
    let id = request["id"].as_str().expect("id");
    let response =
        app.approver_post(&session, &format!("/v1/transfers/{id}/reject"), serde_json::json!({"reason": "no"})).await;
    assert!(response.status().is_server_error(), "the rejection's commit failed");
    let (_, seen) = crate::helpers::body(app.get_request(id, None).await).await;
    assert_eq!(seen["state"], "pending_approval", "the transition rolled back");
    // The callback of a later committed change arrives; the rolled-back one never does.
    app.cancel(id, "cancel-after").await;
    app.eventually("the cancel callback", || async { receiver.hits().len() == 2 }).await;
    let types: Vec<_> = receiver.hits().iter().map(|h| h.json()["type"].clone()).collect();
    assert_eq!(types, ["transfer.pending_approval", "transfer.cancelled"]);
    // The receiver counts a hit when the call arrives; the worker marks it delivered after the
    // answer, so the count is waited for (asserting at once failed in CI, left (1, 2)).
    app.eventually("both delivered, no third message", || async {
        outbox_counts(&app, "agent_callback").await == (2, 2)
    })
    .await;
    app.stop().await;
}

async fn a_message_committed_before_a_restart_is_delivered_after_it(db: Db) {
    // A worker that never comes round (a 1 h poll) stands for a process killed right after commit.
    let outbound = countersign::notify::Outbound { poll: Duration::from_secs(3600), ..test_outbound() };
    let mut app = spawn_app_with(db, Options { outbound, ..Options::default() }).await;
    let receiver = Receiver::start().await;
    call_back_to(&app, &receiver).await;
    app.propose_ok("21.00").await;
    app.propose_ok("22.00").await;
    assert_eq!(outbox_counts(&app, "agent_callback").await, (0, 2));
    // And one a dead worker had claimed mid-send: its lease lapses, then it is sent again.
    let lapsing = countersign::service::now_ms() + 300;
    sqlx::query(
        "UPDATE outbox SET lease_holder = 'killed-process', lease_until = $1 WHERE id = (SELECT MIN(id) FROM outbox)",
    )
    .bind(lapsing)
    .execute(app.ctx.store.reader())
    .await
    .expect("lease");
    app.restart_with(|settings| settings.outbound.poll = Duration::from_millis(50)).await;
    app.eventually("both delivered", || async { outbox_counts(&app, "agent_callback").await == (2, 2) }).await;
    assert_eq!(receiver.hits().len(), 2);
    app.stop().await;
}

async fn three_replicas_deliver_each_message_once(db: Db) {
    let app = spawn_app(db).await;
    let receiver = Receiver::start().await;
    call_back_to(&app, &receiver).await;
    let replicas = [app.spawn_replica().await, app.spawn_replica().await];
    let proposals: Vec<_> = (0..20).map(|i| app.proposal(&format!("{}.00", 30 + i))).collect();
    futures::future::join_all(proposals.iter().map(|p| app.propose(p))).await;
    app.eventually("all delivered", || async { outbox_counts(&app, "agent_callback").await == (20, 20) }).await;
    let ids: Vec<_> = receiver.hits().iter().map(|h| h.header("webhook-id").expect("id").to_owned()).collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (20, 20), "each message once");
    for replica in replicas {
        replica.stop().await;
    }
    app.stop().await;
}

on_both_backends!(
    a_receiver_that_fails_three_times_gets_the_message_on_the_fourth_attempt_with_the_same_id,
    a_receiver_that_hangs_times_out_and_is_retried,
    a_hanging_receiver_holds_up_no_other_agents_callbacks,
    a_message_whose_schedule_is_spent_is_failed_and_can_be_retried,
    a_rolled_back_transition_sends_nothing,
    a_message_committed_before_a_restart_is_delivered_after_it,
    three_replicas_deliver_each_message_once,
);
