//! Asynchronous chaining: transactions queue their records under no shared lock, and chainers
//! (any task of any replica) move them into the chain, each exactly once, gap-free, in order.

use crate::helpers::{spawn_app, Db, TestApp};
use crate::on_both_backends;
use countersign::audit::{self, AuditFields, GENESIS_HASH};
use countersign::service::audit_upkeep;
use countersign::store::audit as rows;
use std::collections::HashSet;

fn record(event_type: &str, marker: &str) -> AuditFields {
    AuditFields {
        event_type: event_type.into(),
        outcome: "success".into(),
        thread_id: Some(marker.into()),
        ..AuditFields::default()
    }
}

/// Commits one transaction holding `count` records, in the order given.
async fn commit_records(app: &TestApp, marker: &str, count: usize) {
    let mut tx = app.ctx.store.begin().await.expect("tx");
    for n in 0..count {
        audit::append(&mut tx, record(&format!("test.step_{n}"), marker)).await.expect("queued");
    }
    app.ctx.store.commit(tx).await.expect("commit");
}

fn assert_chain_intact(rows: &[rows::AuditRow]) {
    let mut prev = GENESIS_HASH.to_owned();
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, n as i64 + 1, "gap-free sequence");
        assert_eq!(row.prev_hash, prev, "linked to its predecessor at seq {}", row.seq);
        assert_eq!(row.hash, audit::record_hash(row.seq, &row.fields, &row.prev_hash));
        prev = row.hash.clone();
    }
}

async fn racing_writers_and_chainers_chain_every_record_once_in_order(db: Db) {
    let app = spawn_app(db).await;
    let replica = app.spawn_replica().await;
    let writers: Vec<_> = (0..24)
        .map(|w| {
            let app = &app;
            async move {
                for t in 0..5 {
                    commit_records(app, &format!("w{w}-t{t}"), 3).await;
                }
            }
        })
        .collect();
    // Chainers race the writers and each other; the replica's background chainer runs too.
    let chainers: Vec<_> = (0..4)
        .map(|_| async {
            for _ in 0..20 {
                audit::settle(&app.ctx.store).await.expect("settles");
            }
        })
        .collect();
    tokio::join!(futures_util::future::join_all(writers), futures_util::future::join_all(chainers));

    let rows = app.audit_rows().await;
    assert_chain_intact(&rows);
    let ours: Vec<_> =
        rows.iter().filter(|r| r.fields.thread_id.as_deref().is_some_and(|m| m.starts_with('w'))).collect();
    assert_eq!(ours.len(), 24 * 5 * 3, "every record chained");
    let ids: HashSet<_> = ours.iter().map(|r| r.fields.event_id.as_str()).collect();
    assert_eq!(ids.len(), ours.len(), "no record chained twice");
    for w in 0..24 {
        // One writer's transactions follow each other, so its records keep their order.
        let mine: Vec<_> = ours
            .iter()
            .filter(|r| r.fields.thread_id.as_deref().is_some_and(|m| m.starts_with(&format!("w{w}-"))))
            .map(|r| (r.fields.thread_id.clone().unwrap_or_default(), r.fields.event_type.clone()))
            .collect();
        let expected: Vec<_> =
            (0..5).flat_map(|t| (0..3).map(move |n| (format!("w{w}-t{t}"), format!("test.step_{n}")))).collect();
        assert_eq!(mine, expected, "writer {w}'s records out of order");
    }
    assert_eq!(rows::last_pending(app.ctx.store.reader()).await.expect("reads"), None, "queue drained");
    let (head_seq, head_hash) = rows::head(app.ctx.store.reader()).await.expect("head");
    assert_eq!(head_seq, rows.len() as i64);
    assert_eq!(Some(head_hash.as_str()), rows.last().map(|r| r.hash.as_str()));
    assert!(audit_upkeep::verify_live(&app.ctx, &[]).await.expect("readable").is_ok());
    replica.stop().await;
    app.stop().await;
}

async fn a_rolled_back_change_leaves_no_record(db: Db) {
    let app = spawn_app(db).await;
    let mut tx = app.ctx.store.begin().await.expect("tx");
    audit::append(&mut tx, record("test.rolled_back", "rb")).await.expect("queued");
    drop(tx);
    commit_records(&app, "kept", 1).await;
    let rows = app.audit_rows().await;
    assert!(rows.iter().all(|r| r.fields.event_type != "test.rolled_back"));
    assert!(rows.iter().any(|r| r.fields.thread_id.as_deref() == Some("kept")));
    assert_chain_intact(&rows);
    app.stop().await;
}

async fn the_background_chainer_needs_no_reader(db: Db) {
    let app = spawn_app(db).await;
    commit_records(&app, "background", 2).await;
    // Read the table directly (no settle): the running service's chainer must get there alone.
    app.eventually("chained in the background", || async {
        let rows = rows::page(app.ctx.store.reader(), 0, 1_000_000).await.expect("rows");
        rows.iter().filter(|r| r.fields.thread_id.as_deref() == Some("background")).count() == 2
    })
    .await;
    app.stop().await;
}

async fn queued_records_cannot_be_changed(db: Db) {
    let app = spawn_app(db).await;
    // In one transaction, so no chainer can take the record before the attempt.
    let mut tx = app.ctx.store.begin().await.expect("tx");
    sqlx::query("INSERT INTO audit_pending (fields) VALUES ('{}')")
        .execute(tx.conn().await.expect("connection"))
        .await
        .expect("queued");
    let update =
        sqlx::query("UPDATE audit_pending SET fields = '{}'").execute(tx.conn().await.expect("connection")).await;
    let message = update.expect_err("refused").to_string();
    assert!(message.contains("insert-and-delete only"), "{message}");
    drop(tx);
    app.stop().await;
}

on_both_backends!(
    racing_writers_and_chainers_chain_every_record_once_in_order,
    a_rolled_back_change_leaves_no_record,
    the_background_chainer_needs_no_reader,
    queued_records_cannot_be_changed,
);
