//! The migration that makes usernames one name: existing approvers are backfilled, and two
//! existing names that differ only by case stop the migration instead of being merged silently.

use crate::helpers::{database_url, Db};
use crate::on_both_backends;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};

/// Every migration, or only those before the username one.
fn migrator(db: Db, before_usernames: bool) -> Migrator {
    let (mut migrator, first_new) = match db {
        Db::Sqlite => (sqlx::migrate!("migrations/sqlite"), 14),
        Db::Postgres => (sqlx::migrate!("migrations/postgres"), 13),
    };
    if before_usernames {
        let kept: Vec<_> = migrator.migrations.iter().filter(|m| m.version < first_new).cloned().collect();
        migrator.migrations = kept.into();
    }
    migrator
}

/// A database migrated up to just before usernames were normalized, holding these approvers.
async fn existing_approvers(db: Db, dir: &std::path::Path, names: &[&str]) -> AnyPool {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&database_url(db, dir).await).await.expect("connect");
    migrator(db, true).run(&pool).await.expect("earlier migrations");
    for (i, name) in names.iter().enumerate() {
        sqlx::query(
            "INSERT INTO approvers (id, username, password_hash, totp_secret_enc, last_totp_step, failed_attempts, \
             locked_until, roles, all_items, created_at) VALUES ($1, $2, 'x', 'x', 0, 0, 0, 'approver', 1, 0)",
        )
        .bind(format!("ap_{i}"))
        .bind(*name)
        .execute(&pool)
        .await
        .expect("approver");
    }
    pool
}

async fn existing_usernames_are_backfilled_and_case_twins_stop_the_migration(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let first_dir = dir.path().join("a");
    std::fs::create_dir_all(&first_dir).expect("dir");
    let pool = existing_approvers(db, &first_dir, &["Dan", "ann.o-brien@corp"]).await;
    migrator(db, false).run(&pool).await.expect("the username migration");
    let rows =
        sqlx::query("SELECT username_normalized FROM approvers ORDER BY id").fetch_all(&pool).await.expect("rows");
    let normalized: Vec<String> = rows.iter().map(|r| r.get("username_normalized")).collect();
    assert_eq!(normalized, ["dan", "ann.o-brien@corp"]);
    pool.close().await;

    let twins_dir = dir.path().join("b");
    std::fs::create_dir_all(&twins_dir).expect("dir");
    let pool = existing_approvers(db, &twins_dir, &["Dan", "dan"]).await;
    assert!(migrator(db, false).run(&pool).await.is_err(), "two approvers who are now one name are not merged");
    pool.close().await;
}

on_both_backends!(existing_usernames_are_backfilled_and_case_twins_stop_the_migration);
