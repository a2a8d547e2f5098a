//! Checkpoints anchored outside the database: an administrator who forges, cuts or rewrites the
//! chain and deletes the stored checkpoints that would betray it is still caught by live
//! verification, against the newest checkpoint in the anchor file.

use crate::audit_tamper::{disable_triggers, overwrite};
use crate::helpers::{spawn_app, Db, TestApp};
use crate::on_both_backends;
use countersign::audit::record_hash;
use countersign::audit::verify::Break;
use countersign::service::audit_upkeep;
use countersign::store::audit::AuditRow;

async fn some_history(app: &TestApp, amounts: &[&str]) {
    for amount in amounts {
        app.propose_ok(amount).await;
    }
}

async fn checkpoint(app: &TestApp) -> i64 {
    audit_upkeep::checkpoint_once(&app.ctx).await.expect("signs").expect("a checkpoint").seq
}

async fn verify(app: &TestApp) -> Result<(), Break> {
    audit_upkeep::verify_live(&app.ctx, &[]).await.expect("database readable").map(|_| ())
}

async fn execute(app: &TestApp, sql: &str, bind: i64) {
    sqlx::query(sql).bind(bind).execute(app.ctx.store.reader()).await.expect(sql);
}

/// Recomputes every hash from `from` on and moves the head to match, as a careful forger would.
async fn rechain_from(app: &TestApp, mut rows: Vec<AuditRow>, from: usize) {
    for i in from..rows.len() {
        if i > 0 {
            rows[i].prev_hash = rows[i - 1].hash.clone();
        }
        rows[i].hash = record_hash(rows[i].seq, &rows[i].fields, &rows[i].prev_hash);
    }
    overwrite(app, &rows[from..]).await;
    move_head_to(app, rows.last().expect("rows")).await;
}

async fn move_head_to(app: &TestApp, last: &AuditRow) {
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(last.seq)
        .bind(&last.hash)
        .execute(app.ctx.store.reader())
        .await
        .expect("head moved");
}

async fn a_record_forged_after_the_last_stored_checkpoint_is_caught_by_the_anchor(db: Db) {
    let app = spawn_app(db).await;
    some_history(&app, &["10.00", "20.00"]).await;
    let stored = checkpoint(&app).await;
    some_history(&app, &["30.00", "40.00"]).await;
    let anchored = checkpoint(&app).await;
    assert_eq!(verify(&app).await, Ok(()), "untouched");
    let original = app.audit_rows().await;
    disable_triggers(&app, db).await;
    execute(&app, "DELETE FROM audit_checkpoints WHERE seq > $1", stored).await;

    let mut forged = original.clone();
    let at = stored as usize; // the record right after the stored checkpoint (0-based index)
    forged[at].fields.outcome = "rejected_by_human".into();
    rechain_from(&app, forged, at).await;
    let broken = verify(&app).await.expect_err("caught");
    assert_eq!(broken.seq, anchored, "{broken}");
    assert!(broken.reason.contains("anchor"), "{broken}");
    app.stop().await;
}

async fn a_chain_cut_back_with_its_checkpoints_is_caught_by_the_anchor(db: Db) {
    let app = spawn_app(db).await;
    some_history(&app, &["10.00", "20.00", "30.00"]).await;
    let anchored = checkpoint(&app).await;
    let original = app.audit_rows().await;
    disable_triggers(&app, db).await;
    let keep = anchored - 3;
    execute(&app, "DELETE FROM audit_checkpoints WHERE seq > $1", keep).await;
    execute(&app, "DELETE FROM audit_events WHERE seq > $1", keep).await;
    move_head_to(&app, &original[keep as usize - 1]).await;
    let broken = verify(&app).await.expect_err("caught");
    assert_eq!(broken.seq, keep + 1, "{broken}");
    assert!(broken.reason.contains("anchor") && broken.reason.contains("removed"), "{broken}");
    app.stop().await;
}

async fn a_rewritten_chain_without_its_checkpoints_is_caught_by_the_anchor(db: Db) {
    let app = spawn_app(db).await;
    some_history(&app, &["10.00", "20.00", "30.00"]).await;
    let anchored = checkpoint(&app).await;
    let original = app.audit_rows().await;
    disable_triggers(&app, db).await;
    execute(&app, "DELETE FROM audit_checkpoints WHERE seq > $1", 0).await;

    let mut rewritten = original.clone();
    rewritten[0].fields.outcome = "error".into();
    rechain_from(&app, rewritten, 0).await;
    let broken = verify(&app).await.expect_err("caught");
    assert_eq!(broken.seq, anchored, "{broken}");
    assert!(broken.reason.contains("anchor"), "{broken}");

    // The chain put back as it was: the stored checkpoints are still missing. (The background
    // task may have signed and anchored an earlier one at start-up: the first missing is named.)
    rechain_from(&app, original, 0).await;
    let broken = verify(&app).await.expect_err("caught");
    assert!(broken.seq <= anchored, "{broken}");
    assert!(broken.reason.contains("checkpoints table"), "{broken}");
    app.stop().await;
}

on_both_backends!(
    a_record_forged_after_the_last_stored_checkpoint_is_caught_by_the_anchor,
    a_chain_cut_back_with_its_checkpoints_is_caught_by_the_anchor,
    a_rewritten_chain_without_its_checkpoints_is_caught_by_the_anchor,
);
