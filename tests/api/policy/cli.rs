//! The policy file on the command line and at start: the real binary, its exit status and output.

use crate::helpers::{spawn_app, Db};
use crate::on_both_backends;
use std::process::Command;

const INVALID: &str = "label = \"x\"\n[[rule]]\nname = \"free\"\nthen.tier = 0\n";

fn countersign(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_countersign"));
    command.env_clear().env("COUNTERSIGN_DATA_DIR", dir.join("data")).env("RUST_BACKTRACE", "0");
    command
}

#[test]
fn policy_check_names_the_line_and_column_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, INVALID).expect("write");
    let output = countersign(dir.path()).args(["policy", "check"]).arg(&file).output().expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 4, column 13") && stderr.contains("tier 0"), "{stderr}");

    std::fs::write(&file, countersign::domain::policy::EXAMPLE).expect("write");
    let output = countersign(dir.path()).args(["policy", "check"]).arg(&file).output().expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let version = countersign::domain::Policy::from_toml(countersign::domain::policy::EXAMPLE).expect("valid").version;
    assert!(String::from_utf8_lossy(&output.stdout).contains(&version));
}

#[test]
fn policy_check_validates_read_tiers_and_prints_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, "label = \"x\"\n[reads]\ntiers = { identity = 2, auth = 3 }\n").expect("write");
    let output = countersign(dir.path()).args(["policy", "check"]).arg(&file).output().expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3, column 32") && stderr.contains("reads.tiers.auth"), "{stderr}");

    std::fs::write(&file, "[reads.tiers]\nidentity = 2\nbogus = 1\n").expect("write");
    let output = countersign(dir.path()).args(["policy", "check"]).arg(&file).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("line 3, column 1") && stderr.contains("bogus"), "{stderr}");

    std::fs::write(&file, "[reads]\nper_agent_per_minute = 30\ntiers = { identity = 2 }\n").expect("write");
    let output = countersign(dir.path()).args(["policy", "check"]).arg(&file).output().expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("identity 2, auth 1; 30 per agent per minute"), "{stdout}");
}

/// `countersign serve` with `variable` pointing at a file holding `content`: it must refuse to
/// start; returns what it said.
fn refused_start(dir: &std::path::Path, variable: &str, content: &str) -> String {
    let file = dir.join("settings.toml");
    std::fs::write(&file, content).expect("write");
    let output = countersign(dir)
        .env(variable, &file)
        .env("COUNTERSIGN_BIND", "127.0.0.1:0")
        .arg("serve")
        .output()
        .expect("runs");
    assert!(!output.status.success(), "it must not start with {variable}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_removed_reads_file_setting_is_refused_with_where_its_table_went() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Identity must not silently fall back to tier 1.
    let stderr = refused_start(dir.path(), "COUNTERSIGN_READS_FILE", "[reads.tiers]\nidentity = 2\n");
    assert!(stderr.contains("COUNTERSIGN_READS_FILE is no longer read") && stderr.contains("[reads]"), "{stderr}");
}

#[test]
fn the_service_refuses_to_start_on_an_invalid_policy_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr = refused_start(dir.path(), "COUNTERSIGN_POLICY_FILE", INVALID);
    assert!(stderr.contains("line 4, column 13"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing was created before the refusal");
}

async fn policy_backtest_prints_what_a_candidate_would_change_on_the_stored_history(db: Db) {
    let app = spawn_app(db).await;
    for amount in ["100.00", "2000.00", "12000.00"] {
        app.propose_ok(amount).await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("candidate.toml");
    std::fs::write(
        &file,
        "label = \"stricter\"\n[[rule]]\nname = \"big\"\nwhen.amount_at_least = \"1000.00\"\nthen.tier = 3\n",
    )
    .expect("write");
    let output = countersign(dir.path())
        .env("DATABASE_URL", app.database_url())
        .args(["policy", "backtest"])
        .arg(&file)
        .args(["--since", "1d"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("3 requests replayed"), "{stdout}");
    assert!(stdout.contains("tier up: 1, tier down: 0, newly denied: 0"), "{stdout}");
    assert!(stdout.contains("candidate: stricter ("), "{stdout}");
    app.stop().await;
}

on_both_backends!(policy_backtest_prints_what_a_candidate_would_change_on_the_stored_history);
