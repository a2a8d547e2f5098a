//! Safe destinations: with the defaults (https only, public addresses only) a private or plain-http
//! URL is refused when it is configured, with the reason; a destination that resolves privately by
//! the time of sending is refused then; redirects are never followed.

use super::callbacks::{call_back_to, outbox_counts};
use super::delivery::messages;
use super::receiver::{Answer, Receiver};
use crate::helpers::{spawn_app, spawn_app_with, test_outbound, Db, Options};
use crate::on_both_backends;
use countersign::notify::ssrf::DestinationPolicy;
use countersign::service::outbound;

fn strict() -> Options {
    let outbound = countersign::notify::Outbound { policy: DestinationPolicy::default(), ..test_outbound() };
    Options { outbound, ..Options::default() }
}

async fn private_and_plain_http_destinations_are_refused_when_configured(db: Db) {
    let app = spawn_app_with(db, strict()).await;
    app.add_approver("alice", "approver", None).await;
    for url in [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://100.64.1.1/hook",
    ] {
        let refused = outbound::set_callback(&app.ctx, "test-agent", Some(url)).await.expect_err(url);
        assert!(
            matches!(refused, countersign::error::Error::Client { code: "destination_refused", .. }),
            "{url}: {refused}"
        );
        assert!(refused.to_string().contains("loopback, private"), "{url}: {refused}");
        let cli = app.run_cli(&["agent", "set-callback", "--name", "test-agent", "--url", url]).await;
        assert!(cli.is_err(), "{url}");
        let slack = outbound::set_approver_channel(&app.ctx, "alice", "slack", Some(url)).await;
        assert!(slack.is_err(), "{url}");
    }
    let plain =
        outbound::set_callback(&app.ctx, "test-agent", Some("http://example.com/hook")).await.expect_err("http");
    assert!(plain.to_string().contains("https"), "{plain}");
    let created = app.run_cli(&["agent", "add", "--name", "bad", "--callback-url", "https://10.0.0.1/"]).await;
    assert!(created.is_err(), "a bad URL is refused before the agent is created");
    let agents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE name = 'bad'")
        .fetch_one(app.ctx.store.reader())
        .await
        .expect("count");
    assert_eq!(agents, 0);
    app.stop().await;
}

async fn a_destination_that_resolves_privately_at_sending_time_is_refused(db: Db) {
    let app = spawn_app_with(db, strict()).await;
    let receiver = Receiver::start().await;
    // As if DNS changed after the URL was checked: the name now resolves to loopback.
    let port = receiver.url.rsplit(':').next().expect("port").trim_end_matches("/hooks").to_owned();
    let url = format!("https://localhost:{port}/hooks");
    let secret = app.ctx.master_key.encrypt("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("sealed");
    sqlx::query("UPDATE agents SET callback_url = $1, callback_secret_enc = $2 WHERE name = 'test-agent'")
        .bind(&url)
        .bind(&secret)
        .execute(app.ctx.store.reader())
        .await
        .expect("set directly");
    app.propose_ok("21.00").await;
    app.eventually("an attempt", || async { messages(&app).await.first().is_some_and(|m| m.attempts > 0) }).await;
    let listed = messages(&app).await;
    let error = listed[0].last_error.clone().unwrap_or_default();
    assert!(error.starts_with("refused:") && error.contains("127.0.0.1"), "{error}");
    assert!(receiver.hits().is_empty(), "nothing reached the private address");
    app.stop().await;
}

async fn redirects_are_not_followed(db: Db) {
    let app = spawn_app(db).await;
    let receiver = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    call_back_to(&app, &receiver).await;
    let target: &'static str = Box::leak(elsewhere.url.clone().into_boxed_str());
    receiver.answer(&[Answer::Redirect(target)]);
    app.propose_ok("21.00").await;
    app.eventually("delivered on the retry", || async { outbox_counts(&app, "agent_callback").await == (1, 1) }).await;
    assert_eq!(receiver.hits().len(), 2, "the 302 counted as a failed attempt, then a retry");
    assert!(elsewhere.hits().is_empty(), "the redirect was not followed");
    app.stop().await;
}

on_both_backends!(
    private_and_plain_http_destinations_are_refused_when_configured,
    a_destination_that_resolves_privately_at_sending_time_is_refused,
    redirects_are_not_followed,
);
