//! `/ui`: the requests waiting for this approver as a dense table — what moves where, who asked
//! and why (the agent's words isolated), tier, approvals, time left and the flags — split into
//! "waiting for you" and "waiting for others", sortable and filterable with plain GET links and a
//! GET form (no JavaScript needed). Tier-2 requests below the step-up amount can be selected for a
//! batch approval (`batch.rs`).

use super::format::{clock, time_left};
use super::session::UiSession;
use super::{render, Chrome, UiError};
use crate::service::flags;
use crate::service::inbox::{self, InboxEntry};
use crate::service::{now_ms, Context};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct Row {
    id: String,
    headline: String,
    counterparty: String,
    account: String,
    agent: String,
    reason: String,
    tier: i64,
    approvals: String,
    time_left: String,
    closes_at: String,
    flags: Vec<&'static str>,
    batchable: bool,
}

impl Row {
    fn from(entry: &InboxEntry, now: i64) -> Self {
        let flag_words = entry
            .flags
            .names()
            .into_iter()
            .filter_map(|name| flags::ALL.iter().find(|(n, _)| *n == name).map(|(_, words)| *words))
            .collect();
        let expires_at = entry.record.expires_at.unwrap_or(0);
        Row {
            id: entry.record.id.to_string(),
            headline: entry.headline(),
            counterparty: entry.counterparty().to_owned(),
            account: format!("{} at {}", entry.label.account, entry.label.institution),
            agent: entry.agent_name.clone(),
            reason: entry.reason_line().to_owned(),
            tier: entry.record.tier.number(),
            approvals: format!("{} of {}", entry.approvals, entry.record.approvals_required),
            time_left: time_left(expires_at, now),
            closes_at: clock(expires_at),
            flags: flag_words,
            batchable: entry.batchable() && !entry.approved_by_me,
        }
    }
}

/// A choice in one of the filter menus: value, words, selected.
pub struct Choice {
    value: String,
    words: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    chrome: Chrome,
    mine: Vec<Row>,
    others: Vec<Row>,
    tiers: Vec<Choice>,
    agents: Vec<Choice>,
    accounts: Vec<Choice>,
    flags: Vec<Choice>,
    sorts: Vec<Choice>,
    filtered: bool,
    any_batchable: bool,
}

/// The inbox's query: flash message, filters and sort order. Unknown values select nothing.
#[derive(Deserialize, Default)]
pub struct InboxQuery {
    m: Option<String>,
    tier: Option<String>,
    agent: Option<String>,
    account: Option<String>,
    flag: Option<String>,
    sort: Option<String>,
    /// With `m=batch_done`: how many were approved and refused (numbers; any other text is ignored).
    approved: Option<String>,
    refused: Option<String>,
}

const SORTS: [(&str, &str); 4] = [
    ("deadline", "Soonest deadline first"),
    ("amount", "Largest amount first"),
    ("newest", "Newest first"),
    ("tier", "Highest tier first"),
];

/// A filter's value, when one was chosen ("All" sends an empty value).
fn chosen(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn keeps(entry: &InboxEntry, query: &InboxQuery) -> bool {
    let set = chosen;
    set(&query.tier).is_none_or(|tier| tier == entry.record.tier.number().to_string())
        && set(&query.agent).is_none_or(|agent| agent == entry.record.agent_id.as_str())
        && set(&query.account).is_none_or(|account| account == entry.record.account_id)
        && set(&query.flag).is_none_or(|flag| entry.flags.names().contains(&flag))
}

fn sort(entries: &mut [InboxEntry], by: Option<&str>) {
    match by {
        Some("amount") => entries.sort_by_key(|e| std::cmp::Reverse(e.record.amount_cents)),
        Some("newest") => entries.sort_by_key(|e| std::cmp::Reverse(e.record.created_at)),
        Some("tier") => entries.sort_by_key(|e| (std::cmp::Reverse(e.record.tier.number()), e.record.expires_at)),
        _ => entries.sort_by_key(|e| e.record.expires_at),
    }
}

/// The menu of values present in the inbox (so a filter never offers an empty choice).
fn choices(present: BTreeMap<String, String>, selected: Option<&str>) -> Vec<Choice> {
    present
        .into_iter()
        .map(|(value, words)| Choice { selected: selected == Some(value.as_str()), value, words })
        .collect()
}

pub async fn page(
    State(ctx): State<Context>,
    session: UiSession,
    Query(query): Query<InboxQuery>,
) -> Result<Response, UiError> {
    let now = now_ms();
    let mut entries = inbox::inbox(&ctx, &session.who).await?;
    let tiers =
        entries.iter().map(|e| (e.record.tier.number().to_string(), format!("Tier {}", e.record.tier.number())));
    let tiers = choices(tiers.collect(), query.tier.as_deref());
    let agents = entries.iter().map(|e| (e.record.agent_id.to_string(), e.agent_name.clone()));
    let agents = choices(agents.collect(), query.agent.as_deref());
    let accounts = entries
        .iter()
        .map(|e| (e.record.account_id.clone(), format!("{} at {}", e.label.account, e.label.institution)));
    let accounts = choices(accounts.collect(), query.account.as_deref());
    let flag_menu = flags::ALL.iter().map(|(name, words)| (name.to_string(), words.to_string())).collect();
    let flag_menu = choices(flag_menu, query.flag.as_deref());
    let sorts = SORTS
        .iter()
        .map(|(value, words)| Choice {
            value: value.to_string(),
            words: words.to_string(),
            selected: query.sort.as_deref().unwrap_or("deadline") == *value,
        })
        .collect();

    entries.retain(|e| keeps(e, &query));
    sort(&mut entries, query.sort.as_deref());
    let (others, mine): (Vec<_>, Vec<_>) = entries.iter().partition(|e| e.approved_by_me);
    let mine: Vec<Row> = mine.into_iter().map(|e| Row::from(e, now)).collect();
    let mut chrome = session.chrome("Inbox", query.m.as_deref());
    if query.m.as_deref() == Some("batch_done") {
        let count = |n: &Option<String>| n.as_deref().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
        chrome.flash = Some(super::messages::batch_done(count(&query.approved), count(&query.refused)));
    }
    let filtered = [&query.tier, &query.agent, &query.account, &query.flag].into_iter().any(|v| chosen(v).is_some());
    render(&InboxPage {
        chrome,
        any_batchable: mine.iter().any(|r| r.batchable),
        mine,
        others: others.into_iter().map(|e| Row::from(e, now)).collect(),
        tiers,
        agents,
        accounts,
        flags: flag_menu,
        sorts,
        filtered,
    })
}
