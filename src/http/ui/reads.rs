//! `/ui/reads`: "Recent sensitive reads" — the tier-1 Plaid reads (identity, auth by default)
//! agents made through the gateway, with agent, item, product, accounts, time and the agent's
//! stated reason, for approvers to review after the fact. Read-only; never any of the data read.

use super::format::date_time;
use super::session::UiSession;
use super::{render, Chrome, UiError};
use crate::service::{gateway, Context};
use askama::Template;
use axum::extract::State;
use axum::response::Response;

/// Rows shown: the page is a review queue of recent reads, not an archive (the audit export is).
const SHOWN: i64 = 200;

pub struct Row {
    when: String,
    agent: String,
    item: String,
    product: String,
    tier: i64,
    accounts: String,
    reason: String,
    unmasked: bool,
    outcome: String,
}

#[derive(Template)]
#[template(path = "reads.html")]
struct ReadsPage {
    chrome: Chrome,
    rows: Vec<Row>,
}

pub async fn page(State(ctx): State<Context>, session: UiSession) -> Result<Response, UiError> {
    let reads = gateway::recent_sensitive(&ctx, SHOWN).await?;
    let rows = reads
        .into_iter()
        .map(|r| Row {
            when: date_time(r.occurred_at),
            agent: r.agent_id,
            item: r.item_id,
            product: r.product,
            tier: r.tier,
            accounts: r.accounts.unwrap_or_else(|| "—".into()),
            reason: r.reason,
            unmasked: r.unmasked,
            outcome: r.outcome,
        })
        .collect();
    render(&ReadsPage { chrome: session.chrome("Recent sensitive reads", None), rows })
}
