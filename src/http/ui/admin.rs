//! `/ui/admin/...`: administration pages for approvers with the `admin` role — approvers, agents
//! and items on one page, one page per approver or agent with the changes it allows. The forms
//! post to `admin_forms`; every change there needs a fresh TOTP code.
//!
//! Never shows a secret except on the one response that made it (`admin_secret.html`).

use super::session::{FlashQuery, UiSession};
use super::{messages, new_form_key, render, Chrome, UiError};
use crate::domain::{AgentId, ApproverId};
use crate::error::Error;
use crate::service::admin::{self, Actor, AgentAdminView, ApproverAdminView};
use crate::service::Context;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::borrow::Cow;

pub fn router() -> Router<Context> {
    use super::admin_forms as forms;
    Router::new()
        .route("/ui/admin", get(overview))
        .route("/ui/admin/approvers", post(forms::add_approver))
        .route("/ui/admin/approvers/{id}", get(approver_page))
        .route("/ui/admin/approvers/{id}/{action}", post(forms::change_approver))
        .route("/ui/admin/agents", post(forms::add_agent))
        .route("/ui/admin/agents/{id}", get(agent_page))
        .route("/ui/admin/agents/{id}/{action}", post(forms::change_agent))
}

/// Reads on these pages act as the signed-in admin (no code needed to look).
fn reader(session: &UiSession) -> Actor<'_> {
    Actor::reader(&session.who)
}

/// Messages of the admin pages, then the shared table (unknown codes show nothing).
const OK: &[(&str, &str)] = &[
    ("approver_disabled", "The approver is deactivated; their sessions and unspent approval tokens are void."),
    ("sessions_revoked", "Their sessions are revoked: they must sign in again."),
    ("throttle_cleared", "Their sign-in throttle is cleared: the next attempt is checked at once."),
    ("not_throttled", "They were not throttled; nothing to clear."),
    ("agent_disabled", "The agent is disabled: its keys are refused from now on."),
    ("items_set", "The agent's items are set."),
    ("shown_once", "That change was made; its secret was shown once and is not shown again."),
];

const REFUSED: &[(&str, &str)] = &[
    ("totp_required", "Every change here needs a fresh code from your authenticator app."),
    ("not_an_admin", "This account does not have the admin role."),
    ("cannot_disable_self", "Ask another admin to deactivate your own account."),
    ("already_disabled", "This approver is already deactivated."),
    ("approver_exists", "An approver with that name already exists (names are compared ignoring case)."),
    ("agent_exists", "An agent with that name already exists."),
    ("unknown_item", "One of the item ids is not a registered item."),
    ("invalid_username", "Usernames are 1 to 64 letters, digits, or . _ - @"),
    ("invalid_role", "Choose the role approver, compliance or admin."),
    ("invalid_name", "Agent names are 1 to 100 characters."),
    ("invalid_overlap", "The overlap is a number with s, m, h or d (e.g. 24h), at most 7 days."),
    ("not_found", "There is no such approver or agent."),
];

pub fn flash(code: Option<&str>) -> Option<messages::Flash> {
    let code = code?;
    let own = |table: &[(&str, &'static str)], is_error| {
        table.iter().find(|(c, _)| *c == code).map(|(_, text)| messages::Flash { text: Cow::Borrowed(*text), is_error })
    };
    own(OK, false).or_else(|| own(REFUSED, true)).or_else(|| messages::flash(code))
}

/// The message code to redirect with after a refused change.
pub fn code_of(error: &Error) -> &'static str {
    match error {
        Error::Client { code, .. } => {
            REFUSED.iter().find(|(c, _)| c == code).map_or_else(|| messages::code_of(error), |(c, _)| c)
        }
        Error::Internal(_) => messages::code_of(error),
    }
}

fn chrome(session: &UiSession, title: &str, m: Option<&str>) -> Chrome {
    let mut chrome = session.chrome(title, None);
    chrome.flash = flash(m);
    chrome
}

fn items_text(items: &Option<Vec<String>>) -> String {
    items.as_ref().map_or_else(
        || "every item".to_owned(),
        |items| if items.is_empty() { "none".into() } else { items.join(", ") },
    )
}

fn status(active: bool, since: &Option<String>) -> String {
    match (active, since) {
        (true, _) => "active".into(),
        (false, Some(since)) => format!("deactivated {since}"),
        (false, None) => "deactivated".into(),
    }
}

pub struct ApproverRow {
    id: String,
    username: String,
    roles: String,
    items: String,
    status: String,
    sessions: i64,
    sign_in: String,
}

fn sign_in_state(throttled_until: &Option<String>) -> String {
    throttled_until.as_ref().map_or_else(|| "not throttled".into(), |until| format!("throttled until {until}"))
}

pub struct AgentRow {
    id: String,
    name: String,
    owner: String,
    items: String,
    status: String,
}

pub struct ItemRow {
    id: String,
    institution: String,
    health: String,
    since: String,
    accounts: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct Overview {
    chrome: Chrome,
    csrf: String,
    approvers: Vec<ApproverRow>,
    agents: Vec<AgentRow>,
    items: Vec<ItemRow>,
    add_approver_key: String,
    add_agent_key: String,
}

pub async fn overview(
    State(ctx): State<Context>,
    session: UiSession,
    Query(query): Query<FlashQuery>,
) -> Result<Response, UiError> {
    let actor = reader(&session);
    let approvers = admin::list_approvers(&ctx, actor).await?;
    let agents = admin::list_agents(&ctx, actor).await?;
    let items = admin::list_items(&ctx, actor).await?;
    render(&Overview {
        chrome: chrome(&session, "Administration", query.m.as_deref()),
        csrf: session.csrf.clone(),
        approvers: approvers
            .into_iter()
            .map(|a| ApproverRow {
                status: status(a.active, &a.disabled_at),
                items: items_text(&a.items),
                roles: a.roles.join(", "),
                sessions: a.live_sessions,
                sign_in: sign_in_state(&a.throttled_until),
                id: a.id,
                username: a.username,
            })
            .collect(),
        agents: agents
            .into_iter()
            .map(|a| AgentRow {
                status: status(a.active, &a.disabled_at),
                items: items_text(&a.items),
                id: a.id,
                name: a.name,
                owner: a.owner,
            })
            .collect(),
        items: items
            .into_iter()
            .map(|i| ItemRow {
                institution: i.institution_name.unwrap_or_default(),
                health: match i.health_reason {
                    Some(reason) => format!("{} ({reason})", i.health),
                    None => i.health,
                },
                since: i.health_changed_at.unwrap_or_else(|| "registration".into()),
                accounts: i
                    .accounts
                    .iter()
                    .map(|a| format!("{} ••{}", a.name, a.mask.as_deref().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", "),
                id: i.id,
            })
            .collect(),
        add_approver_key: new_form_key(),
        add_agent_key: new_form_key(),
    })
}

/// One change a subject page offers: a form with a code field and maybe other fields.
pub struct Action {
    path: String,
    slug: &'static str,
    key: String,
    explanation: &'static str,
    /// (name, label, prefilled value)
    fields: Vec<(&'static str, &'static str, String)>,
    button: &'static str,
    danger: bool,
}

impl Action {
    fn new(base: &str, slug: &'static str, explanation: &'static str, button: &'static str) -> Self {
        let path = format!("{base}/{}", slug.replace('_', "-"));
        Self { path, slug, key: new_form_key(), explanation, fields: Vec::new(), button, danger: false }
    }

    fn danger(mut self) -> Self {
        self.danger = true;
        self
    }

    fn field(mut self, name: &'static str, label: &'static str, value: String) -> Self {
        self.fields.push((name, label, value));
        self
    }
}

#[derive(Template)]
#[template(path = "admin_subject.html")]
struct SubjectPage {
    chrome: Chrome,
    csrf: String,
    heading: String,
    facts: Vec<(&'static str, String)>,
    actions: Vec<Action>,
}

fn subject_page(
    session: &UiSession,
    m: Option<&str>,
    heading: String,
    facts: Vec<(&'static str, String)>,
    actions: Vec<Action>,
) -> Result<Response, UiError> {
    render(&SubjectPage { chrome: chrome(session, &heading, m), csrf: session.csrf.clone(), heading, facts, actions })
}

async fn find_approver(ctx: &Context, session: &UiSession, id: &str) -> Result<ApproverAdminView, UiError> {
    let id = ApproverId::parse(id).ok_or_else(|| Error::not_found("approver"))?;
    let all = admin::list_approvers(ctx, reader(session)).await?;
    all.into_iter().find(|a| a.id == id.as_str()).ok_or_else(|| Error::not_found("approver").into())
}

pub async fn approver_page(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
    Query(query): Query<FlashQuery>,
) -> Result<Response, UiError> {
    let a = find_approver(&ctx, &session, &id).await?;
    let base = format!("/ui/admin/approvers/{}", a.id);
    let facts = vec![
        ("Id", a.id.clone()),
        ("Roles", a.roles.join(", ")),
        ("Items", items_text(&a.items)),
        ("Status", status(a.active, &a.disabled_at)),
        ("Live sessions", a.live_sessions.to_string()),
        ("Sign-in", sign_in_state(&a.throttled_until)),
        ("Added", a.created_at.clone()),
    ];
    let actions = if a.active {
        vec![
            Action::new(&base, "revoke_sessions", "Sign them out everywhere: every session ends now.", "Revoke sessions"),
            Action::new(&base, "unlock", "Clear their sign-in and step-up throttle after too many failed attempts.", "Clear sign-in throttle"),
            Action::new(&base, "reset_totp", "Replace their authenticator secret and end their sessions. You get a one-time enrollment link for them to set a new password and authenticator.", "Reset TOTP"),
            Action::new(&base, "disable", "Deactivate: they can no longer sign in; their sessions and unspent approval tokens are void at once. Approvals they already gave stay valid.", "Deactivate").danger(),
        ]
    } else {
        Vec::new()
    };
    subject_page(&session, query.m.as_deref(), format!("Approver {}", a.username), facts, actions)
}

async fn find_agent(ctx: &Context, session: &UiSession, id: &str) -> Result<AgentAdminView, UiError> {
    let id = AgentId::parse(id).ok_or_else(|| Error::not_found("agent"))?;
    let all = admin::list_agents(ctx, reader(session)).await?;
    all.into_iter().find(|a| a.id == id.as_str()).ok_or_else(|| Error::not_found("agent").into())
}

pub async fn agent_page(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
    Query(query): Query<FlashQuery>,
) -> Result<Response, UiError> {
    let a = find_agent(&ctx, &session, &id).await?;
    let base = format!("/ui/admin/agents/{}", a.id);
    let mut facts = vec![
        ("Id", a.id.clone()),
        ("Owner", a.owner.clone()),
        ("Items", items_text(&a.items)),
        ("Status", status(a.active, &a.disabled_at)),
        ("Added", a.created_at.clone()),
    ];
    if let Some(until) = &a.previous_key_valid_until {
        facts.push(("Old key works until", until.clone()));
    }
    let actions = if a.active {
        let granted = a.items.as_ref().map(|items| items.join(", ")).unwrap_or_default();
        vec![
            Action::new(
                &base,
                "rotate_key",
                "Make a new API key, shown once. The current key keeps working for the overlap, then is refused.",
                "Rotate API key",
            )
            .field("overlap", "Overlap for the current key (e.g. 24h, 30m, 0; at most 7d)", "24h".into()),
            Action::new(&base, "items", "Set which items it may use.", "Set items").field(
                "items",
                "Item ids, comma-separated (empty: every item)",
                granted,
            ),
            Action::new(
                &base,
                "disable",
                "Disable: every key of this agent is refused from its next request on.",
                "Disable agent",
            )
            .danger(),
        ]
    } else {
        Vec::new()
    };
    subject_page(&session, query.m.as_deref(), format!("Agent {}", a.name), facts, actions)
}
