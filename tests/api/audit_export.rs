//! Compliance export: role check, streaming, byte-identical repeats, CSV that parses back, offline
//! verification of an export, and a dishonest administrator caught by live verification.

use crate::helpers::{body, error_code, spawn_app, Db, TestApp};
use crate::on_both_backends;
use countersign::audit::checkpoint::Checkpoint;
use countersign::audit::export::{encode_page, parse_jsonl_line, read_csv, ExportFormat, Line};
use countersign::audit::record_hash;
use countersign::cli_audit::verify_file;
use countersign::service::audit_export::{sidecar_path, write_file};
use countersign::service::{format_ms, now_ms};
use countersign::store::audit::AuditRow;
use reqwest::StatusCode;

pub async fn compliance_session(app: &TestApp) -> String {
    let carol = app.add_approver("carol", "compliance", None).await;
    app.sign_in(&carol).await
}

pub async fn export(app: &TestApp, session: &str, query: &[(&str, &str)]) -> reqwest::Response {
    let url = format!("{}/v1/audit/export", app.address);
    app.client.get(url).bearer_auth(session).query(query).send().await.expect("sent")
}

/// Some history: three proposals, one cancelled.
async fn some_history(app: &TestApp) {
    for amount in ["10.00", "20.00", "30.00"] {
        app.propose_ok(amount).await;
    }
    let created = app.propose_ok("40.00").await;
    app.cancel(created["id"].as_str().expect("id"), "c").await;
}

fn parse_export(bytes: &[u8]) -> (Vec<AuditRow>, Vec<Checkpoint>) {
    let (mut rows, mut checkpoints) = (Vec::new(), Vec::new());
    for (i, line) in String::from_utf8(bytes.to_vec()).expect("utf-8").lines().enumerate() {
        match parse_jsonl_line(line, i + 1).expect("parses") {
            Line::Record(row) => rows.push(*row),
            Line::Checkpoint(checkpoint) => checkpoints.push(checkpoint),
        }
    }
    (rows, checkpoints)
}

async fn exports_are_for_compliance_only_repeatable_and_parse_back(db: Db) {
    let app = spawn_app(db).await;
    some_history(&app).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let not_compliance = app.sign_in(&alice).await;
    let (status, error) = body(export(&app, &not_compliance, &[]).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::FORBIDDEN, "not_compliance"));
    assert_eq!(export(&app, "css_nonsense", &[]).await.status(), StatusCode::UNAUTHORIZED);

    let session = compliance_session(&app).await;
    let (status, error) = body(export(&app, &session, &[("format", "xml")]).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::BAD_REQUEST, "invalid_format"));
    let to = format_ms(now_ms() + 1);
    let range = [("from", "2000-01-01T00:00:00Z"), ("to", to.as_str())];

    let first = export(&app, &session, &[range[0], range[1], ("format", "jsonl")]).await;
    assert_eq!(first.status(), StatusCode::OK);
    let header = |name: &str| first.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (seq_header, signature_header) =
        (header("countersign-checkpoint-seq"), header("countersign-checkpoint-signature"));
    let jsonl = first.bytes().await.expect("body");
    let again = export(&app, &session, &[range[0], range[1], ("format", "jsonl")]).await.bytes().await.expect("body");
    assert_eq!(jsonl, again, "a repeated export is byte-identical");
    let (rows, checkpoints) = parse_export(&jsonl);
    let stored: Vec<AuditRow> = app.audit_rows().await.into_iter().filter(|r| r.seq <= rows.len() as i64).collect();
    assert_eq!(rows, stored, "the export holds every record up to `to`, unchanged");
    assert_eq!(checkpoints.len(), 1);
    assert_eq!(Some(checkpoints[0].seq.to_string()), seq_header);
    assert_eq!(Some(checkpoints[0].signature.clone()), signature_header);
    assert_eq!(checkpoints[0].hash, rows[rows.len() - 1].hash, "the checkpoint signs the last exported record");

    let csv = export(&app, &session, &[range[0], range[1], ("format", "csv")]).await;
    assert_eq!(csv.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/csv; charset=utf-8"));
    let csv = csv.bytes().await.expect("body");
    let csv_again = export(&app, &session, &[range[0], range[1], ("format", "csv")]).await.bytes().await.expect("body");
    assert_eq!(csv, csv_again);
    let mut reader = csv::Reader::from_reader(csv.as_ref());
    let headers = reader.headers().expect("header row").clone();
    assert_eq!(headers.iter().take(3).collect::<Vec<_>>(), vec!["seq", "event_id", "occurred_at"]);
    assert!(reader.records().all(|r| r.is_ok_and(|r| r.len() == 25)));
    let parsed: Vec<AuditRow> = read_csv(csv.as_ref()).collect::<Result<_, _>>().expect("CSV parses back");
    assert_eq!(parsed, stored, "CSV parses back to the same records");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, &jsonl).expect("write");
    let pubkey = checkpoints[0].public_key.clone();
    let summary = verify_file(&file, &[], None, Some(&pubkey)).expect("readable").expect("verifies offline");
    assert_eq!((summary.records, summary.checkpoints_matched.clone()), (rows.len() as u64, vec![checkpoints[0].seq]));
    app.stop().await;
}

/// Writes `rows` (and `checkpoints`) as a JSON Lines export and verifies it offline.
fn verify_rows(rows: &[AuditRow], checkpoints: &[Checkpoint], previous: Option<&[u8]>) -> Result<(), i64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tampered.jsonl");
    std::fs::write(&file, encode_page(rows, ExportFormat::Jsonl, true).expect("encodes")).expect("write");
    let previous_file = dir.path().join("previous.jsonl");
    if let Some(bytes) = previous {
        std::fs::write(&previous_file, bytes).expect("write");
    }
    let key = checkpoints.first().map(|c| c.public_key.clone());
    let previous = previous.map(|_| previous_file.as_path());
    verify_file(&file, checkpoints, previous, key.as_deref()).expect("readable").map(|_| ()).map_err(|b| b.seq)
}

fn forged_after(rows: &[AuditRow], index: usize) -> AuditRow {
    let mut forged = rows[index].clone();
    forged.seq += 1;
    forged.fields.event_id = "ev_forged".into();
    forged.fields.outcome = "success".into();
    forged.prev_hash = rows[index].hash.clone();
    forged.hash = record_hash(forged.seq, &forged.fields, &forged.prev_hash);
    forged
}

fn rechain(rows: &mut [AuditRow], from: usize) {
    for i in from..rows.len() {
        rows[i].seq = rows[i - 1].seq + 1;
        rows[i].prev_hash = rows[i - 1].hash.clone();
        rows[i].hash = record_hash(rows[i].seq, &rows[i].fields, &rows[i].prev_hash);
    }
}

async fn tampering_with_an_export_names_the_first_bad_seq(db: Db) {
    let app = spawn_app(db).await;
    some_history(&app).await;
    let session = compliance_session(&app).await;
    let to = format_ms(now_ms() + 1);
    let original = export(&app, &session, &[("to", to.as_str())]).await.bytes().await.expect("body");
    let (rows, checkpoints) = parse_export(&original);
    assert!(rows.len() >= 10, "enough history: {}", rows.len());
    assert_eq!(verify_rows(&rows, &checkpoints, None), Ok(()));

    let mut changed = rows.clone();
    changed[4].fields.outcome = "declined_by_plaid".into();
    assert_eq!(verify_rows(&changed, &checkpoints, None), Err(5), "a changed field");

    let mut removed = rows.clone();
    removed.remove(4);
    assert_eq!(verify_rows(&removed, &checkpoints, None), Err(5), "a removed row");

    let mut swapped = rows.clone();
    swapped.swap(4, 5);
    assert_eq!(verify_rows(&swapped, &checkpoints, None), Err(5), "two rows swapped");

    let mut inserted = rows.clone();
    inserted.insert(5, forged_after(&rows, 4));
    assert_eq!(verify_rows(&inserted, &checkpoints, None), Err(6), "a forged row with a recomputed hash");

    // The forger recomputes every later hash too: the checkpoint signed before catches it, and a
    // previously verified export names the exact row.
    let mut rewritten = inserted.clone();
    rechain(&mut rewritten, 6);
    let signed = checkpoints[0].seq;
    assert_eq!(verify_rows(&rewritten, &checkpoints, None), Err(signed), "below a signed checkpoint");
    assert_eq!(verify_rows(&rewritten, &checkpoints, Some(&original)), Err(6), "against the previous export");
    app.stop().await;
}

/// A compliance officer signed in to the web form reads exports with the session cookie; the
/// cookie is not accepted for anything that changes state.
async fn the_web_session_cookie_reads_exports_but_cannot_decide(db: Db) {
    let app = spawn_app(db).await;
    let carol = app.add_approver("carol", "compliance", None).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("20.00").await;
    let carol_session = app.sign_in(&carol).await;
    let export = app
        .client
        .get(format!("{}/v1/audit/export?format=jsonl", app.address))
        .header("Cookie", format!("countersign={carol_session}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(export.status(), reqwest::StatusCode::OK);
    assert!(export.text().await.expect("body").contains("transfer.proposed"));

    let alice_session = app.sign_in(&alice).await;
    let reject = app
        .client
        .post(format!("{}/v1/transfers/{}/reject", app.address, request["id"].as_str().expect("id")))
        .header("Cookie", format!("countersign={alice_session}"))
        .json(&serde_json::json!({"reason": "cookie-borne"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(reject.status(), reqwest::StatusCode::UNAUTHORIZED);
    let (_, still) = crate::helpers::body(app.get_request(request["id"].as_str().expect("id"), None).await).await;
    assert_eq!(still["state"], "pending_approval");
    app.stop().await;
}

/// The spec cannot say `from < to`, so a range with nothing in it is an empty export, not an error.
async fn an_empty_or_reversed_range_is_an_empty_export_not_an_error(db: Db) {
    let app = spawn_app(db).await;
    some_history(&app).await;
    let session = compliance_session(&app).await;
    let now = format_ms(now_ms());
    for (from, to) in [(now.as_str(), now.as_str()), (now.as_str(), "2000-01-01T00:00:00Z")] {
        let response = export(&app, &session, &[("from", from), ("to", to), ("format", "jsonl")]).await;
        assert_eq!(response.status(), StatusCode::OK, "{from}..{to}");
        let (rows, checkpoints) = parse_export(&response.bytes().await.expect("body"));
        assert!(rows.is_empty(), "{from}..{to}: {} rows", rows.len());
        assert!(checkpoints.is_empty(), "an export signs its last record, and this one has none");
    }
    app.stop().await;
}

on_both_backends!(
    an_empty_or_reversed_range_is_an_empty_export_not_an_error,
    the_web_session_cookie_reads_exports_but_cannot_decide,
    exports_are_for_compliance_only_repeatable_and_parse_back,
    tampering_with_an_export_names_the_first_bad_seq,
    an_export_cut_short_at_the_tail_fails_offline_verification
);

/// Writes `text` without its last `lines` lines, as `head -n -N` would.
fn cut_tail(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text.lines().collect();
    kept[..kept.len() - lines].iter().map(|l| format!("{l}\n")).collect()
}

async fn an_export_cut_short_at_the_tail_fails_offline_verification(db: Db) {
    let app = spawn_app(db).await;
    some_history(&app).await;
    let dir = tempfile::tempdir().expect("tempdir");
    for (format, name) in [(ExportFormat::Csv, "trail.csv"), (ExportFormat::Jsonl, "trail.jsonl")] {
        let file = dir.path().join(name);
        let plan = write_file(&app.ctx, 0, now_ms() + 1, format, &file).await.expect("exports");
        let pubkey = plan.checkpoint.as_ref().expect("a checkpoint").public_key.clone();
        let verify = |file: &std::path::Path| verify_file(file, &[], None, Some(&pubkey)).expect("readable");
        assert!(verify(&file).is_ok(), "{name}: the untouched export verifies");
        let whole = std::fs::read_to_string(&file).expect("read");
        for cut in [1, 2] {
            let short = dir.path().join(format!("short{cut}-{name}"));
            std::fs::write(&short, cut_tail(&whole, cut)).expect("write");
            std::fs::copy(sidecar_path(&file), sidecar_path(&short)).expect("copy the checkpoint file");
            let broken = verify(&short).expect_err(&format!("{name} without its last {cut} line(s)"));
            assert!(broken.reason.contains("cut"), "{name}, {cut}: {broken}");
        }
    }
    app.stop().await;
}
