//! Context against rubber-stamping, for the request page: the agent's last 30 days, earlier
//! requests on the same account, and the other debits still to come off that account with the
//! balance after all of them (a $50,000 debit must not read "$50,000 → $0.00" while $25,000 just
//! left). Read-only.

use super::{now_ms, Context};
use crate::domain::Money;
use crate::error::Result;
use crate::store::desk;
pub use crate::store::desk::AgentRecord;
use crate::store::requests::RequestRecord;

/// How far back the agent's record looks.
pub const AGENT_DAYS: i64 = 30;
/// How many earlier requests on the account the page lists.
const EARLIER: i64 = 5;

pub struct RequestContext {
    pub agent: AgentRecord,
    /// Earlier requests on this account, newest first.
    pub earlier: Vec<RequestRecord>,
    /// Other debits on this account that have not moved yet but may (oldest first).
    pub other_debits: Vec<RequestRecord>,
    pub other_debits_cents: i64,
    /// The available balance after this request and every other debit still to come (cents, may
    /// be negative); `None` when Plaid gave no balance.
    pub balance_after_all_cents: Option<i64>,
}

fn is_debit(record: &RequestRecord) -> bool {
    record.intent.get("type").and_then(|t| t.as_str()) == Some("debit")
}

/// The context of `record`, given the account's available balance now when known.
pub async fn of(ctx: &Context, record: &RequestRecord, available: Option<Money>) -> Result<RequestContext> {
    let pool = ctx.store.reader();
    let since = record.created_at.min(now_ms()) - AGENT_DAYS * 24 * 60 * 60 * 1000;
    let agent = desk::agent_record_since(pool, &record.agent_id, since).await?;
    let earlier =
        desk::earlier_on_account(pool, &record.item_id, &record.account_id, record.created_at, EARLIER).await?;
    let other_debits: Vec<RequestRecord> =
        desk::still_to_move_on_account(pool, &record.item_id, &record.account_id, now_ms())
            .await?
            .into_iter()
            .filter(|other| other.id != record.id && is_debit(other))
            .collect();
    let other_debits_cents = other_debits.iter().map(|r| r.amount_cents).sum();
    let this = if is_debit(record) { -record.amount_cents } else { record.amount_cents };
    let balance_after_all_cents = available.map(|before| before.cents() + this - other_debits_cents);
    Ok(RequestContext { agent, earlier, other_debits, other_debits_cents, balance_after_all_cents })
}
