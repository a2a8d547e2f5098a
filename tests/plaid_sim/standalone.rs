//! `countersign plaid-sim` as a stranger meets it: the real binary on port 0, its banner, the
//! credentials it was given, the key id it signs with and its `/sim` index.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The banner's value after `label` (e.g. "client_id: ").
fn after<'a>(banner: &'a str, label: &str) -> &'a str {
    let start = banner.find(label).unwrap_or_else(|| panic!("no {label:?} in {banner}")) + label.len();
    banner[start..].split_whitespace().next().unwrap()
}

#[tokio::test]
async fn plaid_sim_prints_the_credentials_it_was_given_its_key_id_and_where_its_controls_are() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(["plaid-sim", "--port", "0", "--client-id", "stranger-id", "--secret", "stranger-secret"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            banner.push_str(&line);
            banner.push('\n');
            if line.contains("test controls") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read).await.expect("no banner within 30 s");

    let base = after(&banner, "listening on ").to_owned();
    assert_eq!(after(&banner, "client_id: "), "stranger-id");
    assert_eq!(after(&banner, "secret: "), "stranger-secret");
    let kid = after(&banner, "key id: ");
    assert!(banner.contains(&format!("GET {base}/sim")), "{banner}");

    let http = reqwest::Client::new();
    let key_request = |client_id: &str, secret: &str| {
        http.post(format!("{base}/webhook_verification_key/get"))
            .header("PLAID-CLIENT-ID", client_id)
            .header("PLAID-SECRET", secret)
            .json(&json!({"key_id": kid}))
            .send()
    };
    let key: serde_json::Value = key_request("stranger-id", "stranger-secret").await.unwrap().json().await.unwrap();
    assert_eq!(key["key"]["kid"], kid);
    let defaults: serde_json::Value = key_request("sim-client-id", "sim-secret").await.unwrap().json().await.unwrap();
    assert_eq!(defaults["error_code"], "INVALID_API_KEYS");

    let index = http.get(format!("{base}/sim")).send().await.unwrap().text().await.unwrap();
    for control in ["/sim/calls", "/sim/faults", "/sim/accounts/balance", "/sim/items/fire_webhook", "/sim/paths"] {
        assert!(index.contains(control), "{control} missing from GET /sim:\n{index}");
    }
    child.kill().await.unwrap();
}
