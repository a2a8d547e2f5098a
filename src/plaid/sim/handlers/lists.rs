//! /transfer/list and /transfer/event/list: filtered, paginated reads of the world.
//!
//! Both list newest first (the spec says /transfer/event/list returns "the most recent events"
//! when more match than `count`; /transfer/list does not say, and the simulator orders it the same
//! way) and page with `count` (1–25, default 25) and `offset`. Date filters apply to the
//! transfer's `created` time, as the spec's field descriptions say, inclusive at both ends. These
//! endpoints only read: they must never change a transfer or an event.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::super::errors::PlaidError;
use super::super::state::Transfer;
use super::transfer::{event_json, transfer_json};
use super::{opt_str, Body, Ctx};

const DEFAULT_COUNT: u64 = 25;

/// `start_date`/`end_date` as instants; a value that is not RFC 3339 is INVALID_FIELD.
fn date(body: &Body, name: &str) -> Result<Option<OffsetDateTime>, PlaidError> {
    opt_str(body, name)
        .map(|raw| {
            OffsetDateTime::parse(raw, &Rfc3339)
                .map_err(|_| PlaidError::invalid_field(format!("{name} must be an RFC 3339 date-time")))
        })
        .transpose()
}

/// The page `offset .. offset + count` (both already bounded by the schema).
fn page<T>(items: Vec<T>, body: &Body) -> (Vec<T>, bool) {
    let count = body.get("count").and_then(Value::as_u64).unwrap_or(DEFAULT_COUNT);
    let offset = body.get("offset").and_then(Value::as_u64).unwrap_or(0);
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let has_more = items.len() > offset.saturating_add(count);
    (items.into_iter().skip(offset).take(count).collect(), has_more)
}

/// The filters both endpoints share: creation window and the platform/ledger ids, which the
/// simulator's transfers never carry (so naming one matches nothing, except the empty
/// `origination_account_id` every transfer has).
struct TransferFilter {
    start: Option<OffsetDateTime>,
    end: Option<OffsetDateTime>,
    origination_account_id: Option<String>,
    names_platform_ids: bool,
}

impl TransferFilter {
    fn from_body(body: &Body) -> Result<Self, PlaidError> {
        Ok(Self {
            start: date(body, "start_date")?,
            end: date(body, "end_date")?,
            origination_account_id: opt_str(body, "origination_account_id").map(str::to_owned),
            names_platform_ids: opt_str(body, "originator_client_id").is_some()
                || opt_str(body, "funding_account_id").is_some(),
        })
    }

    fn matches(&self, t: &Transfer) -> bool {
        !self.names_platform_ids
            && self.start.is_none_or(|start| t.created >= start)
            && self.end.is_none_or(|end| t.created <= end)
            && self.origination_account_id.as_deref().is_none_or(str::is_empty)
    }
}

pub fn transfer_list(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let filter = TransferFilter::from_body(body)?;
    let mut transfers: Vec<&Transfer> = ctx.state.transfers.values().filter(|t| filter.matches(t)).collect();
    // Newest first; the id breaks ties within one second so pages are stable.
    transfers.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    let (transfers, _) = page(transfers, body);
    Ok(json!({"transfers": transfers.into_iter().map(transfer_json).collect::<Vec<_>>()}))
}

pub fn event_list(ctx: &mut Ctx<'_>, body: &Body) -> Result<Value, PlaidError> {
    let filter = TransferFilter::from_body(body)?;
    let transfer_id = opt_str(body, "transfer_id");
    let account_id = opt_str(body, "account_id");
    let transfer_type = opt_str(body, "transfer_type");
    let event_types: Option<Vec<&str>> =
        body.get("event_types").and_then(Value::as_array).map(|types| types.iter().filter_map(Value::as_str).collect());
    // Every simulated event belongs to a transfer; none to a sweep.
    let names_sweep = opt_str(body, "sweep_id").is_some();
    let events: Vec<Value> = ctx
        .state
        .events
        .iter()
        .rev()
        .filter(|e| {
            !names_sweep
                && transfer_id.is_none_or(|id| e.transfer_id == id)
                && account_id.is_none_or(|id| e.account_id == id)
                && transfer_type.is_none_or(|ty| e.transfer_type == ty)
                && event_types.as_ref().is_none_or(|types| types.contains(&e.event_type.as_str()))
                && ctx.state.transfers.get(&e.transfer_id).is_some_and(|t| filter.matches(t))
        })
        .map(event_json)
        .collect();
    let (events, has_more) = page(events, body);
    Ok(json!({"transfer_events": events, "has_more": has_more}))
}
