//! `/ui/history`: decided requests with outcome and transfer status, filterable by state (plain
//! links, no form); `/ui/history/{id}`: one request's audit trail.

use super::format::{date_time, event_words, state_words};
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
    tier: i64,
    /// The version this one replaced (an approver's edit) or renewed, if any.
    edited_from: Option<String>,
    renewed_from: Option<String>,
    /// The version that replaced this one, filled in for superseded or renewed requests.
    replaced_by: Option<String>,
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
            tier: r.tier.number(),
            edited_from: r.supersedes.as_ref().map(ToString::to_string),
            renewed_from: r.renews.as_ref().map(ToString::to_string),
            replaced_by: None,
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
    /// Tier links: (tier, selected), and the state filter they keep.
    tiers: Vec<(i64, bool)>,
    all_tiers: bool,
    state_param: String,
    tier_param: String,
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    state: Option<String>,
    tier: Option<String>,
}

/// Fills in which version replaced a superseded or expired (renewed) request.
async fn with_successor(
    ctx: &Context,
    mut row: Row,
    record: &crate::store::requests::RequestRecord,
) -> Result<Row, UiError> {
    if matches!(record.state, RequestState::Superseded | RequestState::Expired) {
        row.replaced_by = history::replaced_by(ctx, &record.id).await?;
    }
    Ok(row)
}

pub async fn page(
    State(ctx): State<Context>,
    session: UiSession,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, UiError> {
    let state = query.state.as_deref().and_then(RequestState::parse);
    let tier = query.tier.as_deref().and_then(|t| t.parse::<i64>().ok()).filter(|t| (0..=3).contains(t));
    let found = history::history(&ctx, &session.who, state, tier).await?;
    let mut rows = Vec::with_capacity(found.len());
    for row in &found {
        rows.push(with_successor(&ctx, Row::from(row), &row.record).await?);
    }
    let filters = DECIDED.iter().map(|s| (s.as_str(), state_words(s.as_str()), Some(*s) == state)).collect();
    render(&HistoryPage {
        chrome: session.chrome("History", None),
        rows,
        filters,
        all_selected: state.is_none(),
        tiers: (1..=3).map(|t| (t, tier == Some(t))).collect(),
        all_tiers: tier.is_none(),
        state_param: state.map(|s| format!("state={}&", s.as_str())).unwrap_or_default(),
        tier_param: tier.map(|t| format!("&tier={t}")).unwrap_or_default(),
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
    let names = history::approver_names(&ctx, &rows).await?;
    let rows = rows
        .into_iter()
        .map(|row| TrailRow {
            seq: row.seq,
            at: date_time(row.fields.occurred_at),
            event: event_words(&row.fields.event_type),
            outcome: row.fields.outcome.replace('_', " "),
            approver: row.fields.approver_id.map(|id| names.get(&id).cloned().unwrap_or(id)).unwrap_or_default(),
            error: row.fields.error_code.unwrap_or_default(),
            hash: row.hash.chars().take(12).collect(),
        })
        .collect();
    let summary = with_successor(&ctx, Row::from(&request), &request.record).await?;
    render(&TrailPage { chrome: session.chrome("Audit trail", None), request: summary, rows })
}
