//! The audit trail as far as the foundation writes it: one chained record per step, append-only.

use crate::helpers::{spawn_app, Db};
use crate::on_both_backends;
use countersign::audit::{record_hash, GENESIS_HASH};

async fn each_step_appends_one_chained_record_without_pii(db: Db) {
    let app = spawn_app(db).await;
    let created = app.propose_ok("10.00").await;
    let id = created["id"].as_str().expect("id");
    app.cancel(id, "c").await;
    app.eventually("cancel audited", || async {
        app.audit_events_for(id).await.contains(&"transfer.authorization_cancel".to_owned())
    })
    .await;
    assert_eq!(
        app.audit_events_for(id).await,
        vec!["transfer.proposed", "transfer.authorization", "transfer.cancelled", "transfer.authorization_cancel"]
    );

    let rows = app.audit_rows().await;
    let mut prev = GENESIS_HASH.to_owned();
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, n as i64 + 1, "gap-free sequence");
        assert_eq!(row.prev_hash, prev);
        assert_eq!(row.hash, record_hash(row.seq, &row.fields, &row.prev_hash));
        prev = row.hash.clone();
        let text = format!("{:?}", row.fields);
        assert!(!text.contains("Ada Lovelace"), "legal name in audit: {text}");
        assert!(!text.contains(&app.account_id), "unmasked account in audit: {text}");
        assert!(!text.contains("access-"), "access token in audit: {text}");
    }
    let authorization =
        rows.iter().find(|r| r.fields.event_type == "transfer.authorization").expect("authorization row");
    assert_eq!(authorization.fields.payload_hash.as_deref(), created["payload_hash"].as_str());
    assert_eq!(authorization.fields.plaid_endpoint.as_deref(), Some("/transfer/authorization/create"));
    assert!(authorization.fields.plaid_request_id.is_some());
    assert_eq!(authorization.fields.outcome, "success");
    app.stop().await;
}

async fn the_database_refuses_to_change_or_delete_audit_records(db: Db) {
    let app = spawn_app(db).await;
    app.propose_ok("10.00").await;
    assert!(!app.audit_rows().await.is_empty(), "records chained");
    let pool = app.ctx.store.reader();
    let update = sqlx::query("UPDATE audit_events SET outcome = 'forged' WHERE seq = 1").execute(pool).await;
    assert!(update.is_err(), "UPDATE was allowed");
    let delete = sqlx::query("DELETE FROM audit_events WHERE seq = 1").execute(pool).await;
    assert!(delete.is_err(), "DELETE was allowed");
    if db == Db::Postgres {
        let truncate = sqlx::query("TRUNCATE audit_events").execute(pool).await;
        assert!(truncate.is_err(), "TRUNCATE was allowed");
    }
    assert_eq!(app.audit_rows().await[0].fields.outcome, "success");
    app.stop().await;
}

async fn concurrent_writers_build_one_gap_free_chain(db: Db) {
    let app = spawn_app(db).await;
    let proposals = (0..30).map(|_| app.propose_ok("1.00"));
    futures::future::join_all(proposals).await;
    let rows = app.audit_rows().await;
    let mut prev = GENESIS_HASH.to_owned();
    for (n, row) in rows.iter().enumerate() {
        assert_eq!((row.seq, &row.prev_hash), (n as i64 + 1, &prev));
        prev = row.hash.clone();
    }
    assert!(rows.len() >= 60);
    app.stop().await;
}

on_both_backends!(
    each_step_appends_one_chained_record_without_pii,
    the_database_refuses_to_change_or_delete_audit_records,
    concurrent_writers_build_one_gap_free_chain,
);
