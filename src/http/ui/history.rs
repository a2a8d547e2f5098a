//! `/ui/history`: decided requests with outcome and transfer status, filterable by state (plain
//! links, no form); `/ui/history/{id}`: one request's audit trail.

use super::format::{date_time, state_words};
use super::request::request_id;
use super::session::UiSession;
use super::{render, Chrome, UiError};
use crate::domain::RequestState;
use crate::service::history::{self, HistoryRow, DECIDED};
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
    updated: String,
}

impl From<&HistoryRow> for Row {
    fn from(row: &HistoryRow) -> Self {
        let r = &row.record;
        let direction =
            if r.intent.get("type").and_then(|v| v.as_str()) == Some("credit") { "Credit" } else { "Debit" };
        Row {
            id: r.id.to_string(),
            headline: format!("{direction} {}", row.amount.to_human()),
            account: format!("{} at {}", row.label.account, row.label.institution),
            state_words: state_words(r.state.as_str()),
            transfer_status: r.transfer_status.clone().unwrap_or_else(|| "—".into()),
            updated: date_time(r.updated_at),
        }
    }
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    chrome: Chrome,
    rows: Vec<Row>,
    filters: Vec<(&'static str, &'static str, bool)>,
    all_selected: bool,
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    state: Option<String>,
}

pub async fn page(
    State(ctx): State<Context>,
    session: UiSession,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, UiError> {
    let state = query.state.as_deref().and_then(RequestState::parse);
    let rows = history::history(&ctx, &session.who, state).await?;
    let filters = DECIDED.iter().map(|s| (s.as_str(), state_words(s.as_str()), Some(*s) == state)).collect();
    render(&HistoryPage {
        chrome: session.chrome("History", None),
        rows: rows.iter().map(Row::from).collect(),
        filters,
        all_selected: state.is_none(),
    })
}

pub struct TrailRow {
    seq: i64,
    at: String,
    event: String,
    outcome: String,
    approver: String,
    error: String,
    hash: String,
}

#[derive(Template)]
#[template(path = "trail.html")]
struct TrailPage {
    chrome: Chrome,
    request: Row,
    rows: Vec<TrailRow>,
}

pub async fn trail(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id = request_id(&id)?;
    let (request, rows) = history::trail(&ctx, &session.who, &id).await?;
    let rows = rows
        .into_iter()
        .map(|row| TrailRow {
            seq: row.seq,
            at: date_time(row.fields.occurred_at),
            event: row.fields.event_type,
            outcome: row.fields.outcome,
            approver: row.fields.approver_id.unwrap_or_default(),
            error: row.fields.error_code.unwrap_or_default(),
            hash: row.hash.chars().take(12).collect(),
        })
        .collect();
    render(&TrailPage { chrome: session.chrome("Audit trail", None), request: Row::from(&request), rows })
}
