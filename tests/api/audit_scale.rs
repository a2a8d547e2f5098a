//! 100,000 records: `countersign audit verify` checks them all, and `countersign audit export`
//! streams them in flat memory. Both run as the real binary, so memory is measured on a process
//! that does nothing else: its peak resident set (VmHWM) exporting 100,000 records is compared
//! with exporting 1,000. A server or CLI that built the export in memory would grow by the size
//! of the file (tens of MB); a streaming one stays within a page or two.

use crate::helpers::{database_url, Db};
use countersign::audit::{record_hash, AuditFields, GENESIS_HASH};
use countersign::crypto::MasterKey;
use countersign::store::Store;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const RECORDS: i64 = 100_000;
const BATCH: i64 = 1_000;

/// Appends `RECORDS` chained records in bulk (the same hashes `audit::append` computes).
async fn fill(store: &Store) {
    let mut prev = GENESIS_HASH.to_owned();
    let mut tx = store.begin().await.expect("tx");
    for start in (1..=RECORDS).step_by(BATCH as usize) {
        let mut sql = String::from(
            "INSERT INTO audit_events (seq, event_id, occurred_at, event_type, account_id, outcome, prev_hash, hash) VALUES ",
        );
        let mut rows = Vec::new();
        for seq in start..start + BATCH {
            let fields = AuditFields {
                event_id: format!("ev_{seq:08}"),
                occurred_at: 1_700_000_000_000 + seq * 10,
                event_type: "transfer.proposed".into(),
                account_id: Some("••99vp".into()),
                outcome: "success".into(),
                ..AuditFields::default()
            };
            let hash = record_hash(seq, &fields, &prev);
            let n = rows.len() * 8;
            if !rows.is_empty() {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7,
                n + 8
            ));
            rows.push((seq, fields, prev.clone(), hash.clone()));
            prev = hash;
        }
        let mut query = sqlx::query(&sql);
        for (seq, fields, prev_hash, hash) in rows {
            query = query
                .bind(seq)
                .bind(fields.event_id)
                .bind(fields.occurred_at)
                .bind(fields.event_type)
                .bind(fields.account_id)
                .bind(fields.outcome)
                .bind(prev_hash)
                .bind(hash);
        }
        query.execute(tx.conn().await.expect("connection")).await.expect("bulk insert");
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(RECORDS)
        .bind(&prev)
        .execute(tx.conn().await.expect("connection"))
        .await
        .expect("head");
    store.commit(tx).await.expect("commit");
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    peak_kib: u64,
}

/// Runs the binary, sampling its peak resident set size until it exits.
async fn countersign(dir: &Path, url: &str, key: &str, args: &[&str]) -> Run {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("COUNTERSIGN_DATA_DIR", dir)
        .env("COUNTERSIGN_MASTER_KEY", key)
        .env("PLAID_ENV", "sim")
        .env("PLAID_BASE_URL", "http://127.0.0.1:9")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let status_file = format!("/proc/{}/status", child.id().expect("pid"));
    let mut peak_kib = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "countersign {args:?} did not finish");
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).map(|v| v.trim().trim_end_matches(" kB"));
            peak_kib = peak_kib.max(hwm.and_then(|v| v.trim().parse().ok()).unwrap_or(0));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let output = child.wait_with_output().await.expect("output");
    Run {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
        peak_kib,
    }
}

async fn a_hundred_thousand_records_verify_and_export_in_flat_memory(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database_url(db, dir.path()).await;
    let store = Store::connect(&url, 2).await.expect("connects");
    store.migrate().await.expect("migrates");
    let started = Instant::now();
    fill(&store).await;
    println!("{db:?}: inserted {RECORDS} records in {:?}", started.elapsed());
    store.close().await;
    let key = MasterKey::generate_base64();

    let verified = countersign(dir.path(), &url, &key, &["audit", "verify"]).await;
    assert!(verified.ok, "{}{}", verified.stdout, verified.stderr);
    assert!(verified.stdout.contains(&format!("OK: {RECORDS} records verified")), "{}", verified.stdout);
    println!("{db:?}: live verify of {RECORDS} records took {:?}", verified.elapsed);

    let small = dir.path().join("small.jsonl");
    let small_to = countersign::domain::timestamp::format_audit_time(1_700_000_000_000 + 1_000 * 10 + 1);
    let args = ["audit", "export", "--to", &small_to, "--out", small.to_str().expect("path")];
    let small_run = countersign(dir.path(), &url, &key, &args).await;
    assert!(small_run.ok, "{}", small_run.stderr);
    let all = dir.path().join("all.jsonl");
    let all_run = countersign(dir.path(), &url, &key, &["audit", "export", "--out", all.to_str().expect("path")]).await;
    assert!(all_run.ok, "{}", all_run.stderr);
    let size = std::fs::metadata(&all).expect("export").len();
    println!(
        "{db:?}: export of 1,000 records peaked at {} KiB, of {RECORDS} ({} MB) at {} KiB, in {:?}",
        small_run.peak_kib,
        size / 1_000_000,
        all_run.peak_kib,
        all_run.elapsed
    );
    assert!(size > 40_000_000, "the export holds every record: {size} bytes");
    assert!(
        all_run.peak_kib < small_run.peak_kib + 16 * 1024,
        "memory grew with the export: {} KiB vs {} KiB",
        all_run.peak_kib,
        small_run.peak_kib
    );

    let pubkey = countersign(dir.path(), &url, &key, &["audit", "pubkey"]).await.stdout.trim().to_owned();
    let offline = countersign(
        dir.path(),
        &url,
        &key,
        &["audit", "verify", "--file", all.to_str().expect("path"), "--pubkey", &pubkey],
    )
    .await;
    assert!(offline.ok, "{}{}", offline.stdout, offline.stderr);
    // The first export's own `audit.exported` record is in the second export too.
    let exported = RECORDS + 1;
    assert!(offline.stdout.contains(&format!("OK: {exported} records verified")), "{}", offline.stdout);
    println!("{db:?}: offline verify of the export took {:?}", offline.elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_records_verify_and_export_in_flat_memory_on_sqlite() {
    a_hundred_thousand_records_verify_and_export_in_flat_memory(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_records_verify_and_export_in_flat_memory_on_postgres() {
    a_hundred_thousand_records_verify_and_export_in_flat_memory(Db::Postgres).await
}
