//! The approver JSON API: sign in, see pending requests, get an approval token (step-up), and
//! approve, reject or approve with edits. The web form calls the same service functions.

use crate::domain::RequestId;
use crate::error::{Error, Result};
use crate::http::extract::{Approver, ClientAddress, JsonBody, PresentedSession};
use crate::service::approvers::ApproverSession;
use crate::service::view::ApproverRequestView;
use crate::service::{approvers, decide, format_ms, signin, Context};
use crate::store::requests::RequestRecord;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

fn request_id(text: &str) -> Result<RequestId> {
    RequestId::parse(text).ok_or_else(|| Error::not_found("transfer request"))
}

/// The approver and the request a decision is about, read in one statement. The session is
/// judged first; the caller then checks the body, and only then refuses a malformed id.
async fn approver_and_request(
    ctx: &Context,
    session: &str,
    id: &Result<RequestId>,
) -> Result<(ApproverSession, Option<RequestRecord>)> {
    match id {
        Ok(id) => approvers::authenticate_with_request(ctx, session, id).await,
        Err(_) => Ok((approvers::authenticate(ctx, session).await?, None)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    username: String,
    password: String,
    totp: String,
}

pub async fn sign_in(
    State(ctx): State<Context>,
    ClientAddress(client): ClientAddress,
    body: JsonBody<SignIn>,
) -> Result<(StatusCode, Json<Value>)> {
    let b = &body.typed;
    let session = signin::sign_in(&ctx, &client, &b.username, &b.password, &b.totp).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "token": session.token, "session_id": session.session_id, "expires_at": format_ms(session.expires_at) }),
        ),
    ))
}

pub async fn sign_out(State(ctx): State<Context>, Approver(who): Approver) -> Result<StatusCode> {
    approvers::sign_out(&ctx, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn inbox(State(ctx): State<Context>, Approver(who): Approver) -> Result<Json<Value>> {
    Ok(Json(json!({ "items": decide::inbox(&ctx, &who).await? })))
}

pub async fn show(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
) -> Result<Json<ApproverRequestView>> {
    Ok(Json(decide::show(&ctx, &who, &request_id(&id)?).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    payload_hash: String,
    #[serde(default)]
    totp: Option<String>,
}

pub async fn approval_token(
    State(ctx): State<Context>,
    PresentedSession(session): PresentedSession,
    Path(id): Path<String>,
    body: std::result::Result<JsonBody<TokenRequest>, Error>,
) -> Result<(StatusCode, Json<Value>)> {
    let id = request_id(&id);
    let (who, found) = approver_and_request(&ctx, &session, &id).await?;
    let body = body?;
    id?;
    let b = &body.typed;
    let grant = decide::issue_token_on(&ctx, &who, found, &b.payload_hash, b.totp.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "approval_token": grant.approval_token, "expires_at": format_ms(grant.expires_at), "step_up": grant.step_up }),
        ),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    approval_token: String,
}

pub async fn approve(
    State(ctx): State<Context>,
    PresentedSession(session): PresentedSession,
    Path(id): Path<String>,
    body: std::result::Result<JsonBody<Approve>, Error>,
) -> Result<Json<ApproverRequestView>> {
    let id = request_id(&id);
    let (who, found) = approver_and_request(&ctx, &session, &id).await?;
    let body = body?;
    id?;
    let approved = decide::approve_on(&ctx, &who, found, &body.typed.approval_token).await?;
    Ok(Json(approved.view(&ctx).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    reason: String,
}

pub async fn reject(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
    body: JsonBody<Reject>,
) -> Result<Json<ApproverRequestView>> {
    let id = request_id(&id)?;
    let decided = decide::reject(&ctx, &who, &id, &body.typed.reason).await?;
    Ok(Json(decide::view_of(&ctx, &decided).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    approval_token: String,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

pub async fn edit(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
    body: JsonBody<EditBody>,
) -> Result<(StatusCode, Json<ApproverRequestView>)> {
    let b = &body.typed;
    let edit = decide::Edit { amount: b.amount.as_deref(), description: b.description.as_deref() };
    let new = decide::edit(&ctx, &who, &request_id(&id)?, &b.approval_token, edit).await?;
    Ok((StatusCode::CREATED, Json(decide::view_of(&ctx, &new).await?)))
}
