//! Inbound Plaid webhooks: verified exactly as Plaid documents, or refused with 401 and nothing
//! changed; a verified TRANSFER_EVENTS_UPDATE makes the service sync at once.

use crate::helpers::{body, spawn_app, spawn_app_with, unix_now, Db, Options, TestApp};
use crate::on_both_backends;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use countersign::plaid::webhook_verify;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A webhook body as Plaid sends it: pretty-printed with two-space indentation.
fn events_update() -> Vec<u8> {
    let body = json!({"webhook_type": "TRANSFER", "webhook_code": "TRANSFER_EVENTS_UPDATE", "environment": "sandbox"});
    serde_json::to_vec_pretty(&body).expect("json")
}

async fn deliver(app: &TestApp, header: Option<&str>, payload: &[u8]) -> (StatusCode, Value) {
    deliver_to(app, &app.address, header, payload).await
}

async fn deliver_to(app: &TestApp, base: &str, header: Option<&str>, payload: &[u8]) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(format!("{base}/webhooks/plaid"))
        .header("content-type", "application/json")
        .body(payload.to_vec());
    if let Some(header) = header {
        request = request.header("Plaid-Verification", header);
    }
    body(request.send().await.expect("delivered")).await
}

/// A compact JWS with any header, claims and signing function.
fn jws(header: Value, claims: Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn claims_for(payload: &[u8], iat: i64) -> Value {
    json!({"iat": iat, "request_body_sha256": hex::encode(Sha256::digest(payload))})
}

fn es256_with_another_key(input: &[u8]) -> Vec<u8> {
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let signature: Signature = key.sign(input);
    signature.to_bytes().to_vec()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    body(app.get_request(id, None).await).await.1["transfer_status"].as_str().unwrap_or_default().to_owned()
}

/// A submitted transfer that Plaid has posted, which only a sync can tell the service.
async fn posted_but_not_synced(app: &TestApp) -> String {
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("21.00").await;
    let (_, done) = app.approve_as(&alice, &request).await;
    let id = done["id"].as_str().expect("id").to_owned();
    let simulate = json!({"client_id": "sim-client-id", "secret": "sim-secret",
        "transfer_id": done["transfer_id"], "event_type": "posted"});
    app.sim_post("/sandbox/transfer/simulate", simulate).await;
    id
}

async fn forged_deliveries_are_refused_and_change_nothing(db: Db) {
    // No poll: only a verified webhook can make the service look.
    let options = Options { event_sync_interval: Duration::from_secs(3600), ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let id = posted_but_not_synced(&app).await;
    let payload = events_update();
    let now = i64::try_from(unix_now()).expect("now");
    let kid = app.simulator.webhook_kid();

    let header = json!({"alg": "ES256", "kid": kid, "typ": "JWT"});
    let mut changed_byte = payload.clone();
    changed_byte[5] ^= 0x01;
    let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(&payload).expect("json")).expect("json");
    let forgeries: Vec<(&str, Option<String>, Vec<u8>)> = vec![
        ("no header", None, payload.clone()),
        (
            "another key's signature",
            Some(jws(header.clone(), claims_for(&payload, now), es256_with_another_key)),
            payload.clone(),
        ),
        (
            "alg none",
            Some(jws(json!({"alg": "none", "kid": kid}), claims_for(&payload, now), |_| Vec::new())),
            payload.clone(),
        ),
        (
            "HS256 keyed with the public key id",
            Some(jws(json!({"alg": "HS256", "kid": kid, "typ": "JWT"}), claims_for(&payload, now), |input| {
                use hmac::Mac;
                let mut mac = hmac::Hmac::<Sha256>::new_from_slice(kid.as_bytes()).expect("key");
                mac.update(input);
                mac.finalize().into_bytes().to_vec()
            })),
            payload.clone(),
        ),
        (
            "an unknown kid",
            Some(jws(
                json!({"alg": "ES256", "kid": "kid-plaid-never-issued"}),
                claims_for(&payload, now),
                es256_with_another_key,
            )),
            payload.clone(),
        ),
        ("iat six minutes old", Some(app.simulator.sign_webhook(&payload, now - 360)), payload.clone()),
        ("one changed byte of the body", Some(app.simulator.sign_webhook(&payload, now)), changed_byte),
        ("a re-serialised body", Some(app.simulator.sign_webhook(&payload, now)), reserialised),
    ];
    let refused_before = refused_total(&app).await;
    for (what, header, bytes) in &forgeries {
        let (status, answer) = deliver(&app, header.as_deref(), bytes).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_webhook_signature", "{what}");
    }
    assert_eq!(refused_total(&app).await - refused_before, forgeries.len() as f64, "every refusal is counted");
    // Had any of them been acted on, the service would have synced by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status_of(&app, &id).await, "pending", "nothing changed");

    // The genuine delivery (the same bytes, Plaid's key, now) is acknowledged and acted on.
    let (status, answer) = deliver(&app, Some(&app.simulator.sign_webhook(&payload, now)), &payload).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"received": true})));
    app.eventually("synced after the webhook", || async { status_of(&app, &id).await == "posted" }).await;
    app.stop().await;
}

async fn refused_total(app: &TestApp) -> f64 {
    let text =
        app.client.get(format!("{}/metrics", app.address)).send().await.expect("metrics").text().await.expect("text");
    text.lines()
        .filter(|l| l.starts_with("countersign_plaid_webhooks_total{") && !l.contains("\"verified\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn the_simulator_delivers_plaids_own_webhook_and_a_repeat_changes_nothing(db: Db) {
    let options = Options { event_sync_interval: Duration::from_secs(3600), ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let id = posted_but_not_synced(&app).await;
    let url = format!("{}/webhooks/plaid", app.address);
    let fire = json!({"client_id": "sim-client-id", "secret": "sim-secret", "webhook": url});
    app.sim_post("/sandbox/transfer/fire_webhook", fire.clone()).await;
    app.eventually("synced after Plaid's webhook", || async { status_of(&app, &id).await == "posted" }).await;
    let audited = app.audit_events_for(&id).await;
    app.sim_post("/sandbox/transfer/fire_webhook", fire).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.audit_events_for(&id).await, audited, "a repeated delivery changes nothing");
    app.stop().await;
}

/// An ITEM webhook as Plaid sends it, signed with the simulator's (Plaid's) key.
async fn deliver_item_webhook(app: &TestApp, base: &str, code: &str, error_code: Option<&str>) {
    let now = i64::try_from(unix_now()).expect("now");
    deliver_item_webhook_signed_at(app, base, code, error_code, now).await;
}

/// An ITEM webhook as Plaid signed it at `iat` (a delivery Plaid retried or that was held up).
async fn deliver_item_webhook_signed_at(app: &TestApp, base: &str, code: &str, error_code: Option<&str>, iat: i64) {
    let plaid_item_id: String = sqlx::query_scalar("SELECT plaid_item_id FROM items WHERE id = $1")
        .bind(app.item_id.as_str())
        .fetch_one(app.ctx.store.reader())
        .await
        .expect("item");
    let mut webhook =
        json!({"webhook_type": "ITEM", "webhook_code": code, "item_id": plaid_item_id, "environment": "sandbox"});
    if let Some(error_code) = error_code {
        webhook["error"] = json!({"error_type": "ITEM_ERROR", "error_code": error_code, "error_message": "the login details of this item have changed"});
    }
    let payload = serde_json::to_vec_pretty(&webhook).expect("json");
    let header = app.simulator.sign_webhook(&payload, iat);
    let (status, _) = deliver_to(app, base, Some(&header), &payload).await;
    assert_eq!(status, StatusCode::OK);
}

async fn item_health(app: &TestApp) -> (String, Option<String>) {
    let (_, items) = body(
        app.client.get(format!("{}/v1/items", app.address)).bearer_auth(&app.api_key).send().await.expect("items"),
    )
    .await;
    let item = &items["items"][0];
    (item["health"].as_str().unwrap_or_default().to_owned(), item["health_reason"].as_str().map(str::to_owned))
}

async fn item_webhooks_set_health_and_login_repaired_resumes_waiting_requests_once(db: Db) {
    let app = spawn_app_with(db, Options::default()).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("21.00").await;
    let id = request["id"].as_str().expect("id").to_owned();
    // The user's login breaks: creation answers ITEM_LOGIN_REQUIRED and the request waits.
    app.sim_post(
        "/sandbox/item/reset_login",
        json!({"client_id": "sim-client-id", "secret": "sim-secret", "access_token": app.access_token}),
    )
    .await;
    let (_, waiting) = app.approve_as(&alice, &request).await;
    assert_eq!(waiting["state"], "reauth_required");

    deliver_item_webhook(&app, &app.address, "PENDING_EXPIRATION", None).await;
    app.eventually("pending expiration recorded", || async {
        item_health(&app).await == ("pending_expiration".into(), Some("PENDING_EXPIRATION".into()))
    })
    .await;
    deliver_item_webhook(&app, &app.address, "ERROR", Some("ITEM_LOGIN_REQUIRED")).await;
    app.eventually("login required recorded", || async {
        item_health(&app).await == ("login_required".into(), Some("ITEM_LOGIN_REQUIRED".into()))
    })
    .await;

    // The user re-links; Plaid says LOGIN_REPAIRED, twice (Plaid retries), and to two replicas.
    app.sim_post("/sim/items/repair", json!({"access_token": app.access_token})).await;
    let replica = app.spawn_replica().await;
    let (first, second) = tokio::join!(
        deliver_item_webhook(&app, &app.address, "LOGIN_REPAIRED", None),
        deliver_item_webhook(&app, &replica.address, "LOGIN_REPAIRED", None),
    );
    let ((), ()) = (first, second);
    app.eventually("resumed and submitted", || async {
        body(app.get_request(&id, None).await).await.1["state"] == "submitted"
    })
    .await;
    assert_eq!(item_health(&app).await.0, "healthy");
    assert_eq!(app.transfers_at_plaid().await, 1);
    let audited = app.audit_events_for(&id).await;
    assert_eq!(audited.iter().filter(|e| *e == "transfer.resumed_on_login_repaired").count(), 1, "{audited:?}");
    replica.stop().await;
    app.stop().await;
}

async fn the_embedded_simulator_tells_its_own_service_about_simulated_events(db: Db) {
    // Polling off: what arrives comes by the simulator's webhook to the service it runs in.
    let options =
        Options { embedded_simulator: true, event_sync_interval: Duration::from_secs(3600), ..Options::default() };
    let app = spawn_app_with(db, options).await;
    let id = posted_but_not_synced(&app).await;
    app.eventually("the simulated post reaches the service", || async { status_of(&app, &id).await == "posted" }).await;
    app.stop().await;
}

async fn a_broken_item_is_shown_before_anyone_approves_into_a_failure(db: Db) {
    let app = spawn_app_with(db, Options::default()).await;
    let alice = app.add_approver("alice", "approver", None).await;
    let request = app.propose_ok("21.00").await;
    let id = request["id"].as_str().expect("id");
    deliver_item_webhook(&app, &app.address, "ERROR", Some("ITEM_LOGIN_REQUIRED")).await;
    app.eventually("the agent sees the item's health", || async {
        body(app.get_request(id, None).await).await.1["item_health"] == "login_required"
    })
    .await;
    let browser = crate::ui::Browser::new(&app);
    browser.sign_in(&alice).await;
    let page = browser.get(&format!("/ui/requests/{id}")).await;
    assert!(
        page.html.contains("The bank connection needs attention: login required (ITEM_LOGIN_REQUIRED)"),
        "{}",
        page.html
    );
    app.stop().await;
}

/// Plaid may deliver out of order: an `ERROR` signed before a `LOGIN_REPAIRED` but delivered after
/// it must not mark the repaired item broken again. Health follows the order Plaid signed them
/// in, and is recorded before the delivery is acknowledged.
async fn an_item_webhook_delivered_after_a_newer_one_does_not_undo_it(db: Db) {
    let app = spawn_app(db).await;
    let now = i64::try_from(unix_now()).expect("now");
    deliver_item_webhook_signed_at(&app, &app.address, "LOGIN_REPAIRED", None, now).await;
    assert_eq!(item_health(&app).await, ("healthy".into(), Some("LOGIN_REPAIRED".into())), "recorded before the 200");
    deliver_item_webhook_signed_at(&app, &app.address, "ERROR", Some("ITEM_LOGIN_REQUIRED"), now - 30).await;
    assert_eq!(item_health(&app).await.0, "healthy", "the older ERROR arrived late and changes nothing");
    deliver_item_webhook_signed_at(&app, &app.address, "ERROR", Some("ITEM_LOGIN_REQUIRED"), now + 1).await;
    assert_eq!(item_health(&app).await.0, "login_required", "a newer ERROR does");
    let health_records = app.audit_rows().await.iter().filter(|r| r.fields.event_type == "item.health").count();
    assert_eq!(health_records, 2, "the stale delivery is not audited as a change");
    app.stop().await;
}

on_both_backends!(
    a_broken_item_is_shown_before_anyone_approves_into_a_failure,
    the_embedded_simulator_tells_its_own_service_about_simulated_events,
    forged_deliveries_are_refused_and_change_nothing,
    the_simulator_delivers_plaids_own_webhook_and_a_repeat_changes_nothing,
    item_webhooks_set_health_and_login_repaired_resumes_waiting_requests_once,
    a_cached_key_that_plaid_expires_later_is_refused_after_the_recheck,
    an_item_webhook_delivered_after_a_newer_one_does_not_undo_it,
);

/// A key Plaid marks expired after it was cached is refused once the cache checks it again (at
/// most an hour later), without a restart; a key never seen is fetched at once.
async fn a_cached_key_that_plaid_expires_later_is_refused_after_the_recheck(db: Db) {
    let app = spawn_app(db).await;
    let payload = events_update();
    let now = i64::try_from(unix_now()).expect("now");
    let verify = |at: i64| {
        let header = app.simulator.sign_webhook(&payload, at);
        let payload = payload.clone();
        let webhooks = app.ctx.webhooks.clone();
        async move { webhooks.verify(Some(&header), &payload, at).await.expect("Plaid reachable") }
    };
    assert!(verify(now).await.is_ok(), "fetched and cached");
    app.simulator.expire_webhook_key(now + 60);
    assert!(verify(now + 120).await.is_ok(), "the cached copy is still trusted within the hour");
    let later = now + webhook_verify::KEY_RECHECK_SECS + 1;
    assert_eq!(verify(later).await, Err(webhook_verify::Refusal::ExpiredKey), "read again, now expired");
    app.stop().await;
}
