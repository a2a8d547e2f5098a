//! A dishonest database administrator disables the append-only triggers and rewrites history;
//! `verify` against the live database names the first bad seq.

use crate::helpers::{spawn_app, Db, TestApp};
use crate::on_both_backends;
use countersign::audit::record_hash;
use countersign::service::audit_upkeep;
use countersign::store::audit::{self as rows, AuditRow};

/// Lifts the append-only guard of the records and of their stored checkpoints.
pub async fn disable_triggers(app: &TestApp, db: Db) {
    let pool = app.ctx.store.reader();
    let statements: &[&str] = match db {
        Db::Postgres => {
            &["ALTER TABLE audit_events DISABLE TRIGGER ALL", "ALTER TABLE audit_checkpoints DISABLE TRIGGER ALL"]
        }
        Db::Sqlite => &[
            "DROP TRIGGER audit_events_refuse_update",
            "DROP TRIGGER audit_events_refuse_delete",
            "DROP TRIGGER audit_checkpoints_refuse_update",
            "DROP TRIGGER audit_checkpoints_refuse_delete",
        ],
    };
    for statement in statements {
        sqlx::query(statement).execute(pool).await.expect("the owner can disable triggers");
    }
}

/// Replaces the stored records at their seqs (delete, then insert), as the administrator would.
pub async fn overwrite(app: &TestApp, replacements: &[AuditRow]) {
    let mut tx = app.ctx.store.begin().await.expect("tx");
    for row in replacements {
        sqlx::query("DELETE FROM audit_events WHERE seq = $1")
            .bind(row.seq)
            .execute(tx.conn().await.expect("connection"))
            .await
            .expect("delete");
    }
    rows::insert(&mut tx, replacements).await.expect("insert");
    app.ctx.store.commit(tx).await.expect("commit");
}

async fn first_bad(app: &TestApp) -> Option<i64> {
    audit_upkeep::verify_live(&app.ctx, &[]).await.expect("database readable").err().map(|b| b.seq)
}

async fn a_dishonest_administrator_is_caught_by_live_verification(db: Db) {
    let app = spawn_app(db).await;
    for amount in ["10.00", "20.00", "30.00", "40.00"] {
        app.propose_ok(amount).await;
    }
    let signed = audit_upkeep::checkpoint_once(&app.ctx).await.expect("signs").expect("a checkpoint");
    assert_eq!(first_bad(&app).await, None, "an untouched chain verifies");
    let original = app.audit_rows().await;
    disable_triggers(&app, db).await;

    let mut changed = original[2].clone();
    changed.fields.outcome = "declined_by_plaid".into();
    overwrite(&app, &[changed]).await;
    assert_eq!(first_bad(&app).await, Some(3), "a changed field");
    overwrite(&app, &original[2..3]).await;
    assert_eq!(first_bad(&app).await, None, "restored");

    sqlx::query("DELETE FROM audit_events WHERE seq = 4").execute(app.ctx.store.reader()).await.expect("delete");
    assert_eq!(first_bad(&app).await, Some(4), "a removed row");
    overwrite(&app, &original[3..4]).await;

    let mut swapped = [original[5].clone(), original[4].clone()];
    (swapped[0].seq, swapped[1].seq) = (5, 6);
    overwrite(&app, &swapped).await;
    assert_eq!(first_bad(&app).await, Some(5), "two rows swapped");
    overwrite(&app, &original[4..6]).await;

    let mut forged = original[4].clone();
    forged.fields.outcome = "rejected_by_human".into();
    forged.hash = record_hash(forged.seq, &forged.fields, &forged.prev_hash);
    overwrite(&app, &[forged.clone()]).await;
    assert_eq!(first_bad(&app).await, Some(5), "a forged row with a recomputed hash");

    // Every later hash recomputed too, and the head moved to match: only the signature can tell.
    let forged_seq = forged.seq;
    let mut rewritten = original.clone();
    rewritten[4] = forged;
    for i in 5..rewritten.len() {
        rewritten[i].prev_hash = rewritten[i - 1].hash.clone();
        rewritten[i].hash = record_hash(rewritten[i].seq, &rewritten[i].fields, &rewritten[i].prev_hash);
    }
    overwrite(&app, &rewritten[4..]).await;
    let last = &rewritten[rewritten.len() - 1];
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&last.hash)
        .execute(app.ctx.store.reader())
        .await
        .expect("head");
    let broken = audit_upkeep::verify_live(&app.ctx, &[]).await.expect("readable").expect_err("caught");
    // The first signed checkpoint at or after the forged record names it; the background task may
    // have signed one too, so that is this test's checkpoint or an earlier one, never a later one.
    assert!((forged_seq..=signed.seq).contains(&broken.seq), "{broken}");
    assert!(broken.reason.contains(&format!("..={}", broken.seq)), "{broken}");
    app.stop().await;
}

on_both_backends!(a_dishonest_administrator_is_caught_by_live_verification);
