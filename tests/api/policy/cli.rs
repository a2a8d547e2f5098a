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
fn the_service_refuses_to_start_on_an_invalid_policy_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, INVALID).expect("write");
    let output = countersign(dir.path())
        .env("COUNTERSIGN_POLICY_FILE", &file)
        .env("COUNTERSIGN_BIND", "127.0.0.1:0")
        .arg("serve")
        .output()
        .expect("runs");
    assert!(!output.status.success(), "it must not start");
    let stderr = String::from_utf8_lossy(&output.stderr);
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
