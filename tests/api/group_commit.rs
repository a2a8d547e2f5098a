//! Write transactions that queue for SQLite's one writer share a COMMIT (`store::sqlite_writer`).
//! Whatever the grouping, each caller's commit means durable and visible, a failed or dropped
//! transaction takes only its own writes with it, and a failed COMMIT fails every member.

use crate::helpers::{spawn_app, Db};
use crate::on_both_backends;
use countersign::audit::{self, AuditFields};
use countersign::service::audit_upkeep;
use countersign::store::audit as rows;
use countersign::store::{InTx, Store};
use std::time::Duration;

fn record(marker: &str) -> AuditFields {
    AuditFields {
        event_id: format!("ev-{marker}"),
        event_type: "test.group_commit".into(),
        outcome: "success".into(),
        transfer_request_id: Some(marker.into()),
        ..AuditFields::default()
    }
}

/// The committed records carrying `marker` (chaining what PostgreSQL has queued first).
async fn records_of(store: &Store, marker: &str) -> usize {
    audit::settle(store).await.expect("settles");
    rows::for_request(store.reader(), marker).await.expect("reads").len()
}

/// Waits until `count` transactions are queued for SQLite's writer (held by the caller's open
/// transaction), so the grouping below is certain, not a matter of timing. PostgreSQL queues
/// nothing: its transactions run side by side.
async fn until_queued(store: &Store, count: usize) {
    if store.backend() != countersign::store::Backend::Sqlite {
        return;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.queued_writers() < count {
        assert!(tokio::time::Instant::now() < deadline, "{count} transactions never queued");
        tokio::task::yield_now().await;
    }
}

async fn queued_transactions_each_commit_durably_and_share_commits(db: Db) {
    let app = spawn_app(db).await;
    let store = app.ctx.store.clone();
    let (logical, physical) = (store.commits().get(), store.physical_commits().get());
    let mut first = store.begin().await.expect("begins");
    let writers: Vec<_> = (0..40)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let marker = format!("gc-{n}");
                let mut tx = store.begin().await.expect("begins");
                audit::append(&mut tx, record(&marker)).await.expect("appends");
                store.commit(tx).await.expect("commits");
                // Committed means visible to every other connection, at once.
                assert_eq!(records_of(&store, &marker).await, 1, "{marker} visible after its commit");
            })
        })
        .collect();
    until_queued(&store, 40).await;
    audit::append(&mut first, record("gc-first")).await.expect("appends");
    store.commit(first).await.expect("commits");
    for writer in writers {
        writer.await.expect("writer ran");
    }

    assert_eq!(records_of(&store, "gc-first").await, 1);
    let (committed, executed) = (store.commits().get() - logical, store.physical_commits().get() - physical);
    // Background loops (chainer, checkpoints) may commit too.
    assert!(committed >= 41, "{committed} commits");
    match db {
        Db::Sqlite => assert!(executed < committed, "{committed} transactions took {executed} COMMITs"),
        Db::Postgres => assert_eq!(executed, committed, "each PostgreSQL transaction commits on its own"),
    }
}

async fn a_dropped_transaction_rolls_back_alone_inside_a_group(db: Db) {
    let app = spawn_app(db).await;
    let store = app.ctx.store.clone();
    let first = store.begin().await.expect("begins");
    let writers: Vec<_> = (0..20)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begins");
                // Written now, inside the transaction (not held for commit like `audit::append`).
                rows::insert_pending(&mut tx, &[record(&format!("gc-drop-{n}"))]).await.expect("writes");
                if n % 2 == 0 {
                    store.commit(tx).await.expect("commits");
                } // odd ones give up: dropped, rolled back
            })
        })
        .collect();
    until_queued(&store, 20).await;
    store.commit(first).await.expect("commits");
    for writer in writers {
        writer.await.expect("writer ran");
    }

    for n in 0..20 {
        let expected = usize::from(n % 2 == 0);
        assert_eq!(records_of(&store, &format!("gc-drop-{n}")).await, expected, "transaction {n}");
    }
    let verified = audit_upkeep::verify_live(&app.ctx, &[]).await.expect("database readable");
    assert!(verified.is_ok(), "the chain stays intact: {verified:?}");
}

async fn a_waiter_that_gives_up_leaves_no_group_stranded(db: Db) {
    let app = spawn_app(db).await;
    let store = app.ctx.store.clone();
    let mut first = app.ctx.store.begin().await.expect("begins");
    audit::append(&mut first, record("gc-stranded")).await.expect("appends");
    let quitter = {
        let store = store.clone();
        tokio::spawn(async move {
            let _tx = store.begin().await.expect("begins");
            std::future::pending::<()>().await;
        })
    };
    until_queued(&store, 1).await;
    // `first` leaves its COMMIT to the queued transaction, which is then cancelled, either still
    // queued or holding the writer: either way the group commits.
    let committing = {
        let store = store.clone();
        tokio::spawn(async move { store.commit(first).await })
    };
    quitter.abort();
    let committed = tokio::time::timeout(Duration::from_secs(10), committing).await.expect("commit returns");
    committed.expect("task ran").expect("commits");
    assert_eq!(records_of(&store, "gc-stranded").await, 1);
    let mut next = store.begin().await.expect("the writer is free again");
    audit::append(&mut next, record("gc-after")).await.expect("appends");
    store.commit(next).await.expect("commits");
    assert_eq!(records_of(&store, "gc-after").await, 1);
}

const INSERT_A: &str = "INSERT INTO waiting_a (id, n) VALUES ($1, $2)";
const INSERT_B: &str = "INSERT INTO waiting_b (id, n) VALUES ($1, $2)";

/// Writes whose results nobody reads wait and go together (SQLite: the writer's batch;
/// PostgreSQL: one statement of data-modifying CTEs, whose parts can't see each other's changes).
/// Whatever waits, a later write to the same table sees the earlier one, a read sees every write
/// before it, and a waiting write that fails fails the commit with nothing of it kept.
async fn waiting_writes_keep_their_order_where_it_matters_and_fail_together(db: Db) {
    let app = spawn_app(db).await;
    let store = &app.ctx.store;
    let mut tx = store.begin().await.expect("begins");
    tx.write(sqlx::query("CREATE TABLE waiting_a (id TEXT PRIMARY KEY, n BIGINT NOT NULL)")).await.expect("a");
    tx.write(sqlx::query("CREATE TABLE waiting_b (id TEXT PRIMARY KEY, n BIGINT NOT NULL)")).await.expect("b");
    store.commit(tx).await.expect("creates");

    let insert = |table: &str, id: &str, n: i64| {
        let sql = if table == "waiting_a" { INSERT_A } else { INSERT_B };
        sqlx::query(sql).bind(id.to_owned()).bind(n)
    };
    let mut tx = store.begin().await.expect("begins");
    tx.write(insert("waiting_a", "x", 1)).await.expect("x");
    tx.write(sqlx::query("UPDATE waiting_a SET n = n + 1 WHERE id = $1").bind("x")).await.expect("x + 1");
    tx.write(insert("waiting_b", "y", 5)).await.expect("y");
    let read =
        sqlx::query("SELECT n FROM waiting_a WHERE id = $1").bind("x").fetch_one_in(&mut tx).await.expect("reads");
    assert_eq!(sqlx::Row::get::<i64, _>(&read, "n"), 2, "the update saw the insert, the read saw both");
    tx.write(insert("waiting_b", "z", 6)).await.expect("z");
    tx.write(insert("waiting_a", "w", 7)).await.expect("w");
    store.commit(tx).await.expect("commits");
    let all = |table: &'static str| async move {
        let rows = sqlx::query(&format!("SELECT id, n FROM {table} ORDER BY id"))
            .fetch_all(store.reader())
            .await
            .expect("reads");
        rows.iter()
            .map(|row| (sqlx::Row::get::<String, _>(row, "id"), sqlx::Row::get::<i64, _>(row, "n")))
            .collect::<Vec<_>>()
    };
    assert_eq!(all("waiting_a").await, vec![("w".to_owned(), 7), ("x".to_owned(), 2)]);
    assert_eq!(all("waiting_b").await, vec![("y".to_owned(), 5), ("z".to_owned(), 6)]);

    let mut tx = store.begin().await.expect("begins");
    tx.write(insert("waiting_b", "q", 1)).await.expect("q waits");
    tx.write(insert("waiting_a", "x", 9)).await.expect("a duplicate waits");
    let failed = store.commit(tx).await.expect_err("the duplicate fails the commit");
    assert!(failed.is_unique_violation(), "{failed}");
    assert_eq!(all("waiting_b").await.len(), 2, "nothing of the failed transaction is kept");
    app.stop().await;
}

on_both_backends!(
    queued_transactions_each_commit_durably_and_share_commits,
    a_dropped_transaction_rolls_back_alone_inside_a_group,
    a_waiter_that_gives_up_leaves_no_group_stranded,
    waiting_writes_keep_their_order_where_it_matters_and_fail_together,
);

/// SQLite checks deferred constraints at COMMIT: a member whose writes break one fails the
/// whole group's COMMIT, and every member is told, with nothing of theirs left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_group_commit_fails_every_member() {
    let app = spawn_app(Db::Sqlite).await;
    let store = app.ctx.store.clone();
    let mut schema = store.begin().await.expect("begins");
    sqlx::raw_sql(
        "CREATE TABLE gc_parent (id INTEGER PRIMARY KEY); \
         CREATE TABLE gc_child (id INTEGER PRIMARY KEY, \
             parent INTEGER REFERENCES gc_parent (id) DEFERRABLE INITIALLY DEFERRED)",
    )
    .execute(schema.conn().await.expect("connection"))
    .await
    .expect("creates tables");
    store.commit(schema).await.expect("commits");

    let mut innocent = store.begin().await.expect("begins");
    let breaker = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.expect("begins");
            audit::append(&mut tx, record("gc-breaker")).await.expect("appends");
            sqlx::query("INSERT INTO gc_child (id, parent) VALUES (1, 42)")
                .execute(tx.conn().await.expect("connection"))
                .await
                .expect("deferred");
            store.commit(tx).await
        })
    };
    until_queued(&store, 1).await;
    audit::append(&mut innocent, record("gc-innocent")).await.expect("appends");
    let innocent_result = store.commit(innocent).await;
    let breaker_result = breaker.await.expect("ran");

    assert!(breaker_result.is_err(), "the member that broke the constraint fails");
    let error = innocent_result.expect_err("its group's COMMIT failed, so it failed");
    assert!(error.to_string().contains("grouped"), "says why: {error}");
    assert_eq!(records_of(&store, "gc-innocent").await, 0, "nothing of the group was committed");
    assert_eq!(records_of(&store, "gc-breaker").await, 0);
    let mut next = store.begin().await.expect("the writer works after a failed group");
    audit::append(&mut next, record("gc-next")).await.expect("appends");
    store.commit(next).await.expect("commits");
    assert_eq!(records_of(&store, "gc-next").await, 1);
}

/// The statements of a transaction reach SQLite's writer thread together: one hand-off for a
/// transaction that only writes (its SAVEPOINT, its BEGIN if it opens a group, and its COMMIT
/// included), one more for each statement whose result it reads (the writes before it go along). Counted on a store of its own,
/// so no background loop's transaction is counted with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reaches_the_writer_once_plus_once_per_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh_store(&dir).await;
    let handoffs = || store.writer_handoffs().get();
    // The first audited commit learns the chain head; after it the writer knows it.
    countersign::store::transitions::audit_alone(&store, vec![record("ho-warm")]).await.expect("commits");

    let before = handoffs();
    countersign::store::transitions::audit_alone(&store, vec![record("ho-alone")]).await.expect("commits");
    assert_eq!(handoffs() - before, 1, "records alone: one hand-off");

    let before = handoffs();
    let mut tx = store.begin().await.expect("begins");
    rows::insert_pending(&mut tx, &[record("ho-pending")]).await.expect("writes");
    let counted = sqlx::query("SELECT COUNT(*) AS n FROM audit_pending").fetch_one_in(&mut tx).await.expect("reads");
    assert_eq!(sqlx::Row::get::<i64, _>(&counted, "n"), 1, "the read sees the write before it");
    store.commit(tx).await.expect("commits");
    assert_eq!(handoffs() - before, 2, "the write waits and goes with the read, then the commit: two hand-offs");

    let before = handoffs();
    let mut tx = store.begin().await.expect("begins");
    tx.write(sqlx::query("DELETE FROM audit_pending")).await.expect("deferred");
    store.commit(tx).await.expect("commits");
    assert_eq!(handoffs() - before, 1, "writes only: one hand-off");
    assert_eq!(records_of(&store, "ho-alone").await, 1);
    let pending =
        sqlx::query("SELECT COUNT(*) AS n FROM audit_pending").fetch_one(store.reader()).await.expect("reads");
    assert_eq!(sqlx::Row::get::<i64, _>(&pending, "n"), 0, "the deferred DELETE committed");
}

/// Another process (here: a second store on the same file) may append records while this one
/// is between groups. Records chained after the head this process last saw then collide with
/// the rows at their seq, nothing of that transaction is written, and it runs again after the
/// head it reads: the chain stays one, gap-free and verifiable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_after_a_head_another_process_moved_are_chained_after_it() {
    let app = spawn_app(Db::Sqlite).await;
    let store = app.ctx.store.clone();
    let other = Store::connect(app.database_url(), 2).await.expect("second process");
    let alone = |store: Store, marker: &'static str| async move {
        countersign::store::transitions::audit_alone(&store, vec![record(marker)]).await.expect("commits");
    };
    alone(store.clone(), "stale-1").await;
    alone(other.clone(), "stale-other").await;
    alone(store.clone(), "stale-2").await;
    // And a transaction of the general kind, which reads the head after another's write.
    alone(other.clone(), "stale-other-2").await;
    let mut tx = store.begin().await.expect("begins");
    audit::append(&mut tx, record("stale-3")).await.expect("appends");
    store.commit(tx).await.expect("commits");

    for marker in ["stale-1", "stale-other", "stale-2", "stale-other-2", "stale-3"] {
        assert_eq!(records_of(&store, marker).await, 1, "{marker} written once");
    }
    let verified = audit_upkeep::verify_live(&app.ctx, &[]).await.expect("database readable");
    assert!(verified.is_ok(), "one chain: {verified:?}");
}

/// A transaction dropped before anything of it reached the database (its opening still in its
/// batch) leaves the writer as it found it, inside a group or opening one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_before_its_first_hand_off_leaves_nothing_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = fresh_store(&dir).await;
    drop(store.begin().await.expect("begins"));
    let mut tx = store.begin().await.expect("the writer is free");
    audit::append(&mut tx, record("unsent-after")).await.expect("appends");
    let joiner = {
        let store = store.clone();
        tokio::spawn(async move {
            // Queued behind `tx`, it joins its group and is dropped unsent.
            drop(store.begin().await.expect("begins"));
        })
    };
    until_queued(&store, 1).await;
    store.commit(tx).await.expect("commits");
    joiner.await.expect("ran");
    let mut last = store.begin().await.expect("the writer is free again");
    audit::append(&mut last, record("unsent-last")).await.expect("appends");
    store.commit(last).await.expect("commits");
    assert_eq!(records_of(&store, "unsent-after").await, 1);
    assert_eq!(records_of(&store, "unsent-last").await, 1);
}

async fn fresh_store(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("writer.db").display());
    let store = Store::connect(&url, 2).await.expect("connects");
    store.migrate().await.expect("migrates");
    store
}
