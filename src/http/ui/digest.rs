//! `/ui/digest`: tier-1 transfers to acknowledge or flag (CSRF token and idempotency key in
//! every form, POST then 303, like the decision forms).

use super::format::{date_time, state_words};
use super::messages::code_of;
use super::request::request_id;
use super::session::UiSession;
use super::{new_form_key, render, see_other, Chrome, UiError, UiForm};
use crate::service::digest::{self, DigestRow, Verdict};
use crate::service::form_keys::{self, Claim};
use crate::service::Context;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

pub struct Row {
    id: String,
    headline: String,
    account: String,
    state_words: &'static str,
    transfer_status: String,
    created: String,
    reasons: String,
    review: Option<String>,
    form_key: String,
}

impl From<&DigestRow> for Row {
    fn from(row: &DigestRow) -> Self {
        let r = &row.record;
        let direction =
            if r.intent.get("type").and_then(|v| v.as_str()) == Some("credit") { "Credit" } else { "Debit" };
        Row {
            id: r.id.to_string(),
            headline: format!("{direction} {}", row.amount.to_human()),
            account: format!("{} at {}", row.label.account, row.label.institution),
            state_words: state_words(r.state.as_str()),
            transfer_status: r.transfer_status.clone().unwrap_or_else(|| "—".into()),
            created: date_time(r.created_at),
            reasons: r.policy_reasons.join("; "),
            review: row.review.as_ref().map(|review| {
                format!("{} by {} on {}", review.verdict, review.approver_username, date_time(review.reviewed_at))
            }),
            form_key: new_form_key(),
        }
    }
}

#[derive(Template)]
#[template(path = "digest.html")]
struct DigestPage {
    chrome: Chrome,
    csrf: String,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    m: Option<String>,
}

pub async fn page(
    State(ctx): State<Context>,
    session: UiSession,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    let rows = digest::list(&ctx, &session.who).await?;
    render(&DigestPage {
        chrome: session.chrome("Digest", query.m.as_deref()),
        csrf: session.csrf.clone(),
        rows: rows.iter().map(Row::from).collect(),
    })
}

#[derive(Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    note: String,
}

pub async fn review(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
    UiForm(form): UiForm<ReviewForm>,
) -> Result<Response, UiError> {
    session.check_csrf(&form.csrf)?;
    let id = request_id(&id)?;
    let verdict = Verdict::parse(&form.verdict).ok_or_else(UiError::bad_form)?;
    let approver = &session.who.approver.id;
    match form_keys::claim(&ctx, approver, &form.idempotency_key).await? {
        Claim::Done(location) => return Ok(see_other(&location)),
        Claim::InFlight => return Ok(see_other("/ui/digest?m=in_progress")),
        Claim::Fresh => {}
    }
    let location = match digest::review(&ctx, &session.who, &id, verdict, &form.note).await {
        Ok(()) => format!("/ui/digest?m={}", verdict.as_str()),
        Err(error) => format!("/ui/digest?m={}", code_of(&error)),
    };
    form_keys::finish(&ctx, approver, &form.idempotency_key, &location).await?;
    Ok(see_other(&location))
}
