//! `GET /v1/items`: the agent's granted items with masked accounts and health.

use crate::error::Result;
use crate::http::extract::Agent;
use crate::service::{registry, Context};
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

pub async fn list(State(ctx): State<Context>, Agent(agent): Agent) -> Result<Json<Value>> {
    let items = registry::items_for_agent(&ctx, &agent).await?;
    Ok(Json(json!({ "items": items })))
}
