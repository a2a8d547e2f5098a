//! Operator-side registration of agents and Plaid items, and what agents may see of items.

use super::{now_ms, Context};
use crate::audit::{self, mask_account, AuditFields};
use crate::auth::api_keys;
use crate::domain::{AgentId, ItemId};
use crate::error::{Error, Result};
use crate::store::agents::{self, AgentRecord, NewAgent};
use crate::store::items::{self, AccountRecord, ForProposal, ItemRecord};
use crate::store::{Store, Tx};
use serde::Serialize;

/// Plaid's sandbox "First Platypus Bank".
pub const SANDBOX_INSTITUTION: &str = "ins_109508";

pub struct CreatedAgent {
    pub id: AgentId,
    /// Shown once; only its hash is stored.
    pub api_key: String,
}

pub async fn add_agent(store: &Store, name: &str, owner: &str, items: Option<&[ItemId]>) -> Result<CreatedAgent> {
    let mut tx = store.begin().await?;
    let created = insert_agent(&mut tx, name, owner, items, now_ms()).await?;
    store.commit(tx).await?;
    Ok(created)
}

/// Creates an agent in the caller's transaction, audited as `agent.created`.
pub async fn insert_agent(
    tx: &mut Tx,
    name: &str,
    owner: &str,
    items: Option<&[ItemId]>,
    now: i64,
) -> Result<CreatedAgent> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::bad_request("invalid_name", "agent name must be 1 to 100 characters"));
    }
    let id = AgentId::generate();
    let key = api_keys::generate();
    require_registered(tx, items.unwrap_or_default()).await?;
    let inserted =
        agents::insert(tx, NewAgent { id: &id, name, owner, api_key_hash: &key.hash, items, now_ms: now }).await;
    match inserted {
        Err(error) if error.is_unique_violation() => {
            return Err(Error::conflict("agent_exists", format!("an agent named {name:?} already exists")))
        }
        other => other?,
    }
    let fields = AuditFields {
        occurred_at: now,
        event_type: "agent.created".into(),
        agent_id: Some(id.to_string()),
        outcome: "success".into(),
        ..AuditFields::default()
    };
    audit::append(tx, fields).await?;
    Ok(CreatedAgent { id, api_key: key.token })
}

/// Refuses (422 `unknown_item`) unless every item is registered.
pub(crate) async fn require_registered(tx: &mut Tx, items: &[ItemId]) -> Result<()> {
    for item in items {
        if items::find_by_id_in(tx, item).await?.is_none() {
            return Err(Error::unprocessable("unknown_item", format!("item {item} is not registered")));
        }
    }
    Ok(())
}

/// Registers an item by its access token: asks Plaid which item and accounts it is.
pub async fn add_item(ctx: &Context, access_token: &str) -> Result<ItemId> {
    let plaid_error =
        |e: crate::plaid::PlaidError| Error::bad_request("plaid_error", format!("Plaid refused the access token: {e}"));
    let accounts = ctx.plaid.get_accounts(access_token).await.map_err(plaid_error)?;
    let institution = ctx.plaid.get_item(access_token).await.map_err(plaid_error)?.item.institution_name;
    let id = ItemId::generate();
    let record = ItemRecord {
        id: id.clone(),
        plaid_item_id: accounts.item.item_id.clone(),
        access_token_enc: ctx.master_key.encrypt(access_token)?,
        institution_name: institution.or(accounts.item.institution_id.clone()),
        health: items::HEALTHY.into(),
        health_reason: None,
        health_changed_at: None,
    };
    let account_records: Vec<AccountRecord> = accounts
        .accounts
        .iter()
        .map(|a| AccountRecord {
            account_id: a.account_id.clone(),
            name: a.name.clone(),
            mask: a.mask.clone(),
            subtype: a.subtype.clone(),
        })
        .collect();
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    match items::insert(&mut tx, &record, &account_records, now).await {
        Err(error) if error.is_unique_violation() => {
            return Err(Error::conflict("item_exists", "this Plaid item is already registered"))
        }
        other => other?,
    }
    let fields = AuditFields {
        occurred_at: now,
        event_type: "item.registered".into(),
        plaid_item_id: Some(record.plaid_item_id.clone()),
        plaid_endpoint: Some("/accounts/get".into()),
        plaid_request_id: Some(accounts.request_id),
        action_type: Some("read".into()),
        outcome: "success".into(),
        ..AuditFields::default()
    };
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    Ok(id)
}

/// Creates a sandbox item (`/sandbox/public_token/create` + exchange) and registers it. Works
/// against Plaid's sandbox and the simulator.
pub async fn add_sandbox_item(ctx: &Context) -> Result<ItemId> {
    let plaid_error = |e: crate::plaid::PlaidError| Error::bad_request("plaid_error", format!("Plaid sandbox: {e}"));
    let public = ctx.plaid.sandbox_public_token(SANDBOX_INSTITUTION).await.map_err(plaid_error)?;
    let exchanged = ctx.plaid.exchange_public_token(&public.public_token).await.map_err(plaid_error)?;
    add_item(ctx, &exchanged.access_token).await
}

/// The item behind a proposal, if this agent may use it and the account belongs to it.
pub async fn usable_item(ctx: &Context, agent: &AgentRecord, item_id: &ItemId, account_id: &str) -> Result<ItemRecord> {
    match items::for_proposal(ctx.store.reader(), &agent.id, agent.all_items, item_id, account_id).await? {
        ForProposal::Usable(item) => Ok(item),
        ForProposal::UnknownItem => {
            Err(Error::unprocessable("unknown_item", format!("item {item_id} is not registered")))
        }
        ForProposal::NotAllowed => {
            Err(Error::forbidden("item_not_allowed", format!("this agent may not use item {item_id}")))
        }
        ForProposal::UnknownAccount => {
            Err(Error::unprocessable("unknown_account", format!("account is not part of item {item_id}")))
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ItemView {
    pub id: String,
    pub institution_name: Option<String>,
    pub health: String,
    /// Plaid's reason for the health (e.g. `ITEM_LOGIN_REQUIRED`, `PENDING_EXPIRATION`), if any.
    pub health_reason: Option<String>,
    pub health_changed_at: Option<String>,
    pub accounts: Vec<AccountView>,
}

#[derive(Debug, Serialize)]
pub struct AccountView {
    pub account_id: String,
    pub name: String,
    pub mask: Option<String>,
    pub subtype: Option<String>,
}

/// The agent's granted items with their accounts; never access tokens.
pub async fn items_for_agent(ctx: &Context, agent: &AgentRecord) -> Result<Vec<ItemView>> {
    let pool = ctx.store.reader();
    let mut views = Vec::new();
    for item in items::visible_to(pool, &agent.id, agent.all_items).await? {
        views.push(view_of_item(pool, item).await?);
    }
    Ok(views)
}

/// One item as agents and admins see it: health and masked accounts.
pub async fn view_of_item(pool: &sqlx::AnyPool, item: ItemRecord) -> Result<ItemView> {
    let accounts = items::accounts(pool, &item.id).await?;
    Ok(ItemView {
        id: item.id.to_string(),
        institution_name: item.institution_name,
        health: item.health,
        health_reason: item.health_reason,
        health_changed_at: item.health_changed_at.map(super::format_ms),
        accounts: accounts
            .into_iter()
            .map(|a| AccountView {
                mask: a.mask.or_else(|| Some(mask_account(&a.account_id))),
                account_id: a.account_id,
                name: a.name,
                subtype: a.subtype,
            })
            .collect(),
    })
}
