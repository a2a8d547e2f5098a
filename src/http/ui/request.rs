//! `/ui/requests/{id}`: a rendered change, not a request — what will happen in plain words, the
//! balance before and after, Plaid's decision, why this tier, who asked and why, who approved,
//! the payload hash, the time left — and the approve, reject and edit forms.

use super::format::{clock, date_time, signed_money, state_words, time_left, window_notice};
use super::request_words::{agent_record, approve_button, decided_words, error_field, Kept, Versions};
use super::session::{FlashQuery, UiSession};
use super::{new_form_key, render, Chrome, UiError};
use crate::domain::{Money, RequestId, RequestState, Tier, TransferStatus};
use crate::error::Error;
use crate::service::{now_ms, review, Context};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::Value;

pub fn request_id(text: &str) -> Result<RequestId, UiError> {
    RequestId::parse(text).ok_or_else(|| UiError::from(Error::not_found("transfer request")))
}

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    chrome: Chrome,
    id: String,
    headline: String,
    state: String,
    state_words: &'static str,
    amount: String,
    amount_plain: String,
    direction_words: &'static str,
    account: String,
    institution: String,
    counterparty: String,
    network: String,
    description: String,
    balance_before: Option<String>,
    balance_after: Option<String>,
    balance_goes_negative: bool,
    decision: String,
    rationale: Option<String>,
    tier: i64,
    reasons: Vec<String>,
    agent: String,
    agent_id: String,
    thread_id: String,
    agent_reason: String,
    first_time_account: bool,
    possible_duplicate: bool,
    most_of_balance: bool,
    item_unhealthy: Option<String>,
    agent_record: String,
    /// Earlier requests on this account: id, "Debit $20.00", state in words, when.
    earlier: Vec<(String, String, &'static str, String)>,
    /// Other debits still to come off this account: id, amount, state in words.
    other_debits: Vec<(String, String, &'static str)>,
    other_debits_total: String,
    balance_after_all: Option<String>,
    balance_after_all_negative: bool,
    /// When the page was shown (ms), so a tier-3 approval can tell how long the approver read.
    shown_at: i64,
    /// The approver approved a tier-3 request too fast: ask them to confirm they read it.
    confirm_reading: bool,
    min_reading_secs: u64,
    /// "Rejected by bob at 2026-12-02 14:05:09 UTC", once someone decided.
    decided: Option<String>,
    /// The request's versions, as the history page links them.
    row: Versions,
    /// The field a refused decision points at (an element id; empty when none) and why.
    error_field: &'static str,
    error_text: String,
    /// What the approver had typed before the refusal.
    kept: Kept,
    edit_open: bool,
    description_limit: usize,
    /// What pressing approve does, in words.
    approve_button: String,
    /// The request decided just before, when the approver was sent on to this one.
    previous: Option<String>,
    approvals: Vec<(String, String)>,
    approvals_required: i64,
    hash_short: String,
    hash_full: String,
    time_left: String,
    closes_at: String,
    /// Whole seconds left in the window, for the live countdown.
    seconds_left: i64,
    /// Why approvals are closed, when they are (the live script shows the same words).
    window_closed: Option<String>,
    transfer_status: Option<String>,
    rejection_reason: Option<String>,
    open: bool,
    already_approved_by_me: bool,
    step_up: bool,
    confirm_amount: bool,
    csrf: String,
    approve_key: String,
    reject_key: String,
    edit_key: String,
    /// A submitted transfer Plaid may still cancel (status pending).
    transfer_cancellable: bool,
    cancel_transfer_key: String,
    /// A recurring transfer: the transfers Plaid has originated for it so far.
    recurring_transfers: Option<Vec<String>>,
}

fn text(intent: &Value, pointer: &str) -> String {
    intent.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}

pub async fn page(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
    Query(query): Query<FlashQuery>,
) -> Result<Response, UiError> {
    let id = request_id(&id)?;
    let r = review::review(&ctx, &session.who, &id).await?;
    let record = &r.record;
    let intent = &record.intent;
    let debit = text(intent, "/type") != "credit";
    let amount = r.amount.to_human();
    let where_ = format!("{} at {}", r.label.account, r.label.institution);
    let headline = match &r.recurring {
        // A schedule is approved whole: the page leads with every debit it commits to.
        Some(recurring) => recurring.summary.clone(),
        None if debit => format!("Debit {amount} from {where_}"),
        None => format!("Credit {amount} to {where_}"),
    };
    let expires_at = record.expires_at.unwrap_or(0);
    let now = now_ms();
    let hash = record.payload_hash.clone().unwrap_or_default();
    let page = RequestPage {
        chrome: session.chrome(headline.clone(), query.m.as_deref()),
        id: id.to_string(),
        state: record.state.as_str().to_owned(),
        state_words: state_words(record.state.as_str()),
        amount_plain: r.amount.to_string(),
        amount,
        direction_words: if debit {
            "Debit: the money moves from this account into yours."
        } else {
            "Credit: the money moves from your account to this one."
        },
        account: r.label.account.clone(),
        institution: r.label.institution.clone(),
        counterparty: text(intent, "/user/legal_name"),
        network: format!("{} {}", text(intent, "/network"), text(intent, "/ach_class")).trim().to_uppercase(),
        description: text(intent, "/description"),
        balance_before: r.balance_before.map(|m| m.to_human()),
        balance_after: r.balance_after_cents.map(signed_money),
        balance_goes_negative: r.balance_after_cents.is_some_and(|c| c < 0),
        decision: record.decision.clone().unwrap_or_else(|| "none yet".into()),
        rationale: record.decision_rationale_code.as_ref().map(|code| {
            let description = record.decision_rationale_description.clone().unwrap_or_default();
            format!("{code}: {description}")
        }),
        tier: record.tier.number(),
        reasons: record.policy_reasons.clone(),
        agent: r.agent_name.clone(),
        agent_id: record.agent_id.to_string(),
        thread_id: text(intent, "/thread_id"),
        agent_reason: text(intent, "/reason"),
        first_time_account: r.flags.first_to_account,
        possible_duplicate: r.flags.possible_duplicate,
        most_of_balance: r.flags.most_of_balance,
        agent_record: agent_record(&r.context.agent),
        earlier: r
            .context
            .earlier
            .iter()
            .map(|e| {
                let amount = Money::from_cents(e.amount_cents).unwrap_or(Money::ZERO).to_human();
                let direction = if text(&e.intent, "/type") == "credit" { "Credit" } else { "Debit" };
                (
                    e.id.to_string(),
                    format!("{direction} {amount}"),
                    state_words(e.state.as_str()),
                    date_time(e.created_at),
                )
            })
            .collect(),
        other_debits: r
            .context
            .other_debits
            .iter()
            .map(|d| {
                let amount = Money::from_cents(d.amount_cents).unwrap_or(Money::ZERO).to_human();
                (d.id.to_string(), amount, state_words(d.state.as_str()))
            })
            .collect(),
        other_debits_total: signed_money(r.context.other_debits_cents),
        balance_after_all: r.context.balance_after_all_cents.map(signed_money),
        balance_after_all_negative: r.context.balance_after_all_cents.is_some_and(|c| c < 0),
        shown_at: now,
        confirm_reading: query.m.as_deref() == Some("read_first"),
        min_reading_secs: ctx.tier3_min_reading.as_secs(),
        decided: decided_words(&r),
        row: Versions {
            edited_from: record.supersedes.as_ref().map(ToString::to_string),
            renewed_from: record.renews.as_ref().map(ToString::to_string),
            replaced_by: r.replaced_by.clone(),
        },
        error_field: error_field(query.m.as_deref(), query.form.as_deref()),
        error_text: query
            .m
            .as_deref()
            .and_then(super::messages::flash)
            .map(|f| f.text.into_owned())
            .unwrap_or_default(),
        kept: Kept::from(&query),
        edit_open: query.form.as_deref() == Some("edit"),
        description_limit: if matches!(text(intent, "/network").as_str(), "ach" | "same-day-ach") { 10 } else { 15 },
        approve_button: approve_button(&r.amount.to_human(), debit, r.view.approvals.len(), record.approvals_required),
        previous: query.prev.as_deref().and_then(RequestId::parse).map(|id| id.to_string()),
        item_unhealthy: r.flags.item_unhealthy.as_ref().map(|(health, reason)| match reason {
            Some(reason) => format!("{} ({reason})", health.replace('_', " ")),
            None => health.replace('_', " "),
        }),
        approvals: r
            .view
            .approvals
            .iter()
            .map(|a| {
                let at = crate::service::parse_rfc3339_ms(&a.approved_at).map(date_time).unwrap_or_default();
                (a.username.clone(), at)
            })
            .collect(),
        approvals_required: record.approvals_required,
        hash_short: hash.chars().take(12).collect(),
        hash_full: hash,
        time_left: time_left(expires_at, now),
        closes_at: clock(expires_at),
        seconds_left: ((expires_at - now) / 1000).max(0),
        window_closed: window_notice(record.state.as_str(), expires_at, now),
        transfer_status: record.transfer_status.clone(),
        rejection_reason: record.rejection_reason.clone(),
        open: r.open,
        already_approved_by_me: r.already_approved_by_me,
        step_up: record.step_up,
        confirm_amount: record.tier == Tier::MultiParty,
        csrf: session.csrf.clone(),
        approve_key: new_form_key(),
        reject_key: new_form_key(),
        edit_key: new_form_key(),
        transfer_cancellable: record.state == RequestState::Submitted
            && match &r.recurring {
                Some(recurring) => recurring.status.as_deref() == Some("active"),
                None => record.transfer_status.as_deref() == Some(TransferStatus::Pending.as_str()),
            },
        recurring_transfers: r.recurring.as_ref().map(|recurring| recurring.transfer_ids.clone()),
        cancel_transfer_key: new_form_key(),
        headline,
    };
    render(&page)
}
