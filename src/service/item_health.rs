//! Item health from Plaid's verified ITEM webhooks: `ERROR` (e.g. `ITEM_LOGIN_REQUIRED`),
//! `PENDING_EXPIRATION`, `PENDING_DISCONNECT`, `USER_PERMISSION_REVOKED` and `LOGIN_REPAIRED` set
//! the item's health with Plaid's reason and the time, audited. `LOGIN_REPAIRED` also resumes every
//! `reauth_required` request of the item still inside its window, approvals kept — exactly once
//! across replicas (the reopening and the execution claim are both compare-and-sets).

use super::{execute, now_ms, Context};
use crate::audit::{self, AuditFields};
use crate::domain::{ItemId, RequestState};
use crate::error::Result;
use crate::store::{items, requests};
use serde_json::Value;

/// Records the item health one verified ITEM webhook (signed by Plaid at `signed_at`) reports,
/// unless Plaid signed a later one already; returns the item when it was just repaired.
pub async fn record(ctx: &Context, webhook: &Value, signed_at: i64) -> Result<Option<ItemId>> {
    let Some(plaid_item_id) = webhook["item_id"].as_str() else { return Ok(None) };
    let Some(item) = items::find_by_plaid_id(ctx.store.reader(), plaid_item_id).await? else { return Ok(None) };
    let code = webhook["webhook_code"].as_str().unwrap_or_default();
    let error_code = webhook["error"]["error_code"].as_str();
    let (health, reason) = match code {
        "ERROR" if error_code == Some("ITEM_LOGIN_REQUIRED") => (items::LOGIN_REQUIRED, error_code),
        "ERROR" => ("error", error_code),
        "PENDING_EXPIRATION" => ("pending_expiration", Some(code)),
        "PENDING_DISCONNECT" => ("pending_disconnect", Some(code)),
        "USER_PERMISSION_REVOKED" => ("revoked", Some(code)),
        "LOGIN_REPAIRED" => (items::HEALTHY, Some(code)),
        _ => return Ok(None),
    };
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    if !items::set_health_reason(&mut tx, &item.id, health, reason, signed_at, now).await? {
        tracing::info!(item = %item.id, webhook_code = code, "an ITEM webhook older than the item's health; ignored");
        return Ok(None);
    }
    audit::append(
        &mut tx,
        AuditFields {
            occurred_at: now,
            event_type: "item.health".into(),
            plaid_item_id: Some(item.plaid_item_id.clone()),
            plaid_endpoint: Some("/webhooks/plaid".into()),
            action_type: Some("read".into()),
            outcome: health.to_owned(),
            error_code: reason.map(str::to_owned),
            ..AuditFields::default()
        },
    )
    .await?;
    // A broken item (not a repaired one, nor a mere warning) stops every transfer through it.
    if health != items::HEALTHY && item.health != health && matches!(code, "ERROR" | "USER_PERMISSION_REVOKED") {
        crate::notify::alerts::enqueue_fan_out(&mut tx, item.id.as_str(), "item.broken", now).await?;
    }
    ctx.store.commit(tx).await?;
    Ok((code == "LOGIN_REPAIRED").then_some(item.id))
}

/// Resumes every `reauth_required` request of a repaired item still inside its window, approvals
/// kept; returns how many. Exactly once across replicas: reopening is a compare-and-set.
pub async fn resume_repaired(ctx: &Context, item: &ItemId) -> Result<usize> {
    let mut resumed = 0;
    for record in requests::for_item_in_state(ctx.store.reader(), item, RequestState::ReauthRequired).await? {
        let mut tx = ctx.store.begin().await?;
        let reopened = execute::reopen_in(&mut tx, &record, "transfer.resumed_on_login_repaired", now_ms()).await?;
        ctx.store.commit(tx).await?;
        if reopened {
            ctx.notify_change();
            execute::execute(ctx, &record.id).await?;
            resumed += 1;
        }
    }
    Ok(resumed)
}
