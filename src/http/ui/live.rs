//! `/ui/requests/{id}/status`: what the request page's live script (`templates/live.js`) asks
//! every few seconds — is the request still open, and if not, why, in the page's own words.

use super::format::window_notice;
use super::request::request_id;
use super::session::UiSession;
use super::UiError;
use crate::service::{now_ms, review, Context};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

/// What the live script asks every few seconds: is the request still open, and if not, why.
#[derive(serde::Serialize)]
struct Status {
    state: &'static str,
    open: bool,
    seconds_left: i64,
    message: Option<String>,
}

pub async fn status(
    State(ctx): State<Context>,
    session: UiSession,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id = request_id(&id)?;
    let record = review::status(&ctx, &session.who, &id).await?;
    let expires_at = record.expires_at.unwrap_or(0);
    let now = now_ms();
    let message = window_notice(record.state.as_str(), expires_at, now);
    let status = Status {
        state: record.state.as_str(),
        open: message.is_none(),
        seconds_left: ((expires_at - now) / 1000).max(0),
        message,
    };
    Ok(axum::Json(status).into_response())
}
