//! Email alerts through a real SMTP server (Python's aiosmtpd, started here) that requires
//! STARTTLS with a certificate made for the test: a plain-text and an HTML part, the amount, the
//! account's mask and the link, no legal name.

use super::receiver::python;
use crate::helpers::{spawn_app_with, test_outbound, Db, Options};
use crate::on_both_backends;
use countersign::notify::email::Smtp;
use countersign::service::outbound;
use serde_json::Value;
use std::process::Stdio;
use tokio::io::AsyncBufReadExt;

/// A self-signed certificate for `localhost` (not a CA: rustls refuses a CA as the server's own).
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("smtp.pem"), dir.join("smtp.key"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "a certificate was made");
    (cert, key)
}

async fn an_email_alert_arrives_over_starttls_with_text_and_html_parts(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = certificate(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let mailbox = dir.path().join("mail.jsonl");
    let root = env!("CARGO_MANIFEST_DIR");
    let mut server = tokio::process::Command::new(python())
        .arg(format!("{root}/tests/notify/smtp_sink.py"))
        .arg(port.to_string())
        .arg(&mailbox)
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("aiosmtpd starts");
    let mut ready = tokio::io::BufReader::new(server.stdout.take().expect("stdout")).lines();
    assert_eq!(ready.next_line().await.expect("line").as_deref(), Some("ready"));

    let smtp = Smtp {
        host: "localhost".into(),
        port,
        username: None,
        password: None,
        from: "Countersign <countersign@example.com>".into(),
        starttls: true,
        ca_file: Some(cert),
    };
    let outbound = countersign::notify::Outbound {
        smtp: Some(smtp),
        public_url: "https://countersign.example.com".into(),
        ..test_outbound()
    };
    let app = spawn_app_with(db, Options { outbound, ..Options::default() }).await;
    app.add_approver("alice", "approver", None).await;
    outbound::set_approver_channel(&app.ctx, "alice", "email", Some("alice@example.com")).await.expect("channel");
    let request = app.propose_ok("1500.00").await;
    let id = request["id"].as_str().expect("id");
    app.eventually("an email", || async { std::fs::read_to_string(&mailbox).is_ok_and(|t| !t.is_empty()) }).await;
    let text = std::fs::read_to_string(&mailbox).expect("mailbox");
    let mail: Value = serde_json::from_str(text.lines().next().expect("a message")).expect("json");
    assert_eq!(mail["tls"], true, "delivered after STARTTLS");
    assert_eq!(mail["to"], serde_json::json!(["alice@example.com"]));
    assert_eq!(mail["type"], "multipart/alternative");
    let (plain, html) =
        (mail["parts"]["text/plain"].as_str().expect("plain"), mail["parts"]["text/html"].as_str().expect("html"));
    assert!(plain.starts_with("Agent test-agent wants to debit $1,500.00 from Plaid Checking ••0000 — "), "{plain}");
    assert!(html.contains("<strong>Agent test-agent wants to debit $1,500.00"), "{html}");
    let link = format!("https://countersign.example.com/ui/requests/{id}");
    assert!(plain.contains(&link) && html.contains(&format!("href=\"{link}\"")), "{plain}\n{html}");
    let raw = mail["raw"].as_str().expect("raw");
    assert!(!raw.contains("Lovelace") && !raw.contains(&app.access_token), "{raw}");
    app.stop().await;
}

on_both_backends!(an_email_alert_arrives_over_starttls_with_text_and_html_parts);
