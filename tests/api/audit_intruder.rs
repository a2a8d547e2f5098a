//! A row written into the chain by someone other than the chainer (a plain `INSERT` at the next
//! seq): verification names it, the chainer keeps chaining past it and raises an alert, and the
//! evidence of a transfer still answers.

use crate::audit_export::compliance_session;
use crate::helpers::{body, spawn_app, Db, TestApp};
use crate::on_both_backends;
use countersign::audit::{record_hash, AuditFields};
use countersign::service::audit_upkeep;
use countersign::store::audit::{self as rows, AuditRow};
use reqwest::StatusCode;

/// Inserts `row` the way an intruder with write access would: a plain INSERT, no chainer.
async fn intrude(app: &TestApp, row: &AuditRow) {
    let mut tx = app.ctx.store.begin().await.expect("tx");
    rows::insert(&mut tx, std::slice::from_ref(row)).await.expect("the INSERT is allowed");
    app.ctx.store.commit(tx).await.expect("commit");
}

fn forged(seq: i64, prev_hash: &str) -> AuditRow {
    let fields = AuditFields {
        event_id: "ev_forged".into(),
        occurred_at: 1_700_000_000_000,
        event_type: "transfer.approved".into(),
        outcome: "success".into(),
        ..AuditFields::default()
    };
    AuditRow { seq, fields, prev_hash: prev_hash.to_owned(), hash: "f".repeat(64) }
}

async fn chain_errors(app: &TestApp) -> String {
    let text =
        app.client.get(format!("{}/metrics", app.address)).send().await.expect("sent").text().await.expect("body");
    text.lines().filter(|l| l.starts_with("countersign_audit_chain_errors")).collect::<Vec<_>>().join("\n")
}

async fn a_row_inserted_at_the_next_seq_is_named_and_the_chainer_stays_live(db: Db) {
    let app = spawn_app(db).await;
    app.propose_ok("10.00").await;
    app.audit_rows().await;
    let (head, head_hash) = rows::head(app.ctx.store.reader()).await.expect("head");
    intrude(&app, &forged(head + 1, &head_hash)).await;

    // New records keep reaching the chain, through the background chainer alone.
    let later = app.propose_ok("20.00").await;
    let id = later["id"].as_str().expect("id").to_owned();
    app.eventually("the later proposal's records are chained", || async {
        !rows::for_request(app.ctx.store.reader(), &id).await.expect("reads").is_empty()
    })
    .await;
    app.eventually("nothing left queued", || async {
        rows::last_pending(app.ctx.store.reader()).await.expect("reads").is_none()
    })
    .await;

    let broken = audit_upkeep::verify_live(&app.ctx, &[]).await.expect("readable").expect_err("the intruder is seen");
    assert_eq!(broken.seq, head + 1, "{broken}");

    let session = compliance_session(&app).await;
    let url = format!("{}/v1/transfers/{id}/evidence", app.address);
    let (status, doc) = body(app.client.get(url).bearer_auth(&session).send().await.expect("sent")).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    if db == Db::Postgres {
        // SQLite chains in the writer's own transaction after whatever the head says: it cannot
        // tell a foreign row from its own there; verification still names it.
        let alerts = chain_errors(&app).await;
        assert!(alerts.contains("kind=\"foreign_record\"") && !alerts.ends_with(" 0"), "{alerts}");
    }
    app.stop().await;
}

/// On PostgreSQL the chainer alone moves the head, so even rows with correct hashes and links are
/// seen for what they are: not where the chainer put anything. The first of them is named.
async fn a_well_formed_row_past_the_head_is_named(db: Db) {
    let app = spawn_app(db).await;
    app.propose_ok("10.00").await;
    app.audit_rows().await;
    let (head, head_hash) = rows::head(app.ctx.store.reader()).await.expect("head");
    // Two of them, linked to each other as the chainer would have.
    let mut first = forged(head + 1, &head_hash);
    first.hash = record_hash(first.seq, &first.fields, &first.prev_hash);
    let mut second = forged(head + 2, &first.hash);
    second.fields.event_id = "ev_forged_2".into();
    second.hash = record_hash(second.seq, &second.fields, &second.prev_hash);
    intrude(&app, &first).await;
    intrude(&app, &second).await;
    let broken = audit_upkeep::verify_live(&app.ctx, &[]).await.expect("readable").expect_err("the intruder is seen");
    assert_eq!(broken.seq, head + 1, "{broken}");
    assert!(broken.reason.contains("chainer"), "{broken}");
    // And once the chainer has moved on past it, the link names it.
    app.propose_ok("20.00").await;
    app.audit_rows().await;
    let broken = audit_upkeep::verify_live(&app.ctx, &[]).await.expect("readable").expect_err("still seen");
    assert_eq!(broken.seq, head + 1, "{broken}");
    app.stop().await;
}

on_both_backends!(a_row_inserted_at_the_next_seq_is_named_and_the_chainer_stays_live);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_well_formed_row_past_the_head_is_named() {
        super::a_well_formed_row_past_the_head_is_named(crate::helpers::Db::Postgres).await
    }
}
