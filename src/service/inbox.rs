//! The approver's inbox: every pending request they may decide, with what they need to triage
//! it — counterparty, account, agent, the agent's reason, flags — split into "waiting for you"
//! and "waiting for others" (requests they already approved), and the next one after a decision.
//! Read-only; deciding is `decide`'s job (and `batch`'s, one decision at a time).

use super::approvers::ApproverSession;
use super::flags::{self, Flags};
use super::review::{account_label, AccountLabel};
use super::{balances, decide, now_ms, Context};
use crate::domain::{Money, RequestId, Tier};
use crate::error::Result;
use crate::store::requests::{self, RequestRecord};
use crate::store::{agents, approvals};

/// How many pending requests one inbox shows.
const LIMIT: i64 = 200;
/// How long the inbox waits for Plaid's balance of one item before showing the row without the
/// "most of the balance" flag.
const BALANCE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// One pending request as the inbox shows it.
pub struct InboxEntry {
    pub record: RequestRecord,
    pub amount: Money,
    pub label: AccountLabel,
    pub agent_name: String,
    pub approvals: usize,
    /// This approver already approved it: it waits for others.
    pub approved_by_me: bool,
    pub flags: Flags,
}

impl InboxEntry {
    /// Whether it may be approved from the inbox in a batch: tier 2 below the step-up amount, one
    /// approval needed (a fresh TOTP code or a quorum calls for a person on its own page).
    pub fn batchable(&self) -> bool {
        is_batchable(&self.record)
    }

    pub fn text(&self, key: &str) -> &str {
        self.record.intent.get(key).and_then(|v| v.as_str()).unwrap_or_default()
    }

    pub fn is_debit(&self) -> bool {
        self.text("type") != "credit"
    }

    /// The counterparty's legal name, as the agent wrote it.
    pub fn counterparty(&self) -> &str {
        self.record.intent.pointer("/user/legal_name").and_then(|v| v.as_str()).unwrap_or_default()
    }

    /// The first line of the agent's reason.
    pub fn reason_line(&self) -> &str {
        self.text("reason").lines().next().unwrap_or_default()
    }

    /// "Debit $1,250.00", "Credit $20.00".
    pub fn headline(&self) -> String {
        format!("{} {}", if self.is_debit() { "Debit" } else { "Credit" }, self.amount.to_human())
    }
}

/// The batch rule, also checked again when a batch is decided.
pub fn is_batchable(record: &RequestRecord) -> bool {
    record.tier == Tier::Approve && !record.step_up && record.approvals_required == 1
}

/// The pending requests this approver may decide (soonest deadline first), flagged.
pub async fn inbox(ctx: &Context, who: &ApproverSession) -> Result<Vec<InboxEntry>> {
    let mut entries = Vec::new();
    for record in requests::pending(ctx.store.reader(), now_ms(), LIMIT).await? {
        let Ok(record) = decide::load_for(ctx, who, &record.id).await else { continue };
        let given = approvals::for_request(ctx.store.reader(), &record.id).await?;
        // The balance only feeds a flag: the inbox never waits long on Plaid for it (cached 30 s).
        let available =
            tokio::time::timeout(BALANCE_WAIT, balances::available(ctx, &record.item_id, &record.account_id))
                .await
                .ok()
                .flatten();
        entries.push(InboxEntry {
            amount: Money::from_cents(record.amount_cents).unwrap_or(Money::ZERO),
            label: account_label(ctx, &record.item_id, &record.account_id).await?,
            agent_name: agents::find(ctx.store.reader(), &record.agent_id).await?.map(|a| a.name).unwrap_or_default(),
            approvals: given.len(),
            approved_by_me: given.iter().any(|a| a.approver_id == who.approver.id),
            flags: flags::of(ctx, &record, available).await?,
            record,
        });
    }
    Ok(entries)
}

/// The request to show after deciding `decided`: the next one waiting for this approver, soonest
/// deadline first; none when nothing else waits.
pub async fn next_after(ctx: &Context, who: &ApproverSession, decided: &RequestId) -> Result<Option<RequestId>> {
    for record in requests::pending(ctx.store.reader(), now_ms(), LIMIT).await? {
        if &record.id == decided || decide::load_for(ctx, who, &record.id).await.is_err() {
            continue;
        }
        let given = approvals::for_request(ctx.store.reader(), &record.id).await?;
        if !given.iter().any(|a| a.approver_id == who.approver.id) {
            return Ok(Some(record.id));
        }
    }
    Ok(None)
}
