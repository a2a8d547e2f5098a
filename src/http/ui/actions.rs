//! The decision forms: approve (approval token with step-up, then approve — the same two
//! service calls as the JSON API, in one handler), reject, and approve with edits.
//!
//! Every form is checked for its CSRF token first (403, nothing changes), then its idempotency
//! key is claimed: a repeated key redirects to where the first submission led, so a double
//! submit decides once. Outcomes are redirects (303) carrying a fixed message code.

use super::messages::code_of;
use super::request::request_id;
use super::session::UiSession;
use super::{cookies, see_other, UiError, UiForm};
use crate::domain::{Money, RequestId};
use crate::error::{Error, Result};
use crate::service::approvers::{self, NewSession};
use crate::service::form_keys::{self, Claim};
use crate::service::{cancel, decide, inbox, Context};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::future::Future;

/// Where an action led, and the rotated session when it included a step-up.
struct Outcome {
    location: String,
    rotated: Option<NewSession>,
}

fn at(id: &RequestId, code: &str) -> String {
    format!("/ui/requests/{id}?m={code}")
}

fn refused(id: &RequestId, error: &Error) -> Outcome {
    Outcome { location: at(id, code_of(error)), rotated: None }
}

/// A refusal that returns what the approver typed (never a code) so the form shows it again.
fn refused_keeping(id: &RequestId, code: &str, kept: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("m", code);
    for (name, value) in kept.iter().filter(|(_, value)| !value.is_empty()) {
        query.append_pair(name, value);
    }
    format!("/ui/requests/{id}?{}", query.finish())
}

/// Claims the form's key, runs the action once, records where it led and redirects there.
async fn once<F, Fut>(
    ctx: &Context,
    session: &UiSession,
    key: &str,
    id: &RequestId,
    action: F,
) -> Result<Response, UiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Outcome>,
{
    let approver = &session.who.approver.id;
    let outcome = match form_keys::claim(ctx, approver, key).await? {
        Claim::Done(location) => return Ok(see_other(&location)),
        Claim::InFlight => return Ok(see_other(&at(id, "in_progress"))),
        Claim::Fresh => action().await,
    };
    form_keys::finish(ctx, approver, key, &outcome.location).await?;
    let redirect = see_other(&outcome.location);
    Ok(match outcome.rotated {
        Some(new) => ([(header::SET_COOKIE, cookies::set_session(ctx, &new.token))], redirect).into_response(),
        None => redirect,
    })
}

/// After a decision, the next request waiting for this approver (its page says the decision was
/// recorded and links back); the decided request's own page when nothing else waits.
async fn next_or_here(ctx: &Context, session: &UiSession, decided: &RequestId, code: &str) -> String {
    match inbox::next_after(ctx, &session.who, decided).await {
        Ok(Some(next)) => format!("/ui/requests/{next}?m={code}_next&prev={decided}"),
        Ok(None) => at(decided, code),
        Err(error) => {
            tracing::warn!(error = %error, "could not find the next request after a decision");
            at(decided, code)
        }
    }
}

/// Step 1 of approving, shared by approve and edit: a token bound to what the approver saw.
/// A step-up (fresh TOTP) also rotates the session.
async fn token(
    ctx: &Context,
    session: &UiSession,
    id: &RequestId,
    payload_hash: &str,
    totp: &str,
) -> Result<(String, Option<NewSession>)> {
    let code = Some(totp.trim()).filter(|c| !c.is_empty());
    let grant = decide::issue_token(ctx, &session.who, id, payload_hash, code).await?;
    let rotated = if grant.step_up { Some(approvers::rotate_session(ctx, &session.who).await?) } else { None };
    Ok((grant.approval_token, rotated))
}

/// Whether a tier-3 approval came sooner after the page was shown than the minimum reading time.
fn too_quick(ctx: &Context, shown_at: Option<i64>) -> bool {
    let minimum = i64::try_from(ctx.tier3_min_reading.as_millis()).unwrap_or(i64::MAX);
    minimum > 0 && shown_at.is_none_or(|shown| crate::service::now_ms() - shown < minimum)
}

/// "12,000.00", "$12,000.00", "12000" and "12000.0" all confirm 12000.00.
fn confirms(typed: &str, amount: Money) -> bool {
    Money::parse_typed(typed).is_ok_and(|m| m == amount)
}

#[derive(Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    payload_hash: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    confirm_amount: Option<String>,
    /// When the page was shown (ms): a tier-3 approval sooner than the minimum reading time asks
    /// the approver to confirm they read it. The approver's own guard against haste, not a
    /// security boundary, so the page's number is taken as sent.
    #[serde(default)]
    shown_at: Option<i64>,
    #[serde(default)]
    read_confirmed: Option<String>,
}

pub async fn approve(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
    UiForm(form): UiForm<ApproveForm>,
) -> Result<Response, UiError> {
    session.check_csrf(&form.csrf)?;
    let id = request_id(&id)?;
    once(&ctx, &session, &form.idempotency_key, &id, || async {
        let shown = match decide::show(&ctx, &session.who, &id).await {
            Ok(shown) => shown,
            Err(error) => return refused(&id, &error),
        };
        let amount = Money::parse(&shown.request.amount).unwrap_or(Money::ZERO);
        let typed = [("confirm", form.confirm_amount.as_deref().unwrap_or_default())];
        let back = |code: &str| Outcome { location: refused_keeping(&id, code, &typed), rotated: None };
        if shown.request.tier == 3 && !form.confirm_amount.as_deref().is_some_and(|typed| confirms(typed, amount)) {
            return back("amount_mismatch");
        }
        if shown.request.tier == 3 && too_quick(&ctx, form.shown_at) && form.read_confirmed.as_deref() != Some("yes") {
            return back("read_first");
        }
        let (token, rotated) = match token(&ctx, &session, &id, &form.payload_hash, &form.totp).await {
            Ok(granted) => granted,
            Err(error) => return back(code_of(&error)),
        };
        let location = match decide::approve(&ctx, &session.who, &id, &token).await {
            Ok(_) => next_or_here(&ctx, &session, &id, "approved").await,
            Err(error) => at(&id, code_of(&error)),
        };
        Outcome { location, rotated }
    })
    .await
}

#[derive(Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    reason: String,
}

pub async fn reject(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
    UiForm(form): UiForm<RejectForm>,
) -> Result<Response, UiError> {
    session.check_csrf(&form.csrf)?;
    let id = request_id(&id)?;
    once(&ctx, &session, &form.idempotency_key, &id, || async {
        match decide::reject(&ctx, &session.who, &id, &form.reason).await {
            Ok(_) => Outcome { location: next_or_here(&ctx, &session, &id, "rejected").await, rotated: None },
            Err(error) => {
                Outcome { location: refused_keeping(&id, code_of(&error), &[("reason", &form.reason)]), rotated: None }
            }
        }
    })
    .await
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    payload_hash: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    description: String,
}

pub async fn edit(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
    UiForm(form): UiForm<EditForm>,
) -> Result<Response, UiError> {
    session.check_csrf(&form.csrf)?;
    let id = request_id(&id)?;
    once(&ctx, &session, &form.idempotency_key, &id, || async {
        // A typed amount is normalised ("1,000" is 1000.00); one that can't be read goes on as
        // typed, so the edit refuses it with its own message.
        let typed = form.amount.trim();
        let normalised = Money::parse_typed(typed).map(|m| m.to_string()).unwrap_or_else(|_| typed.to_owned());
        let amount = Some(normalised.as_str()).filter(|a| !a.is_empty());
        let description = Some(form.description.as_str()).filter(|d| !d.trim().is_empty());
        let typed = [("form", "edit"), ("amount", form.amount.as_str()), ("description", form.description.as_str())];
        if amount.is_none() && description.is_none() {
            return Outcome { location: refused_keeping(&id, "nothing_to_edit", &typed), rotated: None };
        }
        let (token, rotated) = match token(&ctx, &session, &id, &form.payload_hash, &form.totp).await {
            Ok(granted) => granted,
            Err(error) => return Outcome { location: refused_keeping(&id, code_of(&error), &typed), rotated: None },
        };
        let location = match decide::edit(&ctx, &session.who, &id, &token, decide::Edit { amount, description }).await {
            Ok(new) => at(&new.id, "edited"),
            Err(error) => refused_keeping(&id, code_of(&error), &typed),
        };
        Outcome { location, rotated }
    })
    .await
}

#[derive(Deserialize)]
pub struct CancelTransferForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idempotency_key: String,
}

/// Cancels a submitted request's transfer at Plaid, while Plaid still allows it.
pub async fn cancel_transfer(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
    UiForm(form): UiForm<CancelTransferForm>,
) -> Result<Response, UiError> {
    session.check_csrf(&form.csrf)?;
    let id = request_id(&id)?;
    once(&ctx, &session, &form.idempotency_key, &id, || async {
        match cancel::cancel_transfer_as_approver(&ctx, &session.who, &id).await {
            Ok(_) => Outcome { location: at(&id, "transfer_cancelled"), rotated: None },
            Err(error) => refused(&id, &error),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typed_amount_confirms_with_or_without_grouping() {
        let amount = Money::parse("12000.00").expect("amount");
        for typed in ["12000.00", "12,000.00", "$12,000.00", " 12000.00 ", "12000", "12,000", "12000.0"] {
            assert!(confirms(typed, amount), "{typed}");
        }
        for typed in ["1200.00", "", "12000.01", "12000.001"] {
            assert!(!confirms(typed, amount), "{typed}");
        }
    }
}
