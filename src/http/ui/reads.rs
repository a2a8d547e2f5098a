//! `/ui/reads`: "Recent sensitive reads" — the tier-1 Plaid reads (identity, auth by default)
//! agents made through the gateway, with agent, item, product, accounts, time and the agent's
//! stated reason, for approvers to review after the fact; never any of the data read. Above them,
//! tier-2 reads waiting for an approver, each saying what data would go to which agent, with
//! approve and reject forms (CSRF-checked; the decision is a compare-and-set, so a double submit
//! decides once).

use super::format::date_time;
use super::session::UiSession;
use super::{render, Chrome, UiError};
use super::{see_other, UiForm};
use crate::domain::reads::ReadProduct;
use crate::service::gateway::{self, approvals};
use crate::service::Context;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

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

/// A tier-2 read waiting for an approver.
pub struct Waiting {
    id: String,
    agent: String,
    item: String,
    product: String,
    releases: &'static str,
    reason: String,
    approve_by: String,
}

/// What a product's answer would hand to the agent, in words.
fn releases(product: &str) -> &'static str {
    match ReadProduct::parse(product) {
        Some(ReadProduct::Identity) => "the account owners' names, addresses, emails and phone numbers",
        Some(ReadProduct::Auth) => "the accounts' account and routing numbers",
        Some(ReadProduct::Transactions) => "the accounts' transactions",
        Some(ReadProduct::Investments) => "investment holdings",
        Some(ReadProduct::Liabilities) => "loans and credit card liabilities",
        Some(ReadProduct::Balance | ReadProduct::Accounts) | None => "the accounts and their balances",
    }
}

#[derive(Template)]
#[template(path = "reads.html")]
struct ReadsPage {
    chrome: Chrome,
    waiting: Vec<Waiting>,
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
    let waiting = approvals::pending(&ctx, SHOWN)
        .await?
        .into_iter()
        .map(|r| Waiting {
            releases: releases(&r.product),
            id: r.id,
            agent: r.agent_id,
            item: r.item_id,
            product: r.product,
            reason: r.reason,
            approve_by: date_time(r.approve_by),
        })
        .collect();
    render(&ReadsPage { chrome: session.chrome("Recent sensitive reads", None), waiting, rows })
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /ui/reads/{id}/approve` and `/reject`: back to the page, which shows the result.
pub async fn approve(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
    UiForm(form): UiForm<DecideForm>,
) -> Result<Response, UiError> {
    decide(&ctx, &session, &id, &form, true).await
}

pub async fn reject(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
    UiForm(form): UiForm<DecideForm>,
) -> Result<Response, UiError> {
    decide(&ctx, &session, &id, &form, false).await
}

async fn decide(
    ctx: &Context,
    session: &UiSession,
    id: &str,
    form: &DecideForm,
    approve: bool,
) -> Result<Response, UiError> {
    session.check_csrf(&form.csrf)?;
    approvals::decide(ctx, &session.who, id, approve).await?;
    Ok(see_other("/ui/reads"))
}
