//! The admin JSON API (`/v1/admin/...`): an approver session with the `admin` role, and a fresh
//! TOTP code (`totp`) in the body of every change. Changes take the session only as a bearer
//! token (never the web form's cookie), so no other site can make a browser send one.

use crate::domain::{AgentId, ApproverId};
use crate::error::{Error, Result};
use crate::http::extract::{Approver, JsonBody};
use crate::service::admin::{self, Actor, EnrollmentLink};
use crate::service::{format_ms, Context};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

fn approver_id(text: &str) -> Result<ApproverId> {
    ApproverId::parse(text).ok_or_else(|| Error::not_found("approver"))
}

fn agent_id(text: &str) -> Result<AgentId> {
    AgentId::parse(text).ok_or_else(|| Error::not_found("agent"))
}

/// The body of a change that needs nothing but the step-up code.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUp {
    totp: String,
}

/// An answer carrying a secret (an API key, an enrollment link): never kept by a cache.
fn secret(status: StatusCode, value: Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(value)).into_response()
}

fn link_json(link: &EnrollmentLink) -> Value {
    json!({
        "approver_id": link.approver_id.to_string(),
        "username": link.username,
        "enrollment_path": link.path(),
        "expires_at": format_ms(link.expires_at),
    })
}

pub async fn list_approvers(State(ctx): State<Context>, Approver(who): Approver) -> Result<Json<Value>> {
    let approvers = admin::list_approvers(&ctx, Actor::reader(&who)).await?;
    Ok(Json(json!({ "approvers": approvers })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApprover {
    username: String,
    role: String,
    #[serde(default)]
    items: Option<Vec<String>>,
    totp: String,
}

pub async fn add_approver(
    State(ctx): State<Context>,
    Approver(who): Approver,
    body: JsonBody<NewApprover>,
) -> Result<Response> {
    let b = &body.typed;
    let actor = Actor::Admin { who: &who, totp: &b.totp };
    let link = admin::add_approver(&ctx, actor, &b.username, &b.role, b.items.as_deref()).await?;
    Ok(secret(StatusCode::CREATED, link_json(&link)))
}

pub async fn disable_approver(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
    body: JsonBody<StepUp>,
) -> Result<Json<Value>> {
    let id = approver_id(&id)?;
    let revoked = admin::disable_approver(&ctx, Actor::Admin { who: &who, totp: &body.typed.totp }, &id).await?;
    Ok(Json(json!({ "approver_id": id.to_string(), "active": false, "sessions_revoked": revoked })))
}

pub async fn reset_totp(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
    body: JsonBody<StepUp>,
) -> Result<Response> {
    let id = approver_id(&id)?;
    let link = admin::reset_totp(&ctx, Actor::Admin { who: &who, totp: &body.typed.totp }, &id).await?;
    Ok(secret(StatusCode::OK, link_json(&link)))
}

pub async fn unlock_approver(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
    body: JsonBody<StepUp>,
) -> Result<Json<Value>> {
    let id = approver_id(&id)?;
    let cleared = admin::clear_throttle(&ctx, Actor::Admin { who: &who, totp: &body.typed.totp }, &id).await?;
    Ok(Json(json!({ "approver_id": id.to_string(), "was_throttled": cleared })))
}

pub async fn revoke_sessions(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
    body: JsonBody<StepUp>,
) -> Result<Json<Value>> {
    let id = approver_id(&id)?;
    let revoked = admin::revoke_sessions(&ctx, Actor::Admin { who: &who, totp: &body.typed.totp }, &id).await?;
    Ok(Json(json!({ "approver_id": id.to_string(), "sessions_revoked": revoked })))
}

pub async fn list_agents(State(ctx): State<Context>, Approver(who): Approver) -> Result<Json<Value>> {
    let agents = admin::list_agents(&ctx, Actor::reader(&who)).await?;
    Ok(Json(json!({ "agents": agents })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    name: String,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    items: Option<Vec<String>>,
    totp: String,
}

pub async fn add_agent(
    State(ctx): State<Context>,
    Approver(who): Approver,
    body: JsonBody<NewAgent>,
) -> Result<Response> {
    let b = &body.typed;
    let actor = Actor::Admin { who: &who, totp: &b.totp };
    let owner = b.owner.as_deref().unwrap_or("operator");
    let created = admin::add_agent(&ctx, actor, &b.name, owner, b.items.as_deref()).await?;
    Ok(secret(StatusCode::CREATED, json!({ "agent_id": created.id.to_string(), "api_key": created.api_key })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    totp: String,
    /// How long the replaced key keeps working (default 24 hours, at most 7 days).
    #[serde(default)]
    overlap_seconds: Option<u64>,
}

pub async fn rotate_key(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
    body: JsonBody<Rotate>,
) -> Result<Response> {
    let id = agent_id(&id)?;
    let b = &body.typed;
    let overlap = Duration::from_secs(b.overlap_seconds.unwrap_or(24 * 3600));
    let rotated = admin::rotate_key(&ctx, Actor::Admin { who: &who, totp: &b.totp }, &id, overlap).await?;
    let answer = json!({
        "agent_id": id.to_string(),
        "api_key": rotated.api_key,
        "previous_key_valid_until": format_ms(rotated.previous_valid_until),
    });
    Ok(secret(StatusCode::OK, answer))
}

pub async fn disable_agent(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
    body: JsonBody<StepUp>,
) -> Result<Json<Value>> {
    let id = agent_id(&id)?;
    admin::disable_agent(&ctx, Actor::Admin { who: &who, totp: &body.typed.totp }, &id).await?;
    Ok(Json(json!({ "agent_id": id.to_string(), "active": false })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// `null`: every item.
    items: Option<Vec<String>>,
    totp: String,
}

pub async fn set_agent_items(
    State(ctx): State<Context>,
    Approver(who): Approver,
    Path(id): Path<String>,
    body: JsonBody<Grant>,
) -> Result<Json<Value>> {
    let id = agent_id(&id)?;
    let b = &body.typed;
    admin::set_agent_items(&ctx, Actor::Admin { who: &who, totp: &b.totp }, &id, b.items.as_deref()).await?;
    Ok(Json(json!({ "agent_id": id.to_string(), "items": b.items })))
}

pub async fn list_items(State(ctx): State<Context>, Approver(who): Approver) -> Result<Json<Value>> {
    let items = admin::list_items(&ctx, Actor::reader(&who)).await?;
    Ok(Json(json!({ "items": items })))
}
