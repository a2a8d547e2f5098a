//! Whole transitions (`store::transitions`): one statement on PostgreSQL, one transaction on
//! SQLite. Everything a transition writes — the move, its audit records, its messages, the
//! agent's reply — is written if and only if its compare-and-set wins, and the request it stores
//! is exactly the one those writes were computed from.

use crate::helpers::{spawn_app, Db, TestApp};
use crate::on_both_backends;
use countersign::audit::{self, AuditFields};
use countersign::domain::{AgentId, ApproverId, RequestId, RequestState};
use countersign::notify::alerts;
use countersign::service::outbound;
use countersign::store::requests::{self, Changes, Joined, NewRequest, RequestRecord};
use countersign::store::transitions::{self, Approval, Outgoing, StoredReply, Whole};
use countersign::store::{approvals, idempotency, outbox};

const CALLBACK_URL: &str = "http://127.0.0.1:9/hook";

async fn pending_request(app: &TestApp) -> RequestRecord {
    let created = app.propose_ok("25.00").await;
    let id = RequestId::from_trusted(created["id"].as_str().expect("id").to_owned());
    requests::find(app.ctx.store.reader(), &id).await.expect("reads").expect("stored")
}

async fn messages_for(app: &TestApp, id: &RequestId) -> Vec<outbox::Message> {
    let all = outbox::list(app.ctx.store.reader(), None, 10_000).await.expect("outbox");
    all.into_iter().filter(|m| m.request_id.as_deref() == Some(id.as_str())).collect()
}

async fn records_for(app: &TestApp, id: &RequestId, event_type: &str) -> usize {
    audit::settle(&app.ctx.store).await.expect("settles");
    let rows = countersign::store::audit::for_request(app.ctx.store.reader(), id.as_str()).await.expect("audit");
    rows.iter().filter(|row| row.fields.event_type == event_type).count()
}

async fn stored_reply(app: &TestApp, agent: &AgentId, key: &str) -> Option<String> {
    let record = idempotency::find_outside(app.ctx.store.reader(), agent, key).await.expect("key");
    record.and_then(|r| r.response_body)
}

async fn claim_key(app: &TestApp, agent: &AgentId, key: &str) {
    let mut tx = app.ctx.store.begin().await.expect("begins");
    let now = countersign::service::now_ms();
    assert!(idempotency::try_claim(&mut tx, agent, key, "fingerprint", now + 30_000, now).await.expect("claims"));
    app.ctx.store.commit(tx).await.expect("commits");
}

fn test_record(record: &RequestRecord, event_type: &str) -> AuditFields {
    audit::identified(AuditFields {
        event_type: event_type.into(),
        outcome: "success".into(),
        transfer_request_id: Some(record.id.to_string()),
        ..AuditFields::default()
    })
}

/// pending_approval → rejected, with one audit record, a callback, a fan-out and a reply.
fn rejection<'a>(
    record: &'a RequestRecord,
    read_at: i64,
    changes: &'a Changes,
    now: i64,
    key: &'a str,
    team_channel: bool,
) -> Whole<'a> {
    Whole {
        id: &record.id,
        agent_id: &record.agent_id,
        from: RequestState::PendingApproval,
        read_at,
        to: RequestState::Rejected,
        changes,
        now_ms: now,
        audit: vec![test_record(record, "test.whole")],
        messages: vec![
            Outgoing::AgentCallback {
                id: countersign::notify::new_message_id(),
                event_type: "transfer.rejected".into(),
                payload: "{\"whole\":true}".into(),
            },
            alerts::fan_out_of_transition(record.id.as_str(), "transfer.rejected", team_channel),
        ],
        reply: Some(StoredReply { agent: &record.agent_id, key, status: 200, body: "{\"replied\":true}" }),
        approval: None,
    }
}

async fn a_whole_transition_writes_everything_only_when_it_wins(db: Db) {
    let app = spawn_app(db).await;
    outbound::set_callback(&app.ctx, "test-agent", Some(CALLBACK_URL)).await.expect("callback");
    let record = pending_request(&app).await;
    claim_key(&app, &record.agent_id, "whole-key").await;
    let changes = Changes { rejection_reason: Some("whole".into()), ..Changes::default() };
    let now = record.updated_at + 1_000;
    let before = messages_for(&app, &record.id).await.len();

    // Read before someone else touched the row: nothing is written at all.
    let stale = rejection(&record, record.updated_at - 1, &changes, now, "whole-key", true);
    assert!(!transitions::apply(&app.ctx.store, stale).await.expect("applies"), "a stale read loses");
    let unchanged = requests::find(app.ctx.store.reader(), &record.id).await.expect("reads").expect("row");
    assert_eq!(unchanged.state, RequestState::PendingApproval);
    assert_eq!(messages_for(&app, &record.id).await.len(), before, "no message from a lost move");
    assert_eq!(records_for(&app, &record.id, "test.whole").await, 0, "no audit record from a lost move");
    assert_eq!(stored_reply(&app, &record.agent_id, "whole-key").await, None, "no reply from a lost move");

    // The winner writes all of it, and the row is the one its writes describe.
    let won = rejection(&record, record.updated_at, &changes, now, "whole-key", true);
    assert!(transitions::apply(&app.ctx.store, won).await.expect("applies"), "the fresh read wins");
    let stored = requests::find(app.ctx.store.reader(), &record.id).await.expect("reads").expect("row");
    let predicted = changes.applied_to(&record, RequestState::Rejected, now);
    assert_eq!(format!("{stored:?}"), format!("{predicted:?}"), "the stored row is the predicted one");
    let messages = messages_for(&app, &record.id).await;
    assert_eq!(messages.len(), before + 2, "the callback and the fan-out");
    let callback = messages.iter().find(|m| m.channel == outbox::AGENT_CALLBACK && m.event_type == "transfer.rejected");
    assert_eq!(callback.expect("callback").destination, CALLBACK_URL, "sent to the agent's URL");
    assert!(messages.iter().any(|m| m.channel == outbox::FAN_OUT && m.event_type == "transfer.rejected"));
    assert_eq!(records_for(&app, &record.id, "test.whole").await, 1);
    assert_eq!(stored_reply(&app, &record.agent_id, "whole-key").await.as_deref(), Some("{\"replied\":true}"));

    // Once moved, the same move loses again and writes nothing more.
    let again = rejection(&stored, stored.updated_at, &changes, now + 1, "whole-key", true);
    assert!(!transitions::apply(&app.ctx.store, again).await.expect("applies"), "already rejected");
    assert_eq!(messages_for(&app, &record.id).await.len(), before + 2);
    assert_eq!(records_for(&app, &record.id, "test.whole").await, 1);
    app.stop().await;
}

async fn messages_nobody_would_hear_are_not_written(db: Db) {
    let app = spawn_app(db).await;
    // No callback URL, no team channel, no approver channel.
    let record = pending_request(&app).await;
    claim_key(&app, &record.agent_id, "quiet-key").await;
    let before = messages_for(&app, &record.id).await.len();
    let changes = Changes::default();
    let whole = rejection(&record, record.updated_at, &changes, record.updated_at + 1, "quiet-key", false);
    assert!(transitions::apply(&app.ctx.store, whole).await.expect("applies"));
    assert_eq!(messages_for(&app, &record.id).await.len(), before, "neither a callback nor a fan-out");
    assert_eq!(records_for(&app, &record.id, "test.whole").await, 1, "the audit record is written");
    app.stop().await;
}

/// pending_approval → executing, made by `approver`'s approval spending token `jti`.
fn approval<'a>(record: &'a RequestRecord, approver: &'a ApproverId, jti: &'a str, changes: &'a Changes) -> Whole<'a> {
    Whole {
        id: &record.id,
        agent_id: &record.agent_id,
        from: RequestState::PendingApproval,
        read_at: record.updated_at,
        to: RequestState::Executing,
        changes,
        now_ms: record.updated_at + 1,
        audit: vec![test_record(record, "test.whole_approval")],
        messages: Vec::new(),
        reply: None,
        approval: Some(Approval {
            approver_id: approver,
            payload_hash: record.payload_hash.as_deref().expect("pinned"),
            step_up_at: None,
            token_jti: jti,
        }),
    }
}

async fn set_disabled(app: &TestApp, approver: &ApproverId, disabled_at: Option<i64>) {
    let mut tx = app.ctx.store.begin().await.expect("begins");
    sqlx::query("UPDATE approvers SET disabled_at = $1 WHERE id = $2")
        .bind(disabled_at)
        .bind(approver.as_str())
        .execute(tx.conn().await.expect("connection"))
        .await
        .expect("updates");
    app.ctx.store.commit(tx).await.expect("commits");
}

async fn state_and_approvals(app: &TestApp, id: &RequestId) -> (RequestState, usize) {
    let record = requests::find(app.ctx.store.reader(), id).await.expect("reads").expect("row");
    (record.state, approvals::for_request(app.ctx.store.reader(), id).await.expect("approvals").len())
}

async fn an_approval_moves_the_request_only_from_an_active_approver_spending_its_token_once(db: Db) {
    let app = spawn_app(db).await;
    let approver = app.add_approver("whole-approver", "approver", None).await;
    let approver = ApproverId::parse(&approver.id).expect("approver id");
    let (first, second) = (pending_request(&app).await, pending_request(&app).await);
    let changes = Changes::default();

    set_disabled(&app, &approver, Some(1)).await;
    let voided = transitions::apply(&app.ctx.store, approval(&first, &approver, "jti-1", &changes)).await;
    assert!(!voided.expect("applies"), "a deactivated approver moves nothing");
    assert_eq!(state_and_approvals(&app, &first.id).await, (RequestState::PendingApproval, 0));

    set_disabled(&app, &approver, None).await;
    let approved = transitions::apply(&app.ctx.store, approval(&first, &approver, "jti-1", &changes)).await;
    assert!(approved.expect("applies"), "an active approver's approval moves it");
    assert_eq!(state_and_approvals(&app, &first.id).await, (RequestState::Executing, 1));
    assert_eq!(records_for(&app, &first.id, "test.whole_approval").await, 1);

    // The same token again, on another request: refused as a whole, nothing written.
    let reused = transitions::apply(&app.ctx.store, approval(&second, &approver, "jti-1", &changes)).await;
    assert!(reused.expect_err("a spent token").is_unique_violation());
    assert_eq!(state_and_approvals(&app, &second.id).await, (RequestState::PendingApproval, 0));
    assert_eq!(records_for(&app, &second.id, "test.whole_approval").await, 0);
    app.stop().await;
}

/// A new request as `requests::insert` predicts it, without reading it back.
fn new_request<'a>(
    model: &'a RequestRecord,
    id: &'a RequestId,
    renews: Option<&'a RequestId>,
    texts: &'a (Vec<String>, Vec<String>),
    now: i64,
) -> NewRequest<'a> {
    NewRequest {
        id,
        agent_id: &model.agent_id,
        item_id: &model.item_id,
        account_id: &model.account_id,
        tier: model.tier,
        step_up: true,
        approvals_required: 2,
        policy_version: "test-policy-7",
        policy_reasons: &texts.0,
        approver_groups: &texts.1,
        approval_ttl_secs: Some(600),
        intent: &model.intent,
        amount_cents: 1234,
        plaid_idempotency_key: "", // set by the caller's copy below
        supersedes: None,
        renews,
        version: 3,
        now_ms: now,
        joined: Joined {
            plaid_item_id: model.plaid_item_id.clone(),
            item_health: model.item_health.clone(),
            agent_owner: model.agent_owner.clone(),
        },
    }
}

/// `requests::insert` returns the row without reading it back (on SQLite the INSERT waits in the
/// writer's batch): what it returns must be what a read of the row returns. A renewal is sent at
/// once, so a second renewal of one request is refused by its own INSERT, not at the commit.
async fn a_new_request_is_stored_exactly_as_insert_returns_it(db: Db) {
    let app = spawn_app(db).await;
    let model = pending_request(&app).await;
    let texts = (vec!["amount over $10".to_owned()], vec!["treasury".to_owned()]);
    let now = countersign::service::now_ms();
    let mut returned = Vec::new();
    for (n, renews) in [None, Some(&model.id)].into_iter().enumerate() {
        let id = RequestId::generate();
        let key = format!("cs-test-{n}");
        let mut tx = app.ctx.store.begin().await.expect("begins");
        let new = NewRequest { plaid_idempotency_key: &key, ..new_request(&model, &id, renews, &texts, now) };
        returned.push(requests::insert(&mut tx, new).await.expect("inserts"));
        app.ctx.store.commit(tx).await.expect("commits");
    }
    for predicted in &returned {
        let stored = requests::find(app.ctx.store.reader(), &predicted.id).await.expect("reads").expect("stored");
        assert_eq!(format!("{stored:?}"), format!("{predicted:?}"), "the stored row is the returned one");
    }
    assert_eq!(returned[1].renews.as_ref(), Some(&model.id));

    let id = RequestId::generate();
    let mut tx = app.ctx.store.begin().await.expect("begins");
    let again =
        NewRequest { plaid_idempotency_key: "cs-test-again", ..new_request(&model, &id, Some(&model.id), &texts, now) };
    let refused = requests::insert(&mut tx, again).await;
    assert!(refused.expect_err("a second renewal").is_unique_violation(), "refused by the INSERT itself");
    drop(tx);
    assert!(requests::find(app.ctx.store.reader(), &id).await.expect("reads").is_none());
    app.stop().await;
}

on_both_backends!(
    a_whole_transition_writes_everything_only_when_it_wins,
    messages_nobody_would_hear_are_not_written,
    an_approval_moves_the_request_only_from_an_active_approver_spending_its_token_once,
    a_new_request_is_stored_exactly_as_insert_returns_it,
);

/// SQLite chains a whole transition's records after the head this process last saw, without
/// reading it first. When another process (a second store on the same file) appended records
/// meanwhile, they collide, nothing of the move is written, and the move runs again after the
/// head it reads: it wins once, with one record, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_transition_after_another_process_moved_the_head_is_written_once() {
    let app = spawn_app(Db::Sqlite).await;
    let record = pending_request(&app).await;
    claim_key(&app, &record.agent_id, "stale-head-key").await;
    let other = countersign::store::Store::connect(app.database_url(), 2).await.expect("second process");
    let foreign = test_record(&record, "test.other_process");
    transitions::audit_alone(&other, vec![foreign]).await.expect("the other process appends");

    let changes = Changes { rejection_reason: Some("stale head".into()), ..Changes::default() };
    let whole = rejection(&record, record.updated_at, &changes, record.updated_at + 1_000, "stale-head-key", false);
    assert!(transitions::apply(&app.ctx.store, whole).await.expect("applies"), "the move wins");
    assert_eq!(records_for(&app, &record.id, "test.whole").await, 1, "its record written once");
    assert_eq!(records_for(&app, &record.id, "test.other_process").await, 1);
    let stored = requests::find(app.ctx.store.reader(), &record.id).await.expect("reads").expect("row");
    assert_eq!(stored.state, RequestState::Rejected);
    let verified = countersign::service::audit_upkeep::verify_live(&app.ctx, &[]).await.expect("readable");
    assert!(verified.is_ok(), "one chain: {verified:?}");
    app.stop().await;
}
