//! `/ui`: the requests waiting for this approver, soonest expiry first.

use super::format::{clock, time_left};
use super::session::{FlashQuery, UiSession};
use super::{render, Chrome, UiError};
use crate::service::{now_ms, review, Context};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

pub struct Row {
    id: String,
    headline: String,
    account: String,
    tier: i64,
    approvals: String,
    time_left: String,
    closes_at: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    chrome: Chrome,
    rows: Vec<Row>,
}

pub async fn page(
    State(ctx): State<Context>,
    session: UiSession,
    Query(query): Query<FlashQuery>,
) -> Result<Response, UiError> {
    let now = now_ms();
    let rows = review::inbox(&ctx, &session.who)
        .await?
        .into_iter()
        .filter(|row| row.expires_at_ms > now)
        .map(|row| Row {
            headline: format!(
                "{} {}",
                if row.direction == "credit" { "Credit" } else { "Debit" },
                row.amount.to_human()
            ),
            account: format!("{} at {}", row.label.account, row.label.institution),
            tier: row.tier,
            approvals: format!("{} of {}", row.approvals, row.approvals_required),
            time_left: time_left(row.expires_at_ms, now),
            closes_at: clock(row.expires_at_ms),
            reason: row.reason,
            id: row.id,
        })
        .collect();
    render(&InboxPage { chrome: session.chrome("Inbox", query.m.as_deref()), rows })
}
