//! The administration forms. Each is checked in this order before anything changes: a signed-in
//! session (else the sign-in page), the `admin` role (403), the Origin/Sec-Fetch-Site headers
//! (the `/ui` middleware, 403), the session's CSRF token (403), then the form's idempotency key
//! is claimed (a double submit changes once) and the service checks the fresh TOTP code.
//!
//! Changes that make a secret (an enrollment link, an API key) answer with a page showing it
//! once; a repeat of the same form is redirected to the subject's page without it.

use super::admin::code_of;
use super::session::UiSession;
use super::{render, see_other, UiError, UiForm};
use crate::domain::{AgentId, ApproverId};
use crate::error::Error;
use crate::service::admin::{self, Actor};
use crate::service::form_keys::{self, Claim};
use crate::service::{format_ms, Context};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use serde::Deserialize;
use std::future::Future;

#[derive(Deserialize)]
pub struct AdminForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    items: String,
    #[serde(default)]
    overlap: String,
}

impl AdminForm {
    /// Comma-separated item ids; empty means every item.
    fn items(&self) -> Option<Vec<String>> {
        let ids: Vec<String> =
            self.items.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::to_owned).collect();
        (!ids.is_empty()).then_some(ids)
    }

    fn actor<'a>(&'a self, session: &'a UiSession) -> Actor<'a> {
        Actor::Admin { who: &session.who, totp: &self.totp }
    }
}

/// Where a change led: a redirect with a message code, or a page showing a secret once.
enum Outcome {
    Redirect(String),
    Shown { page: Response, replay: String },
}

fn after(back: &str, result: Result<&'static str, Error>) -> Outcome {
    let code = result.unwrap_or_else(|error| code_of(&error));
    Outcome::Redirect(format!("{back}?m={code}"))
}

/// The role and CSRF checks, then the form's key claimed, the change made once, and where it
/// led recorded for a repeat.
async fn once<F, Fut>(ctx: &Context, session: &UiSession, form: &AdminForm, change: F) -> Result<Response, UiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Outcome>,
{
    admin::require_admin(&session.who)?;
    session.check_csrf(&form.csrf)?;
    let approver = &session.who.approver.id;
    match form_keys::claim(ctx, approver, &form.idempotency_key).await? {
        Claim::Done(location) => return Ok(see_other(&location)),
        Claim::InFlight => return Ok(see_other("/ui/admin?m=in_progress")),
        Claim::Fresh => {}
    }
    let (location, response) = match change().await {
        Outcome::Redirect(location) => (location.clone(), see_other(&location)),
        Outcome::Shown { page, replay } => (replay, page),
    };
    form_keys::finish(ctx, approver, &form.idempotency_key, &location).await?;
    Ok(response)
}

#[derive(Template)]
#[template(path = "admin_secret.html")]
struct SecretPage {
    chrome: super::Chrome,
    heading: String,
    instruction: &'static str,
    label: &'static str,
    secret: String,
    note_label: &'static str,
    note: String,
    back: String,
}

/// The secret's page, or (should rendering fail) the subject's page with the message that it was
/// made; never a 500 after the change committed.
fn shown(page: SecretPage) -> Outcome {
    let replay = format!("{}?m=shown_once", page.back);
    match render(&page) {
        Ok(response) => Outcome::Shown { page: response, replay },
        Err(_) => Outcome::Redirect(replay),
    }
}

/// This site's origin as the browser reached it, for a link to copy.
fn origin(ctx: &Context, headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let well_formed = host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    let scheme = if ctx.cookie_secure { "https" } else { "http" };
    format!("{scheme}://{}", if well_formed { host } else { "127.0.0.1" })
}

fn enrollment_page(
    session: &UiSession,
    ctx: &Context,
    headers: &HeaderMap,
    link: &admin::EnrollmentLink,
    heading: String,
) -> SecretPage {
    SecretPage {
        chrome: session.chrome(heading.clone(), None),
        heading,
        instruction: "Send this enrollment link to the person: they set their password and authenticator there.",
        label: "Enrollment link",
        secret: format!("{}{}", origin(ctx, headers), link.path()),
        note_label: "Valid until",
        note: format_ms(link.expires_at),
        back: format!("/ui/admin/approvers/{}", link.approver_id),
    }
}

fn key_page(session: &UiSession, heading: String, api_key: String, note: String, back: String) -> SecretPage {
    SecretPage {
        chrome: session.chrome(heading.clone(), None),
        heading,
        instruction: "Give this API key to the agent now: only its hash is kept.",
        label: "API key",
        secret: api_key,
        note_label: "Note",
        note,
        back,
    }
}

pub async fn add_approver(
    State(ctx): State<Context>,
    session: UiSession,
    headers: HeaderMap,
    UiForm(form): UiForm<AdminForm>,
) -> Result<Response, UiError> {
    once(&ctx, &session, &form, || async {
        let items = form.items();
        match admin::add_approver(&ctx, form.actor(&session), &form.username, &form.role, items.as_deref()).await {
            Ok(link) => {
                let heading = format!("Approver {} added", link.username);
                shown(enrollment_page(&session, &ctx, &headers, &link, heading))
            }
            Err(error) => after("/ui/admin", Err(error)),
        }
    })
    .await
}

pub async fn change_approver(
    State(ctx): State<Context>,
    session: UiSession,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    UiForm(form): UiForm<AdminForm>,
) -> Result<Response, UiError> {
    let id = ApproverId::parse(&id).ok_or_else(|| Error::not_found("approver"))?;
    if !["disable", "reset-totp", "unlock", "revoke-sessions"].contains(&action.as_str()) {
        return Err(Error::not_found("administrative action").into());
    }
    let back = format!("/ui/admin/approvers/{id}");
    once(&ctx, &session, &form, || async {
        let actor = form.actor(&session);
        match action.as_str() {
            "disable" => after(&back, admin::disable_approver(&ctx, actor, &id).await.map(|_| "approver_disabled")),
            "unlock" => {
                let cleared = admin::clear_throttle(&ctx, actor, &id).await;
                after(&back, cleared.map(|cleared| if cleared { "throttle_cleared" } else { "not_throttled" }))
            }
            "revoke-sessions" => {
                after(&back, admin::revoke_sessions(&ctx, actor, &id).await.map(|_| "sessions_revoked"))
            }
            _ => match admin::reset_totp(&ctx, actor, &id).await {
                Ok(link) => {
                    let heading = format!("TOTP reset for {}", link.username);
                    shown(enrollment_page(&session, &ctx, &headers, &link, heading))
                }
                Err(error) => after(&back, Err(error)),
            },
        }
    })
    .await
}

pub async fn add_agent(
    State(ctx): State<Context>,
    session: UiSession,
    UiForm(form): UiForm<AdminForm>,
) -> Result<Response, UiError> {
    once(&ctx, &session, &form, || async {
        let items = form.items();
        match admin::add_agent(&ctx, form.actor(&session), &form.name, &form.owner, items.as_deref()).await {
            Ok(created) => {
                let back = format!("/ui/admin/agents/{}", created.id);
                let note = format!("Agent {} ({}) was created.", form.name.trim(), created.id);
                shown(key_page(&session, format!("Agent {} added", form.name.trim()), created.api_key, note, back))
            }
            Err(error) => after("/ui/admin", Err(error)),
        }
    })
    .await
}

pub async fn change_agent(
    State(ctx): State<Context>,
    session: UiSession,
    Path((id, action)): Path<(String, String)>,
    UiForm(form): UiForm<AdminForm>,
) -> Result<Response, UiError> {
    let id = AgentId::parse(&id).ok_or_else(|| Error::not_found("agent"))?;
    if !["disable", "rotate-key", "items"].contains(&action.as_str()) {
        return Err(Error::not_found("administrative action").into());
    }
    let back = format!("/ui/admin/agents/{id}");
    once(&ctx, &session, &form, || async {
        let actor = form.actor(&session);
        match action.as_str() {
            "disable" => after(&back, admin::disable_agent(&ctx, actor, &id).await.map(|()| "agent_disabled")),
            "items" => {
                let items = form.items();
                after(&back, admin::set_agent_items(&ctx, actor, &id, items.as_deref()).await.map(|()| "items_set"))
            }
            _ => {
                let overlap = match crate::domain::duration::parse_duration(&form.overlap) {
                    Ok(overlap) => overlap,
                    Err(_) => return Outcome::Redirect(format!("{back}?m=invalid_overlap")),
                };
                match admin::rotate_key(&ctx, actor, &id, overlap).await {
                    Ok(rotated) => {
                        let note = format!("The old key works until {}.", format_ms(rotated.previous_valid_until));
                        shown(key_page(&session, "New API key".into(), rotated.api_key, note, back.clone()))
                    }
                    Err(error) => after(&back, Err(error)),
                }
            }
        }
    })
    .await
}
