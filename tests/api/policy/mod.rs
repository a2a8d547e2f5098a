//! The risk policy end to end (issue 14): windows that splitting cannot dodge (also under
//! concurrency and across replicas), first-transfer flags, approver groups, deny before Plaid,
//! tier 1 and the Digest, reload, shadow differences and the backtest.

mod cli;
mod lifecycle;
mod tiers;

use crate::helpers::{spawn_app_with, Db, Options, TestApp};
use countersign::domain::Policy;
use serde_json::Value;

/// An app running `source` as its policy file (so reload has a file to re-read).
pub async fn app_with_policy(db: Db, source: &str) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, source).expect("policy written");
    let app = spawn_app_with(db, Options { policy_file: Some(file), ..Options::default() }).await;
    (app, dir)
}

pub fn policy(source: &str) -> Policy {
    Policy::from_toml(source).expect("test policy parses")
}

pub fn tier_of(request: &Value) -> i64 {
    request["tier"].as_i64().expect("tier")
}
