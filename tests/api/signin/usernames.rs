//! A username is one name whatever its case or Unicode form: unique that way, found that way,
//! and compared that way by the owner check.

use crate::helpers::{body, error_code, spawn_app, Db, PASSWORD};
use crate::on_both_backends;
use countersign::error::Error;
use countersign::service::{approvers, registry};
use reqwest::StatusCode;

async fn usernames_are_unique_and_found_whatever_their_case_or_unicode_form(db: Db) {
    let app = spawn_app(db).await;
    let dan = app.add_approver("dan", "approver", None).await;
    for twin in ["Dan", "DAN", "\u{ff24}an"] {
        let refused =
            approvers::add_approver(&app.ctx.store, &app.ctx.master_key, twin, "approver", Some(PASSWORD), None).await;
        match refused {
            Err(Error::Client { status, code, message, .. }) => {
                assert_eq!((status, code), (StatusCode::CONFLICT, "approver_exists"), "{twin}");
                assert!(message.contains("already exists"), "{message}");
            }
            other => panic!("{twin:?} was not refused: {:?}", other.map(|e| e.id)),
        }
    }
    let code = dan.next_code().await;
    let (status, value) = body(app.sign_in_as(&app.address, "DAN", &dan.password, &code).await).await;
    assert_eq!(status, StatusCode::CREATED, "{value}");
    app.stop().await;
}

async fn an_agents_owner_cannot_approve_it_under_another_case(db: Db) {
    let app = spawn_app(db).await;
    let dan = app.add_approver("dan", "approver", None).await;
    let agent = registry::add_agent(&app.ctx.store, "dans-agent", "Dan", None).await.expect("agent");
    let request = app.propose_with(&agent.api_key, "key-1", &app.proposal("20.00")).await;
    let (status, request) = body(request).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let session = app.sign_in(&dan).await;
    let id = request["id"].as_str().expect("id");
    let hash = request["payload_hash"].as_str().expect("hash");
    let (status, error) = body(app.request_token(&session, id, hash, None).await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::FORBIDDEN, "owner_cannot_approve"));
    app.stop().await;
}

async fn a_name_no_approver_can_have_is_simply_unknown(db: Db) {
    let app = spawn_app(db).await;
    let ann = app.add_approver("ann", "approver", None).await;
    // Control characters are refused at the edge for every name alike (422), before any lookup.
    for name in ["ann\u{0}", "ann\u{7}"] {
        let (status, error) = body(app.sign_in_as(&app.address, name, &ann.password, "123456").await).await;
        assert_eq!((status, error_code(&error)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters"), "{name:?}");
    }
    let long = "a".repeat(10_000);
    let (status, error) = body(app.sign_in_as(&app.address, &long, &ann.password, "123456").await).await;
    assert_eq!((status, error_code(&error)), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    app.stop().await;
}

on_both_backends!(
    a_name_no_approver_can_have_is_simply_unknown,
    usernames_are_unique_and_found_whatever_their_case_or_unicode_form,
    an_agents_owner_cannot_approve_it_under_another_case,
);
