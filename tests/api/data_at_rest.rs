//! Data at rest and PII (issue 11, point 7): a private data directory, no legal name left in
//! stored replies after the purge, pruning by wall clock, and the Plaid item on every record.

use crate::helpers::{body, spawn_app, spawn_app_with, Db, EmbeddedApp, Options};
use crate::on_both_backends;
use countersign::service::idempotency::RETENTION_MS;
use countersign::service::{expire, now_ms, retention};
use countersign::store::items;
use reqwest::StatusCode;
use sqlx::Row;
use std::time::Duration;

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// The embedded default, started in a fresh directory, with a transfer proposed so SQLite's
/// write-ahead log and shared-memory files exist: nothing in it is readable by anyone else.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_keeps_its_data_directory_and_every_file_in_it_private() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("countersign-data");
    let app = EmbeddedApp::start(&dir).await;
    let (status, created) = body(app.propose_demo(&dir, "25.00").await).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    assert_eq!(mode(&dir), 0o700, "data directory");
    for name in ["countersign.db", "countersign.db-wal", "countersign.db-shm", "master.key", "demo-agent.key"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    for entry in std::fs::read_dir(&dir).expect("data dir lists") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path) & 0o077, 0, "{} is readable by others", path.display());
    }
    app.stop().await;
}

async fn a_purged_request_leaves_no_legal_name_in_any_stored_reply(db: Db) {
    let app = spawn_app(db).await;
    let proposal = app.proposal("10.00");
    let (status, created) = body(app.propose_with(&app.api_key, "propose-1", &proposal).await).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id");
    assert_eq!(app.cancel(id, "cancel-1").await.status(), StatusCode::OK);

    app.eventually("the cancelled request is purged", || async {
        retention::purge_once(&app.ctx, Duration::ZERO).await.expect("purges") == 1
    })
    .await;

    let rows = sqlx::query("SELECT response_body FROM idempotency_keys").fetch_all(app.ctx.store.reader()).await;
    let bodies: Vec<String> = rows
        .expect("keys")
        .iter()
        .filter_map(|row| row.try_get::<Option<String>, _>("response_body").expect("body"))
        .collect();
    assert!(!bodies.is_empty(), "replies are stored");
    for stored in &bodies {
        assert!(!stored.contains("Ada Lovelace"), "legal name kept in a stored reply: {stored}");
    }
    // The key still replays (the same request, its name redacted), so the agent cannot pay twice.
    let (status, replayed) = body(app.propose_with(&app.api_key, "propose-1", &proposal).await).await;
    assert_eq!(status, StatusCode::CREATED, "{replayed}");
    assert_eq!(replayed["id"], created["id"]);
    assert!(!replayed.to_string().contains("Ada Lovelace"), "{replayed}");
    app.stop().await;
}

async fn every_transfer_audit_record_of_a_flow_carries_the_plaid_item_id(db: Db) {
    let app = spawn_app(db).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("10.00").await;
    let (status, approved) = app.approve_as(&alice, &request).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    let id = request["id"].as_str().expect("id");
    app.eventually("submitted", || async { body(app.get_request(id, None).await).await.1["state"] == "submitted" })
        .await;

    let item = items::find(app.ctx.store.reader(), &app.item_id).await.expect("item").expect("known item");
    let records: Vec<_> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|row| row.fields.transfer_request_id.as_deref() == Some(id))
        .collect();
    assert!(records.len() >= 4, "proposal, authorization, approval, execution: {}", records.len());
    for row in &records {
        assert_eq!(
            row.fields.plaid_item_id.as_deref(),
            Some(item.plaid_item_id.as_str()),
            "{} has no Plaid item id",
            row.fields.event_type
        );
    }
    app.stop().await;
}

/// Each instance lives shorter than the sweeper's old 3,600 passes; the prune still happens
/// once per period, claimed in the database.
async fn stale_idempotency_keys_are_pruned_across_short_lived_restarts(db: Db) {
    let options = Options { prune_interval: Duration::from_secs(1), ..Options::default() };
    let mut app = spawn_app_with(db, options).await;
    for instance in ["first", "second"] {
        let key = format!("stale-{instance}");
        let stale = now_ms() - RETENTION_MS - 60_000;
        let agent = sqlx::query("SELECT id FROM agents LIMIT 1").fetch_one(app.ctx.store.reader()).await;
        let agent: String = agent.expect("agent").try_get("id").expect("id");
        sqlx::query(
            "INSERT INTO idempotency_keys (agent_id, idempotency_key, fingerprint, locked_until, created_at) \
             VALUES ($1, $2, 'f', 0, $3)",
        )
        .bind(&agent)
        .bind(&key)
        .bind(stale)
        .execute(app.ctx.store.reader())
        .await
        .expect("stale key inserted");
        app.eventually(&format!("the {instance} instance prunes"), || async {
            let left = sqlx::query("SELECT COUNT(*) AS n FROM idempotency_keys WHERE idempotency_key = $1")
                .bind(&key)
                .fetch_one(app.ctx.store.reader())
                .await
                .expect("count");
            left.try_get::<i64, _>("n").expect("n") == 0
        })
        .await;
        app.restart().await;
    }
    // One claim per period, whichever replica asks: the instances above just pruned.
    let within_the_hour = expire::prune_if_due(&app.ctx, Duration::from_secs(3600)).await.expect("prune");
    assert_eq!(within_the_hour, None, "a second prune within the period");
    app.stop().await;
}

on_both_backends!(
    a_purged_request_leaves_no_legal_name_in_any_stored_reply,
    every_transfer_audit_record_of_a_flow_carries_the_plaid_item_id,
    stale_idempotency_keys_are_pruned_across_short_lived_restarts,
);
