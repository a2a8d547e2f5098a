//! After `/transfer/create`: Plaid's transfer events, read with `/transfer/event/sync` from the
//! durable cursor (the highest event id stored), move each submitted request's transfer status
//! forward — `pending → posted → settled → funds_available`, or `failed`, `cancelled`, `returned`.
//!
//! One replica syncs at a time (a lease in the database). Each page is one transaction: its events
//! (each stored once, by Plaid's event id, which also advances the cursor), the status changes they
//! cause (compare-and-set: a repeated or late event never moves a status back or twice) and their
//! audit records. Events of transfers Countersign did not create, sweeps, refunds and types Plaid
//! adds later are stored and change nothing. A webhook only says "sync now"; state comes from here.

use super::{now_ms, trail, Context};
use crate::audit;
use crate::domain::{RequestState, TransferStatus};
use crate::error::Result;
use crate::plaid::types::{TransferEvent, TransferEventSyncResponse};
use crate::store::requests;
use crate::store::transfer_events::{self, NewEvent, StoredEvent};
use std::time::Duration;

/// The lease's name in the `leases` table.
const LEASE: &str = "transfer_event_sync";

/// What one sync did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    /// Events stored by this sync (repeats excluded).
    pub events: usize,
    /// Transfer status changes they caused.
    pub changes: usize,
    /// False when another replica held the lease, so this one did nothing.
    pub ran: bool,
}

/// Syncs every event Plaid has after the cursor, page by page while Plaid says `has_more`.
pub async fn sync(ctx: &Context) -> Result<Synced> {
    if !take_lease(ctx).await? {
        return Ok(Synced::default());
    }
    let result = sync_pages(ctx).await;
    let mut tx = ctx.store.begin().await?;
    transfer_events::release_lease(&mut tx, LEASE, &ctx.instance).await?;
    ctx.store.commit(tx).await?;
    result
}

async fn take_lease(ctx: &Context) -> Result<bool> {
    let now = now_ms();
    let until = now + crate::auth::millis(ctx.event_sync_lease);
    let mut tx = ctx.store.begin().await?;
    let taken = transfer_events::take_lease(&mut tx, LEASE, &ctx.instance, now, until).await?;
    ctx.store.commit(tx).await?;
    Ok(taken)
}

async fn sync_pages(ctx: &Context) -> Result<Synced> {
    let mut synced = Synced { ran: true, ..Synced::default() };
    loop {
        let after = transfer_events::cursor(ctx.store.reader()).await?;
        let page = ctx.plaid.transfer_event_sync(after, ctx.event_sync_page).await.map_err(anyhow::Error::from)?;
        let (events, changes) = apply_page(ctx, &page).await?;
        refresh_recurring(ctx, &page).await;
        synced.events += events;
        synced.changes += changes;
        if !page.has_more || page.transfer_events.is_empty() {
            return Ok(synced);
        }
        // Still ours for the next page (a lapsed lease another replica took ends this sync).
        if !take_lease(ctx).await? {
            return Ok(synced);
        }
    }
}

/// Stores one page and applies it, in one transaction; returns (events stored, status changes).
async fn apply_page(ctx: &Context, page: &TransferEventSyncResponse) -> Result<(usize, usize)> {
    let now = now_ms();
    let mut stored = 0;
    let mut changed = 0;
    let mut tx = ctx.store.begin().await?;
    for event in &page.transfer_events {
        let request = match event.transfer_id.as_str() {
            "" => None,
            transfer_id => requests::find_by_transfer_in(&mut tx, transfer_id).await?,
        };
        let row = stored_event(event);
        let new = NewEvent {
            event: &row,
            request_id: request.as_ref().map(|r| r.id.as_str()),
            plaid_request_id: &page.request_id,
            now_ms: now,
        };
        if !transfer_events::insert(&mut tx, new).await? {
            continue; // seen before: its change, if any, was made then
        }
        stored += 1;
        let Some(request) = request.filter(|r| r.state == RequestState::Submitted) else { continue };
        let Some(current) = request.transfer_status.as_deref() else { continue };
        let Some(next) = TransferStatus::parse(current).and_then(|status| status.advance(&event.event_type)) else {
            continue;
        };
        let failure = (row.failure_code.as_deref(), row.failure_description.as_deref());
        if !requests::advance_transfer_status(&mut tx, &request.id, current, next.as_str(), failure, now).await? {
            continue;
        }
        changed += 1;
        let outcome =
            if matches!(next, TransferStatus::Failed | TransferStatus::Returned) { "error" } else { "success" };
        let mut fields = trail::for_request(&request, &format!("transfer.{}", next.as_str()), outcome, now);
        fields.plaid_endpoint = Some("/transfer/event/sync".into());
        fields.action_type = Some("read".into());
        fields.plaid_request_id = Some(page.request_id.clone());
        fields.error_code = row.failure_code.clone();
        fields.plaid_event_id = Some(event.event_id);
        audit::append(&mut tx, fields).await?;
        super::events::request_event(ctx, &mut tx, &request.id, &format!("transfer.{}", next.as_str()), now).await?;
    }
    ctx.store.commit(tx).await?;
    if changed > 0 {
        ctx.notify_change();
    }
    Ok((stored, changed))
}

/// A recurring transfer's new occurrence first shows as a `pending` event of a transfer no request
/// created: its `/transfer/get` names the recurring transfer, which is then read again from Plaid
/// (status, occurrences). A failure here is logged and left for the next event, webhook or sync;
/// the page itself is applied.
async fn refresh_recurring(ctx: &Context, page: &TransferEventSyncResponse) {
    for event in page.transfer_events.iter().filter(|e| e.event_type == "pending" && !e.transfer_id.is_empty()) {
        let result: Result<()> = async {
            if crate::store::recurring::created_by_a_request(ctx.store.reader(), &event.transfer_id).await? {
                return Ok(());
            }
            let found = ctx.plaid.transfer_by_id(&event.transfer_id).await.map_err(anyhow::Error::from)?;
            match found.transfer.recurring_transfer_id {
                Some(recurring_transfer_id) => super::recurring::refresh(ctx, &recurring_transfer_id).await,
                None => Ok(()),
            }
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(error = %error, "could not follow a transfer's recurring transfer after its event");
        }
    }
}

fn stored_event(event: &TransferEvent) -> StoredEvent {
    let failure = event.failure_reason.as_ref();
    StoredEvent {
        event_id: event.event_id,
        transfer_id: event.transfer_id.clone(),
        event_type: event.event_type.clone(),
        occurred_at: event.timestamp.clone(),
        failure_code: failure.and_then(|f| f.code()).map(str::to_owned),
        failure_description: failure.and_then(|f| f.description.clone()),
    }
}

/// Acts on a verified Plaid webhook, after the delivery was acknowledged: its body only says what
/// to look at again (state always comes from Plaid's own endpoints), so a repeated or reordered
/// delivery does nothing a sync would not do anyway. An ITEM webhook's health is recorded before
/// the delivery is acknowledged (one short transaction; an error makes Plaid retry), in the order
/// Plaid signed them; what follows from it (resuming requests) runs afterwards.
pub async fn on_webhook(ctx: &Context, body: &[u8], signed_at: i64) -> Result<()> {
    let Ok(webhook) = serde_json::from_slice::<serde_json::Value>(body) else {
        tracing::warn!("a verified Plaid webhook is not JSON; ignored");
        return Ok(());
    };
    let kind =
        (webhook["webhook_type"].as_str().unwrap_or_default(), webhook["webhook_code"].as_str().unwrap_or_default());
    match kind {
        ("TRANSFER", "TRANSFER_EVENTS_UPDATE") => {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                if let Err(error) = sync(&ctx).await {
                    tracing::warn!(error = %error, "transfer event sync after a webhook failed; the poll will catch up");
                }
            });
        }
        ("ITEM", _) => {
            if let Some(repaired) = super::item_health::record(ctx, &webhook, signed_at).await? {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    if let Err(error) = super::item_health::resume_repaired(&ctx, &repaired).await {
                        tracing::warn!(error = %error, "resuming requests after LOGIN_REPAIRED failed");
                    }
                });
            }
        }
        (webhook_type, webhook_code) => tracing::info!(webhook_type, webhook_code, "Plaid webhook not acted on"),
    }
    Ok(())
}

/// Polls Plaid every `interval` until `shutdown` fires, so a lost webhook costs at most one period.
pub async fn run(ctx: Context, interval: Duration, shutdown: tokio::sync::watch::Receiver<bool>) {
    super::every(interval, shutdown, ctx.metrics.clone(), "transfer_event_sync", || {
        let ctx = ctx.clone();
        async move { sync(&ctx).await.map(|_| ()) }
    })
    .await
}
