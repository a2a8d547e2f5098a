//! Administering agents: list, add (the key shown once), rotate the API key (the old key keeps
//! working for an overlap, then is refused), disable (every key refused at once), set the
//! granted items.

use super::{begin, format_opt, parse_items, Actor};
use crate::audit::{self, AuditFields};
use crate::auth::{api_keys, millis};
use crate::domain::AgentId;
use crate::error::{Error, Result};
use crate::service::registry::{self, CreatedAgent};
use crate::service::{format_ms, now_ms, Context};
use crate::store::admin::{self, AgentSummary};
use crate::store::Tx;
use serde::Serialize;
use std::time::Duration;

/// The longest overlap a rotation may give the old key.
pub const MAX_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Serialize)]
pub struct AgentAdminView {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// The items it may use; `null`: every item.
    pub items: Option<Vec<String>>,
    pub active: bool,
    pub disabled_at: Option<String>,
    pub created_at: String,
    /// Until when the key replaced by the last rotation still works, while it does.
    pub previous_key_valid_until: Option<String>,
}

impl From<AgentSummary> for AgentAdminView {
    fn from(a: AgentSummary) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name,
            owner: a.owner,
            items: (!a.all_items).then(|| a.items.iter().map(ToString::to_string).collect()),
            active: a.disabled_at.is_none(),
            disabled_at: format_opt(a.disabled_at),
            created_at: format_ms(a.created_at),
            previous_key_valid_until: format_opt(a.previous_key_until),
        }
    }
}

pub async fn list_agents(ctx: &Context, actor: Actor<'_>) -> Result<Vec<AgentAdminView>> {
    actor.may_read()?;
    Ok(admin::list_agents(ctx.store.reader(), now_ms()).await?.into_iter().map(Into::into).collect())
}

/// The agent's record of a change, naming the admin who made it.
fn agent_record(event: &str, actor: Actor<'_>, agent: &AgentId, now: i64) -> AuditFields {
    AuditFields { agent_id: Some(agent.to_string()), ..super::record(event, actor, now) }
}

pub async fn add_agent(
    ctx: &Context,
    actor: Actor<'_>,
    name: &str,
    owner: &str,
    items: Option<&[String]>,
) -> Result<CreatedAgent> {
    actor.may_read()?;
    let items = items.map(parse_items).transpose()?;
    let now = now_ms();
    let mut tx = begin(ctx, actor, now).await?;
    let created = registry::insert_agent(&mut tx, name, owner, items.as_deref(), now).await?;
    audit::append(&mut tx, agent_record("admin.agent_added", actor, &created.id, now)).await?;
    ctx.store.commit(tx).await?;
    Ok(created)
}

/// Refuses unless the agent exists and is not disabled.
async fn active(tx: &mut Tx, id: &AgentId) -> Result<()> {
    match admin::agent_state_in(tx, id).await? {
        None => Err(Error::not_found("agent")),
        Some(false) => Err(Error::conflict("agent_disabled", "this agent is disabled")),
        Some(true) => Ok(()),
    }
}

/// A new key, shown once, and until when the replaced one still works.
pub struct RotatedKey {
    pub api_key: String,
    pub previous_valid_until: i64,
}

pub async fn rotate_key(ctx: &Context, actor: Actor<'_>, id: &AgentId, overlap: Duration) -> Result<RotatedKey> {
    actor.may_read()?;
    if overlap > MAX_OVERLAP {
        return Err(Error::unprocessable("invalid_overlap", "the overlap may be at most 7 days (604800 seconds)"));
    }
    let now = now_ms();
    let mut tx = begin(ctx, actor, now).await?;
    active(&mut tx, id).await?;
    let key = api_keys::generate();
    let previous_valid_until = now + millis(overlap);
    if !admin::rotate_key(&mut tx, id, &key.hash, previous_valid_until).await? {
        return Err(Error::conflict("agent_disabled", "this agent is disabled"));
    }
    let mut fields = agent_record("agent.key_rotated", actor, id, now);
    fields.ttl_seconds = i64::try_from(overlap.as_secs()).ok();
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    Ok(RotatedKey { api_key: key.token, previous_valid_until })
}

/// Disables the agent: its keys are refused from the next request on.
pub async fn disable_agent(ctx: &Context, actor: Actor<'_>, id: &AgentId) -> Result<()> {
    actor.may_read()?;
    let now = now_ms();
    let mut tx = begin(ctx, actor, now).await?;
    active(&mut tx, id).await?;
    admin::disable_agent(&mut tx, id, now).await?;
    audit::append(&mut tx, agent_record("agent.disabled", actor, id, now)).await?;
    ctx.store.commit(tx).await?;
    Ok(())
}

/// Grants the agent every item (`None`) or exactly these.
pub async fn set_agent_items(ctx: &Context, actor: Actor<'_>, id: &AgentId, items: Option<&[String]>) -> Result<()> {
    actor.may_read()?;
    let items = items.map(parse_items).transpose()?;
    let now = now_ms();
    let mut tx = begin(ctx, actor, now).await?;
    active(&mut tx, id).await?;
    registry::require_registered(&mut tx, items.as_deref().unwrap_or_default()).await?;
    admin::set_agent_items(&mut tx, id, items.as_deref()).await?;
    audit::append(&mut tx, agent_record("agent.items_set", actor, id, now)).await?;
    ctx.store.commit(tx).await?;
    Ok(())
}
