//! The agent API (`/v1/...`): JSON, bearer API keys, Idempotency-Key on every POST.

pub mod admin;
pub mod approvals;
pub mod audit;
pub mod items;
pub mod plaid;
pub mod transfers;

use crate::service::idempotency::Reply;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Sends a stored JSON reply as it is, so replays are byte-identical.
pub fn json_reply(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    (status, [(header::CONTENT_TYPE, "application/json")], reply.body).into_response()
}
