//! Batch approval: `GET /ui/batch?id=…&id=…` shows the selected requests and one summary
//! confirmation ("Approve 4 debits, $1,213.00 in total"); `POST /ui/batch` approves them one by
//! one through `service::batch` (each checked and audited on its own) and returns to the inbox
//! with how many were approved and refused. Only tier-2 requests below the step-up amount with
//! one approval needed may be batched; anything else selected is listed as left out.

use super::session::UiSession;
use super::{new_form_key, render, see_other, Chrome, UiError, UiForm};
use crate::domain::{Money, RequestId};
use crate::service::batch::{self, Shown};
use crate::service::form_keys::{self, Claim};
use crate::service::inbox::{self, InboxEntry};
use crate::service::Context;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Deserialize;

/// The most requests one batch decides.
const MAX: usize = 50;

pub struct Line {
    headline: String,
    counterparty: String,
    account: String,
    reason: String,
}

impl Line {
    fn from(entry: &InboxEntry) -> Self {
        Line {
            headline: entry.headline(),
            counterparty: entry.counterparty().to_owned(),
            account: format!("{} at {}", entry.label.account, entry.label.institution),
            reason: entry.reason_line().to_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "batch.html")]
struct BatchPage {
    chrome: Chrome,
    lines: Vec<Line>,
    left_out: Vec<Line>,
    summary: String,
    /// `id:payload_hash` pairs, comma-separated: what the approver is shown is what is approved.
    requests: String,
    csrf: String,
    form_key: String,
}

/// "4 debits", "1 debit and 2 credits".
pub fn count_words(debits: usize, credits: usize) -> String {
    let noun = |n: usize, one: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") };
    match (debits, credits) {
        (d, 0) => noun(d, "debit"),
        (0, c) => noun(c, "credit"),
        (d, c) => format!("{} and {}", noun(d, "debit"), noun(c, "credit")),
    }
}

/// The ids ticked on the inbox (`id` repeated; anything that is not a request id is ignored).
fn selected(query: Option<&str>) -> Vec<RequestId> {
    let mut ids: Vec<RequestId> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(name, _)| name == "id")
        .filter_map(|(_, value)| RequestId::parse(&value))
        .collect();
    ids.dedup();
    ids.truncate(MAX);
    ids
}

pub async fn confirm(
    State(ctx): State<Context>,
    session: UiSession,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let ids = selected(query.as_deref());
    let entries = inbox::inbox(&ctx, &session.who).await?;
    let (picked, left_out): (Vec<&InboxEntry>, Vec<&InboxEntry>) =
        entries.iter().filter(|e| ids.contains(&e.record.id)).partition(|e| e.batchable() && !e.approved_by_me);
    let debits = picked.iter().filter(|e| e.is_debit()).count();
    let total = Money::from_cents(picked.iter().map(|e| e.amount.cents()).sum()).unwrap_or(Money::ZERO);
    let summary = format!("Approve {}, {} in total", count_words(debits, picked.len() - debits), total.to_human());
    let requests = picked
        .iter()
        .map(|e| format!("{}:{}", e.record.id, e.record.payload_hash.as_deref().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",");
    render(&BatchPage {
        chrome: session.chrome("Batch approval", None),
        lines: picked.iter().map(|e| Line::from(e)).collect(),
        left_out: left_out.iter().map(|e| Line::from(e)).collect(),
        summary,
        requests,
        csrf: session.csrf.clone(),
        form_key: new_form_key(),
    })
}

#[derive(Deserialize)]
pub struct BatchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    requests: String,
}

fn shown(requests: &str) -> Vec<Shown> {
    requests
        .split(',')
        .filter_map(|pair| pair.split_once(':'))
        .filter_map(|(id, hash)| Some(Shown { id: RequestId::parse(id)?, payload_hash: hash.to_owned() }))
        .take(MAX)
        .collect()
}

pub async fn approve(
    State(ctx): State<Context>,
    session: UiSession,
    UiForm(form): UiForm<BatchForm>,
) -> Result<Response, UiError> {
    session.check_csrf(&form.csrf)?;
    let approver = &session.who.approver.id;
    match form_keys::claim(&ctx, approver, &form.idempotency_key).await? {
        Claim::Done(location) => return Ok(see_other(&location)),
        Claim::InFlight => return Ok(see_other("/ui?m=in_progress")),
        Claim::Fresh => {}
    }
    let decided = batch::approve_each(&ctx, &session.who, &shown(&form.requests)).await;
    let approved = decided.iter().filter(|d| d.outcome.is_ok()).count();
    for refused in decided.iter().filter_map(|d| d.outcome.as_ref().err().map(|e| (&d.id, e))) {
        tracing::info!(request = %refused.0, code = super::messages::code_of(refused.1), "batch approval refused one request");
    }
    let location = format!("/ui?m=batch_done&approved={approved}&refused={}", decided.len() - approved);
    form_keys::finish(&ctx, approver, &form.idempotency_key, &location).await?;
    Ok(see_other(&location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_debits_and_credits_in_words() {
        assert_eq!(count_words(4, 0), "4 debits");
        assert_eq!(count_words(1, 0), "1 debit");
        assert_eq!(count_words(0, 2), "2 credits");
        assert_eq!(count_words(1, 2), "1 debit and 2 credits");
    }
}
