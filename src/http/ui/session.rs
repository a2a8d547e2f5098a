//! Signing in and out, and the signed-in approver of every other page.
//!
//! One form takes username, password and TOTP code together: `approvers::sign_in` checks them
//! as one audited attempt whose failures all look alike, so nothing tells an attacker which part
//! was wrong, and there is no half-signed-in state to store. A new session replaces any session
//! the browser already had (rotation at login).

use super::{cookies, csrf, render, see_other, Chrome, UiError, UiForm};
use crate::error::Error;
use crate::http::extract::ClientAddress;
use crate::service::approvers::{self, ApproverSession};
use crate::service::{signin, Context};
use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The signed-in approver, from the session cookie; otherwise a redirect to the sign-in page.
pub struct UiSession {
    pub who: ApproverSession,
    pub csrf: String,
}

impl UiSession {
    pub fn check_csrf(&self, presented: &str) -> Result<(), UiError> {
        csrf::check(&self.csrf, presented)
    }

    /// The page frame for this approver.
    pub fn chrome(&self, title: impl Into<String>, flash: Option<&str>) -> Chrome {
        let mut chrome = Chrome::new(title, flash, Some((self.who.approver.username.clone(), self.csrf.clone())));
        chrome.compliance = self.who.approver.has_role("compliance");
        chrome.admin = self.who.approver.has_role("admin");
        chrome
    }
}

impl FromRequestParts<Context> for UiSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &Context) -> Result<Self, Response> {
        let Some(token) = cookies::read(&parts.headers, cookies::session_name(ctx)) else {
            return Err(see_other(&signed_out_location(&parts.method, parts.uri.path())));
        };
        match approvers::authenticate(ctx, &token).await {
            Ok(who) => {
                let csrf = csrf::for_session(ctx, &who.session.id);
                Ok(UiSession { who, csrf })
            }
            Err(crate::error::Error::Client { .. }) => {
                Err((ended_headers(ctx), see_other(&ended_location(&parts.method, parts.uri.path()))).into_response())
            }
            Err(error) => Err(UiError::from(error).into_response()),
        }
    }
}

/// Where a request whose session ended goes: the sign-in page, which returns to the request page
/// afterwards; a decision posted with the ended session adds that nothing was decided.
fn ended_location(method: &axum::http::Method, path: &str) -> String {
    let Some(request) = request_page_of(path) else { return "/ui/sign-in?m=session_ended".to_owned() };
    let code = if method == axum::http::Method::POST { "session_ended_nothing_done" } else { "session_ended" };
    format!("/ui/sign-in?m={code}&next={request}")
}

/// Where a request without any session cookie goes: the sign-in page, returning to a request
/// page afterwards; a decision posted without a session says nothing was decided.
fn signed_out_location(method: &axum::http::Method, path: &str) -> String {
    match (request_page_of(path), method == axum::http::Method::POST) {
        (Some(request), true) => format!("/ui/sign-in?m=session_ended_nothing_done&next={request}"),
        (Some(request), false) => format!("/ui/sign-in?next={request}"),
        (None, _) => "/ui/sign-in".to_owned(),
    }
}

/// `/ui/requests/{id}` for any path under it with a well-formed id; nothing else is a place to return to.
fn request_page_of(path: &str) -> Option<String> {
    let id = path.strip_prefix("/ui/requests/")?.split('/').next()?;
    crate::domain::RequestId::parse(id).map(|id| format!("/ui/requests/{id}"))
}

fn ended_headers(ctx: &Context) -> [(header::HeaderName, header::HeaderValue); 1] {
    [(header::SET_COOKIE, cookies::clear_session(ctx))]
}

#[derive(Deserialize)]
pub struct FlashQuery {
    pub m: Option<String>,
    /// Seconds to wait, with `m=too_many_attempts` (text: a crafted link can't make the page fail).
    pub wait: Option<String>,
    /// With `m=approved_next`/`rejected_next`: the request just decided (parsed as an id before use).
    pub prev: Option<String>,
    /// After a refused decision: which form it came from (`edit`), and what the approver had typed
    /// (shown back in the form as text; never a code).
    pub form: Option<String>,
    pub confirm: Option<String>,
    pub amount: Option<String>,
    pub description: Option<String>,
    pub reason: Option<String>,
    /// After a session ended: the request page to return to once signed in again.
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    csrf: String,
    /// The request page to return to after signing in, when the session ended there.
    next: Option<String>,
}

/// The anonymous forms' nonce: the browser's, or a new one to set.
pub fn nonce(ctx: &Context, headers: &HeaderMap) -> (String, Option<header::HeaderValue>) {
    match cookies::read(headers, cookies::nonce_name(ctx)) {
        Some(nonce) => (nonce, None),
        None => {
            let nonce = crate::auth::tokens::generate("").token;
            let cookie = cookies::set_nonce(ctx, &nonce);
            (nonce, Some(cookie))
        }
    }
}

/// Checks an anonymous form's CSRF token against the browser's nonce cookie.
pub fn check_anonymous(ctx: &Context, headers: &HeaderMap, presented: &str) -> Result<(), UiError> {
    let nonce = cookies::read(headers, cookies::nonce_name(ctx)).ok_or_else(UiError::csrf)?;
    csrf::check(&csrf::for_nonce(ctx, &nonce), presented)
}

/// A page plus, when the browser had no nonce yet, the cookie that sets it.
pub fn with_nonce(page: Result<Response, UiError>, cookie: Option<header::HeaderValue>) -> Result<Response, UiError> {
    let mut response = page?;
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

pub async fn sign_in_page(
    State(ctx): State<Context>,
    headers: HeaderMap,
    Query(query): Query<FlashQuery>,
) -> Result<Response, UiError> {
    let (nonce, cookie) = nonce(&ctx, &headers);
    let mut chrome = Chrome::new("Sign in", query.m.as_deref(), None);
    let wait = query.wait.as_deref().and_then(|w| w.parse::<u64>().ok());
    if let (Some("too_many_attempts"), Some(wait)) = (query.m.as_deref(), wait) {
        chrome.flash = Some(super::messages::too_many_attempts(wait));
    }
    let next = query.next.as_deref().and_then(request_page_of);
    let page = SignInPage { chrome, csrf: csrf::for_nonce(&ctx, &nonce), next };
    with_nonce(render(&page), cookie)
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    next: String,
}

pub async fn sign_in(
    State(ctx): State<Context>,
    headers: HeaderMap,
    ClientAddress(client): ClientAddress,
    UiForm(form): UiForm<SignInForm>,
) -> Result<Response, UiError> {
    check_anonymous(&ctx, &headers, &form.csrf)?;
    let session = match signin::sign_in(&ctx, &client, &form.username, &form.password, &form.totp).await {
        Ok(session) => session,
        Err(Error::Client { code: "too_many_attempts", retry_after: Some(wait), .. }) => {
            return Ok(see_other(&format!("/ui/sign-in?m=too_many_attempts&wait={wait}{}", next_param(&form.next))))
        }
        Err(error) => {
            let code = super::messages::code_of(&error);
            return Ok(see_other(&format!("/ui/sign-in?m={code}{}", next_param(&form.next))));
        }
    };
    // Rotation at login: whatever session this browser had before is over.
    if let Some(old) = cookies::read(&headers, cookies::session_name(&ctx)) {
        if let Ok(previous) = approvers::authenticate(&ctx, &old).await {
            approvers::sign_out(&ctx, &previous).await?;
        }
    }
    let location = match request_page_of(&form.next) {
        Some(request) => format!("{request}?m=signed_in_again"),
        None => "/ui".to_owned(),
    };
    Ok(([(header::SET_COOKIE, cookies::set_session(&ctx, &session.token))], see_other(&location)).into_response())
}

/// `&next=/ui/requests/…` when the form carried a request page to return to.
fn next_param(next: &str) -> String {
    request_page_of(next).map(|page| format!("&next={page}")).unwrap_or_default()
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// Signing out is naturally idempotent, so its form's idempotency key is not stored.
pub async fn sign_out(
    State(ctx): State<Context>,
    session: UiSession,
    UiForm(form): UiForm<SignOutForm>,
) -> Result<Response, UiError> {
    session.check_csrf(&form.csrf)?;
    approvers::sign_out(&ctx, &session.who).await?;
    Ok((ended_headers(&ctx), see_other("/ui/sign-in?m=signed_out")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn an_ended_session_returns_only_to_a_well_formed_request_page() {
        let id = "tr_0190a1b2c3d4e5f60718293a4b5c6d7e";
        assert_eq!(
            ended_location(&Method::POST, &format!("/ui/requests/{id}/approve")),
            format!("/ui/sign-in?m=session_ended_nothing_done&next=/ui/requests/{id}")
        );
        assert_eq!(
            ended_location(&Method::GET, &format!("/ui/requests/{id}")),
            format!("/ui/sign-in?m=session_ended&next=/ui/requests/{id}")
        );
        assert_eq!(ended_location(&Method::GET, "/ui/history"), "/ui/sign-in?m=session_ended");
        assert_eq!(request_page_of("https://evil.example/ui/requests/x"), None);
        assert_eq!(request_page_of("/ui/requests/..%2f..%2fevil"), None);
    }
}
