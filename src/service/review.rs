//! What an approver reads before deciding: the inbox rows and the request page — the change in
//! plain words, the account, live balances, Plaid's decision, the policy's reasons, the agent and
//! its stated reason. Read-only; deciding is `decide`'s job.

use super::view::ApproverRequestView;
use super::{balances, decide, now_ms, Context};
use crate::domain::{ItemId, Money, RequestId, RequestState};
use crate::error::Result;
use crate::service::approvers::ApproverSession;
use crate::store::requests::{self, RequestRecord};
use crate::store::{agents, items};
use serde_json::Value;

/// The account a request moves money in or out of, as people know it.
#[derive(Debug, Clone)]
pub struct AccountLabel {
    /// "Plaid Checking ••0000"
    pub account: String,
    pub institution: String,
}

/// "Plaid Checking ••0000" at "First Platypus Bank"; falls back to a masked id.
pub async fn account_label(ctx: &Context, item_id: &ItemId, account_id: &str) -> Result<AccountLabel> {
    let institution = items::find(ctx.store.reader(), item_id)
        .await?
        .and_then(|item| item.institution_name)
        .unwrap_or_else(|| "an unnamed institution".into());
    let accounts = items::accounts(ctx.store.reader(), item_id).await?;
    let account = match accounts.iter().find(|a| a.account_id == account_id) {
        Some(a) => match &a.mask {
            Some(mask) => format!("{} ••{mask}", a.name),
            None => a.name.clone(),
        },
        None => crate::audit::mask_account(account_id),
    };
    Ok(AccountLabel { account, institution })
}

fn text<'a>(intent: &'a Value, key: &str) -> &'a str {
    intent.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A request's state and window, for the request page's live script (same authorization as the page).
pub async fn status(ctx: &Context, who: &ApproverSession, id: &RequestId) -> Result<RequestRecord> {
    decide::load_for(ctx, who, id).await
}

/// Everything the request page shows.
pub struct Review {
    pub view: ApproverRequestView,
    pub record: RequestRecord,
    pub amount: Money,
    pub label: AccountLabel,
    pub balance_before: Option<Money>,
    /// Cents, may be negative when the debit is larger than the balance.
    pub balance_after_cents: Option<i64>,
    pub agent_name: String,
    /// First transfer to the account, a look-alike, most of the balance, a broken login (approving
    /// into a broken login would only fail at execution).
    pub flags: super::flags::Flags,
    /// The agent's record, earlier requests on the account, other debits still to come.
    pub context: super::context::RequestContext,
    /// Who rejected it and when (from the audit trail), for a rejected request.
    pub rejected_by: Option<(String, i64)>,
    /// The version that replaced it (an edit or a renewal), if any.
    pub replaced_by: Option<String>,
    /// Whether this approver's decision is still wanted (pending, inside the window).
    pub open: bool,
    pub already_approved_by_me: bool,
    /// A recurring transfer: the whole schedule in words, and what Plaid made of it.
    pub recurring: Option<super::view::RecurringView>,
}

pub async fn review(ctx: &Context, who: &ApproverSession, id: &RequestId) -> Result<Review> {
    let view = decide::show(ctx, who, id).await?;
    let record = requests::find(ctx.store.reader(), id)
        .await?
        .ok_or_else(|| crate::error::Error::not_found("transfer request"))?;
    let amount = Money::from_cents(record.amount_cents).unwrap_or(Money::ZERO);
    let label = account_label(ctx, &record.item_id, &record.account_id).await?;
    let open = record.state == RequestState::PendingApproval && record.expires_at.is_some_and(|at| at > now_ms());
    // Live balance only while it matters: a decided request's page needn't call Plaid.
    let balance_before = if open { balances::available(ctx, &record.item_id, &record.account_id).await } else { None };
    let debit = text(&record.intent, "type") == "debit";
    let balance_after_cents =
        balance_before.map(
            |before| {
                if debit {
                    before.cents() - amount.cents()
                } else {
                    before.cents() + amount.cents()
                }
            },
        );
    let agent_name = agents::find(ctx.store.reader(), &record.agent_id).await?.map(|a| a.name).unwrap_or_default();
    let already_approved_by_me = view.approvals.iter().any(|a| a.approver_id == who.approver.id.as_str());
    let flags = super::flags::of(ctx, &record, balance_before).await?;
    let context = super::context::of(ctx, &record, balance_before).await?;
    let rejected_by =
        if record.state == RequestState::Rejected { super::history::rejected_by(ctx, &record.id).await? } else { None };
    let replaced_by = super::history::replaced_by(ctx, &record.id).await?;
    let recurring = super::recurring::view(ctx, &record).await?;
    Ok(Review {
        view,
        record,
        amount,
        label,
        balance_before,
        balance_after_cents,
        agent_name,
        flags,
        context,
        rejected_by,
        replaced_by,
        open,
        already_approved_by_me,
        recurring,
    })
}
