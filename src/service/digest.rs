//! The Digest: tier-1 transfers executed without waiting for a human (an explicit, capped policy
//! rule allowed it), reviewed afterwards. An approver acknowledges each or flags it; a flag alerts
//! the team. Every review is audited in the transaction that stores it.

use super::approvers::ApproverSession;
use super::review::{account_label, AccountLabel};
use super::{now_ms, trail, Context};
use crate::audit;
use crate::domain::{Money, RequestId, Tier};
use crate::error::{Error, Result};
use crate::store::approvers;
use crate::store::digest::{self, NewReview, Review};
use crate::store::requests::{self, RequestRecord};

pub struct DigestRow {
    pub record: RequestRecord,
    pub amount: Money,
    pub label: AccountLabel,
    pub review: Option<Review>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Acknowledged,
    Flagged,
}

impl Verdict {
    pub fn parse(text: &str) -> Option<Verdict> {
        match text {
            "acknowledge" | "acknowledged" => Some(Verdict::Acknowledged),
            "flag" | "flagged" => Some(Verdict::Flagged),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Acknowledged => "acknowledged",
            Verdict::Flagged => "flagged",
        }
    }
}

async fn may_review(ctx: &Context, who: &ApproverSession, record: &RequestRecord) -> Result<bool> {
    Ok(who.approver.has_role("approver")
        && approvers::may_approve_for(ctx.store.reader(), &who.approver, &record.item_id).await?)
}

/// Tier-1 requests this approver may see, unreviewed first, newest first within each.
pub async fn list(ctx: &Context, who: &ApproverSession) -> Result<Vec<DigestRow>> {
    let mut rows = Vec::new();
    for record in requests::of_tier(ctx.store.reader(), Tier::Notify, 200).await? {
        if !may_review(ctx, who, &record).await? {
            continue;
        }
        let review = digest::review_of(ctx.store.reader(), record.id.as_str()).await?;
        let label = account_label(ctx, &record.item_id, &record.account_id).await?;
        let amount = Money::from_cents(record.amount_cents).unwrap_or(Money::ZERO);
        rows.push(DigestRow { record, amount, label, review });
    }
    rows.sort_by_key(|row| row.review.is_some());
    Ok(rows)
}

/// Acknowledges or flags one tier-1 request, once, audited; a flag alerts the team.
pub async fn review(ctx: &Context, who: &ApproverSession, id: &RequestId, verdict: Verdict, note: &str) -> Result<()> {
    let note = Some(note.trim()).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 500) {
        return Err(Error::bad_request("note_too_long", "a note is at most 500 characters"));
    }
    if verdict == Verdict::Flagged && note.is_none() {
        return Err(Error::bad_request("flag_reason_required", "say what is wrong when you flag a transfer"));
    }
    let record = requests::find(ctx.store.reader(), id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
    if !may_review(ctx, who, &record).await? {
        return Err(Error::not_found("transfer request"));
    }
    if record.tier != Tier::Notify {
        return Err(Error::conflict("not_in_digest", "only tier-1 transfers are reviewed in the Digest"));
    }
    let now = now_ms();
    let mut tx = ctx.store.begin().await?;
    let new = NewReview {
        request_id: record.id.as_str(),
        approver_id: who.approver.id.as_str(),
        verdict: verdict.as_str(),
        note,
        now_ms: now,
    };
    match digest::insert(&mut tx, new).await {
        Err(e) if e.is_unique_violation() => {
            return Err(Error::conflict("already_reviewed", "this transfer was already reviewed"))
        }
        other => other?,
    }
    let outcome = match verdict {
        Verdict::Acknowledged => "success",
        Verdict::Flagged => "flagged",
    };
    let mut fields = trail::for_request(&record, &format!("digest.{}", verdict.as_str()), outcome, now);
    fields.approver_id = Some(who.approver.id.to_string());
    fields.approval_timestamp = Some(now);
    audit::append(&mut tx, fields).await?;
    if verdict == Verdict::Flagged {
        alert_team_of_flagged_transfer(&mut tx, &record, who, now).await?;
    }
    ctx.store.commit(tx).await?;
    Ok(())
}

/// Alerts the team (through the outbox, in the review's transaction) that a tier-1 transfer was
/// flagged. Names the request, the amount and who flagged it — never the note or the counterparty.
async fn alert_team_of_flagged_transfer(
    tx: &mut crate::store::Tx,
    record: &RequestRecord,
    who: &ApproverSession,
    now: i64,
) -> Result<()> {
    let amount = crate::domain::Money::from_cents(record.amount_cents).map(|m| m.to_human()).unwrap_or_default();
    let headline = format!(
        "{} flagged tier-1 transfer {} ({amount}) in the Digest: it ran without an approval; look at it now",
        who.approver.username, record.id
    );
    crate::notify::alerts::enqueue_notice(tx, "digest.flagged", &headline, now).await?;
    Ok(())
}
