//! Approvers decide: approval tokens (with TOTP step-up), approve (quorum, separation of duties),
//! reject, and approve with edits (a new request version; earlier approvals stop counting).
//!
//! Every refusal has its own code. Every decision locks the request row first, so racing
//! approvers serialize and the quorum count sees all committed approvals.

use super::approvers::{check_code, fail, ApproverSession};
use super::authorize::{authorize, Authorized};
use super::cancel::release_authorization;
use super::propose::{insert_proposed, NewVersion};
use super::signin::Attempt;
use super::{execute, now_ms, trail, Context};
use crate::audit;
use crate::auth::approval_token::{self, Binding, TokenRejection};
use crate::auth::millis;
use crate::domain::intent::Description;
use crate::domain::username;
use crate::domain::{Assessment, Event, Money, RequestId, RequestState, Tier, TransferIntent};
use crate::error::{Error, Result};
use crate::store::approvals::{self, ApprovalRecord, NewApproval};
use crate::store::requests::{self, Changes, Joined, RequestRecord};
use crate::store::{admin, approvers, transitions, Tx};
use axum::http::StatusCode;

pub struct TokenGrant {
    pub approval_token: String,
    pub expires_at: i64,
    pub step_up: bool,
}

/// The request, if this approver may decide on it at all.
pub(crate) async fn load_for(ctx: &Context, who: &ApproverSession, id: &RequestId) -> Result<RequestRecord> {
    may_decide(ctx, who, requests::find(ctx.store.reader(), id).await?).await
}

/// A request as read (None: there is none), if this approver may decide on it at all.
async fn may_decide(ctx: &Context, who: &ApproverSession, found: Option<RequestRecord>) -> Result<RequestRecord> {
    let record = found.ok_or_else(|| Error::not_found("transfer request"))?;
    if !who.approver.has_role("approver") {
        return Err(Error::forbidden("not_an_approver", "this account does not have the approver role"));
    }
    if !approvers::may_approve_for(ctx.store.reader(), &who.approver, &record.item_id).await? {
        return Err(Error::forbidden("approver_not_allowed", "you may not approve transfers for this item"));
    }
    let owner = record.agent_owner.as_deref().ok_or_else(|| anyhow::anyhow!("agent missing"))?;
    if username::same(owner, &who.approver.username) {
        return Err(Error::forbidden("owner_cannot_approve", "you own the agent that proposed this transfer"));
    }
    Ok(record)
}

/// Still waiting for approvals, inside its window.
/// An expired request is refused as `window_passed`, never `already_decided`: nobody decided it.
pub(super) fn check_open(record: &RequestRecord, now: i64) -> Result<()> {
    let window_passed = || Error::conflict("window_passed", "Plaid's authorization window for this request has passed");
    if record.state == RequestState::Expired {
        return Err(window_passed());
    }
    if record.state != RequestState::PendingApproval {
        return Err(Error::conflict("already_decided", format!("the request is already {}", record.state)));
    }
    if record.expires_at.is_none_or(|at| at <= now) {
        return Err(window_passed());
    }
    Ok(())
}

fn pinned_hash(record: &RequestRecord) -> Result<&str> {
    record
        .payload_hash
        .as_deref()
        .ok_or_else(|| Error::conflict("already_decided", "the request has no pinned payload"))
}

fn needs_recent_sign_in(record: &RequestRecord) -> bool {
    record.tier == Tier::MultiParty || record.approvals_required > 1
}

/// Step 1 of approving: prove presence (TOTP when step-up applies) and get a 2-minute,
/// single-use token bound to what you were shown.
pub async fn issue_token(
    ctx: &Context,
    who: &ApproverSession,
    id: &RequestId,
    shown_hash: &str,
    code: Option<&str>,
) -> Result<TokenGrant> {
    let found = requests::find(ctx.store.reader(), id).await?;
    issue_token_on(ctx, who, found, shown_hash, code).await
}

/// [`issue_token`] for the request as read with the approver's session
/// (`approvers::authenticate_with_request`; None: there is no such request).
pub async fn issue_token_on(
    ctx: &Context,
    who: &ApproverSession,
    found: Option<RequestRecord>,
    shown_hash: &str,
    code: Option<&str>,
) -> Result<TokenGrant> {
    let now = now_ms();
    let record = may_decide(ctx, who, found).await?;
    let id = &record.id;
    check_open(&record, now)?;
    let pinned = pinned_hash(&record)?;
    if shown_hash != pinned {
        return Err(payload_mismatch());
    }
    // A quorum of one is met by the approval that would be on record, in the same transaction:
    // a request still pending has none, so only a larger quorum needs them read.
    if record.approvals_required > 1 {
        let already = approvals::for_request(ctx.store.reader(), id).await?;
        if already.iter().any(|a| a.approver_id == who.approver.id) {
            return Err(Error::conflict("already_approved", "you already approved this request"));
        }
    }
    super::approver_groups::check_early(&ctx.store, &record, &who.approver.id, pinned).await?;
    if needs_recent_sign_in(&record) && now - who.session.authenticated_at > millis(ctx.sessions.recent_auth) {
        return Err(Error::client(
            StatusCode::UNAUTHORIZED,
            "reauthentication_required",
            "multi-party approvals need a sign-in within the last 15 minutes; sign in again",
        ));
    }
    let step_up = match (record.step_up, code) {
        (false, _) => None,
        (true, None) => return Err(Error::bad_request("totp_required", "this amount needs a fresh TOTP code")),
        (true, Some(code)) => {
            // Reserved before the code is checked, so concurrent guesses can't exceed the limit.
            let attempt = Attempt::step_up(ctx, &who.approver.id);
            attempt.reserve(ctx, now).await?;
            Some((attempt, code))
        }
    };
    let mut fields = trail::for_request(&record, "approval_token.issued", "success", now);
    fields.approver_id = Some(who.approver.id.to_string());
    let Some((attempt, code)) = step_up else {
        transitions::audit_alone(&ctx.store, vec![audit::identified(fields)]).await?;
        return grant(ctx, who, &record, pinned, now);
    };
    let mut tx = ctx.store.begin().await?;
    let step = match check_code(ctx, &who.approver, code, now) {
        Ok(step) => step,
        Err(reason) => {
            drop(tx);
            return Err(fail(ctx, &who.approver, "approval_token.step_up", reason, now).await);
        }
    };
    if !approvers::advance_totp_step(&mut tx, &who.approver.id, step).await? {
        drop(tx);
        return Err(fail(ctx, &who.approver, "approval_token.step_up", "totp_reused", now).await);
    }
    attempt.release(&mut tx).await?;
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    grant(ctx, who, &record, pinned, now)
}

/// The token itself, once its issue is on record.
fn grant(ctx: &Context, who: &ApproverSession, record: &RequestRecord, pinned: &str, now: i64) -> Result<TokenGrant> {
    let binding = binding(who, &record.id, pinned);
    let (token, claims) =
        approval_token::mint(&ctx.approval_key, &binding, record.step_up, now / 1000, approval_token::MAX_TTL_SECONDS)?;
    Ok(TokenGrant { approval_token: token, expires_at: claims.exp * 1000, step_up: claims.step_up })
}

fn binding<'a>(who: &'a ApproverSession, id: &'a RequestId, hash: &'a str) -> Binding<'a> {
    Binding {
        approver_id: who.approver.id.as_str(),
        request_id: id.as_str(),
        payload_hash: hash,
        session_id: &who.session.id,
    }
}

fn payload_mismatch() -> Error {
    Error::conflict("payload_hash_mismatch", "the request changed since you looked at it; review it again")
}

fn token_error(rejection: TokenRejection) -> Error {
    match rejection {
        TokenRejection::WrongPayloadHash => payload_mismatch(),
        other => Error::forbidden(other.code(), "the approval token is not valid for this action; request a new one"),
    }
}

/// Verifies an approval token for this approver, request and pinned hash.
fn verify_token(
    ctx: &Context,
    who: &ApproverSession,
    record: &RequestRecord,
    token: &str,
    now: i64,
) -> Result<approval_token::ApprovalClaims> {
    let pinned = pinned_hash(record)?;
    let claims = approval_token::verify(&ctx.approval_key, token, &binding(who, &record.id, pinned), now / 1000)
        .map_err(token_error)?;
    if record.step_up && !claims.step_up {
        return Err(Error::forbidden(
            "step_up_required",
            "this amount needs an approval token minted with a TOTP code",
        ));
    }
    Ok(claims)
}

/// Marks the token used; a second use of the same token is refused.
async fn spend_token(
    tx: &mut Tx,
    claims: &approval_token::ApprovalClaims,
    who: &ApproverSession,
    id: &RequestId,
    now: i64,
) -> Result<()> {
    // A deactivated approver's unspent tokens are void, even if this request authenticated a
    // moment before the deactivation committed.
    if !admin::hold_active_approver(tx, &who.approver.id).await? {
        return Err(Error::forbidden(
            "approval_token_voided",
            "this approver was deactivated; their approval tokens are void",
        ));
    }
    match approvals::use_token(tx, &claims.jti, &who.approver.id, id, now).await {
        Err(e) if e.is_unique_violation() => {
            Err(Error::conflict("approval_token_reused", "this approval token was already used"))
        }
        other => Ok(other?),
    }
}

/// Locks a pending request for a decision; refuses if someone decided first or the window passed.
async fn lock_open(tx: &mut Tx, id: &RequestId, now: i64) -> Result<RequestRecord> {
    let Some(current) = requests::lock_in_state(tx, id, RequestState::PendingApproval, now).await? else {
        let current = requests::find_in(tx, id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
        check_open(&current, now)?;
        return Err(Error::conflict("already_decided", format!("the request is already {}", current.state)));
    };
    check_open(&current, now)?;
    Ok(current)
}

/// Where one approval leaves the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quorum {
    Waiting,
    /// Approved and claimed for execution in the same transaction: the caller creates the
    /// transfer once it has committed.
    Claimed,
}

/// Records one approval and, when the quorum is met, moves the request on to `executing`:
/// approved and claimed in one compare-and-set. `record` was locked and found open (inside its
/// window at `now`) by [`lock_open`] in this transaction.
async fn record_approval(
    tx: &mut Tx,
    record: &RequestRecord,
    who: &ApproverSession,
    claims: &approval_token::ApprovalClaims,
    now: i64,
) -> Result<Quorum> {
    let pinned = pinned_hash(record)?;
    super::approver_groups::check_may_fill(tx, record, &who.approver.id, pinned).await?;
    let approval = NewApproval {
        request_id: &record.id,
        approver_id: &who.approver.id,
        payload_hash: pinned,
        step_up_at: claims.step_up.then_some(claims.iat * 1000),
        token_jti: &claims.jti,
        now_ms: now,
    };
    match approvals::insert(tx, approval).await {
        Err(e) if e.is_unique_violation() => {
            return Err(Error::conflict("already_approved", "you already approved this request"))
        }
        other => other?,
    }
    let mut fields = trail::for_request(record, "transfer.approval", "success", now);
    fields.approver_id = Some(who.approver.id.to_string());
    fields.approval_timestamp = Some(now);
    audit::append(tx, fields).await?;

    // This approval, just inserted for the pinned hash, counts; only a larger quorum needs the
    // others counted (a query fewer on the common path).
    if record.approvals_required > 1 {
        let counted =
            approvals::for_request_in(tx, &record.id).await?.iter().filter(|a| a.payload_hash == pinned).count();
        if (counted as i64) < record.approvals_required {
            return Ok(Quorum::Waiting);
        }
    }
    let approved = record.state.apply(Event::QuorumMet).map_err(anyhow::Error::from)?;
    let target = approved.apply(Event::Claimed).map_err(anyhow::Error::from)?;
    if !requests::transition(tx, &record.id, &[RequestState::PendingApproval], target, &Changes::default(), now).await?
    {
        return Err(Error::conflict("already_decided", "the request was decided concurrently"));
    }
    let mut fields = trail::for_request(record, "transfer.approved", "success", now);
    fields.approver_id = Some(who.approver.id.to_string());
    fields.approval_timestamp = Some(now);
    audit::append(tx, fields).await?;
    audit::append(tx, execute::claim_record(record, now)).await?;
    super::events::approved(tx, &record.id, now).await?;
    Ok(Quorum::Claimed)
}

/// A request just approved, as the approver sees it next.
pub struct Approved {
    pub record: RequestRecord,
    /// Its approvals, when this call knows them without a read: its own approval met a quorum of
    /// one, so it is the only approval of the pinned payload.
    pub approvals: Option<Vec<ApprovalRecord>>,
}

impl Approved {
    /// The approver's view of it (reads the approvals only when they are not known).
    pub async fn view(self, ctx: &Context) -> Result<super::view::ApproverRequestView> {
        match self.approvals {
            Some(approvals) => Ok(super::view::ApproverRequestView::new(&self.record, &approvals)),
            None => view_of(ctx, &self.record).await,
        }
    }
}

pub async fn approve(ctx: &Context, who: &ApproverSession, id: &RequestId, token: &str) -> Result<Approved> {
    approve_on(ctx, who, requests::find(ctx.store.reader(), id).await?, token).await
}

/// [`approve`] for the request as read with the approver's session
/// (`approvers::authenticate_with_request`; None: there is no such request).
pub async fn approve_on(
    ctx: &Context,
    who: &ApproverSession,
    found: Option<RequestRecord>,
    token: &str,
) -> Result<Approved> {
    let now = now_ms();
    let record = may_decide(ctx, who, found).await?;
    let id = &record.id;
    let claims = verify_token(ctx, who, &record, token, now)?;
    if super::approve_whole::approve_whole(ctx, who, &record, &claims, now).await? {
        record_decision_time(ctx, &record, "approved", now);
        let approval = ApprovalRecord {
            approver_id: who.approver.id.clone(),
            username: who.approver.username.clone(),
            payload_hash: claims.payload_hash.clone(),
            step_up_at: claims.step_up.then_some(claims.iat * 1000),
            created_at: now,
        };
        let record = match execute::create(ctx, &record, execute::Attempt::First, now).await? {
            execute::Created::Submitted(after) => *after,
            _ => requests::find(ctx.store.reader(), id).await?.ok_or_else(|| Error::not_found("transfer request"))?,
        };
        return Ok(Approved { record, approvals: Some(vec![approval]) });
    }
    let mut tx = ctx.store.begin().await?;
    let current = lock_open(&mut tx, id, now).await?;
    if current.payload_hash.as_deref() != Some(claims.payload_hash.as_str()) {
        return Err(payload_mismatch());
    }
    spend_token(&mut tx, &claims, who, id, now).await?;
    let quorum = record_approval(&mut tx, &current, who, &claims, now).await?;
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    if quorum == Quorum::Claimed {
        record_decision_time(ctx, &current, "approved", now);
        execute::create(ctx, &current, execute::Attempt::First, now).await?;
    }
    let record = requests::find(ctx.store.reader(), id).await?.ok_or_else(|| Error::not_found("transfer request"))?;
    Ok(Approved { record, approvals: None })
}

pub async fn reject(ctx: &Context, who: &ApproverSession, id: &RequestId, reason: &str) -> Result<RequestRecord> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::bad_request("reason_required", "give a reason (1 to 500 characters) for rejecting"));
    }
    let now = now_ms();
    load_for(ctx, who, id).await?;
    let mut tx = ctx.store.begin().await?;
    let current = lock_open(&mut tx, id, now).await?;
    let changes = Changes { rejection_reason: Some(reason.to_owned()), ..Changes::default() };
    let target = current.state.apply(Event::Rejected).map_err(anyhow::Error::from)?;
    requests::transition(&mut tx, id, &[RequestState::PendingApproval], target, &changes, now).await?;
    let mut fields = trail::for_request(&current, "transfer.rejected", "rejected_by_human", now);
    fields.approver_id = Some(who.approver.id.to_string());
    fields.approval_timestamp = Some(now);
    audit::append(&mut tx, fields).await?;
    super::events::request_changed(ctx, &mut tx, id, now).await?;
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    record_decision_time(ctx, &current, "rejected", now);
    release_authorization(ctx, &current).await;
    requests::find(ctx.store.reader(), id).await?.ok_or_else(|| Error::not_found("transfer request"))
}

/// How long the request waited in `pending_approval` (entered when Plaid's authorization came
/// back) for this decision, for `/metrics`.
fn record_decision_time(ctx: &Context, record: &RequestRecord, decision: &str, now: i64) {
    if let Some(pending_since) = record.authorized_at {
        ctx.metrics.decided(decision, now - pending_since);
    }
}

/// What an approver may change: a lower amount and/or another description.
pub struct Edit<'a> {
    pub amount: Option<&'a str>,
    pub description: Option<&'a str>,
}

/// Approve with edits: the old version is superseded (its approvals stop counting and its
/// authorization is cancelled), a new version gets its own Plaid authorization and hash, and the
/// editor's approval counts for it.
pub async fn edit(
    ctx: &Context,
    who: &ApproverSession,
    id: &RequestId,
    token: &str,
    edit: Edit<'_>,
) -> Result<RequestRecord> {
    let now = now_ms();
    let record = load_for(ctx, who, id).await?;
    let claims = verify_token(ctx, who, &record, token, now)?;
    let old_intent =
        TransferIntent::from_json(&record.intent).map_err(|e| anyhow::anyhow!("stored intent: {}", e.message))?;
    let new_intent = edited(&old_intent, &edit)?;

    let mut tx = ctx.store.begin().await?;
    let current = lock_open(&mut tx, id, now).await?;
    spend_token(&mut tx, &claims, who, id, now).await?;
    let target = current.state.apply(Event::Edited).map_err(anyhow::Error::from)?;
    requests::transition(&mut tx, id, &[RequestState::PendingApproval], target, &Changes::default(), now).await?;
    let mut fields = trail::for_request(&current, "transfer.superseded", "success", now);
    fields.approver_id = Some(who.approver.id.to_string());
    audit::append(&mut tx, fields).await?;
    super::events::request_changed(ctx, &mut tx, id, now).await?;
    let replaced =
        Assessment::stored(current.tier, current.step_up, current.approvals_required, current.approver_groups.clone());
    let version = NewVersion {
        intent: &new_intent,
        supersedes: Some(id),
        renews: None,
        version: current.version + 1,
        replaces: Some(&replaced),
        joined: Joined {
            plaid_item_id: current.plaid_item_id.clone(),
            item_health: current.item_health.clone(),
            agent_owner: current.agent_owner.clone(),
        },
    };
    let new = insert_proposed(&mut tx, ctx, version, now).await?.map_err(|denial| denial.to_error())?;
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    release_authorization(ctx, &current).await;

    if let Authorized::Settled { record: settled, .. } = authorize(ctx, &new, None, None).await? {
        if settled.state == RequestState::PendingApproval {
            let now = now_ms();
            let mut tx = ctx.store.begin().await?;
            let locked = lock_open(&mut tx, &settled.id, now).await?;
            let new_claims =
                approval_token::ApprovalClaims { payload_hash: pinned_hash(&locked)?.to_owned(), ..claims };
            let quorum = record_approval(&mut tx, &locked, who, &new_claims, now).await?;
            ctx.store.commit(tx).await?;
            ctx.notify_change();
            if quorum == Quorum::Claimed {
                execute::create(ctx, &locked, execute::Attempt::First, now).await?;
            }
        }
    }
    requests::find(ctx.store.reader(), &new.id).await?.ok_or_else(|| Error::not_found("transfer request"))
}

fn edited(old: &TransferIntent, edit: &Edit<'_>) -> Result<TransferIntent> {
    let mut new = old.clone();
    if let Some(amount) = edit.amount {
        let amount = Money::parse(amount.trim()).map_err(|e| Error::unprocessable("invalid_amount", e.to_string()))?;
        if amount.is_zero() || amount > old.amount {
            return Err(Error::unprocessable("invalid_amount", "an edit may only lower the amount (and not to zero)"));
        }
        new.amount = amount;
    }
    if let Some(description) = edit.description {
        new.description =
            Description::parse(description, new.network).map_err(|e| Error::unprocessable(e.code, e.message))?;
    }
    if &new == old {
        return Err(Error::unprocessable("nothing_to_edit", "give a lower amount or a new description"));
    }
    Ok(new)
}

/// The approver's inbox: pending requests they may decide, soonest expiry first.
pub async fn inbox(ctx: &Context, who: &ApproverSession) -> Result<Vec<super::view::ApproverRequestView>> {
    let mut views = Vec::new();
    for record in requests::pending(ctx.store.reader(), now_ms(), 200).await? {
        if load_for(ctx, who, &record.id).await.is_ok() {
            let approvals = approvals::for_request(ctx.store.reader(), &record.id).await?;
            views.push(super::view::ApproverRequestView::new(&record, &approvals));
        }
    }
    Ok(views)
}

/// One request as an approver sees it, with its approvals.
pub async fn show(ctx: &Context, who: &ApproverSession, id: &RequestId) -> Result<super::view::ApproverRequestView> {
    let record = load_for(ctx, who, id).await?;
    view_of(ctx, &record).await
}

/// The view of a request the caller has just decided on (and so may see).
pub async fn view_of(ctx: &Context, record: &RequestRecord) -> Result<super::view::ApproverRequestView> {
    let approvals = approvals::for_request(ctx.store.reader(), &record.id).await?;
    Ok(super::view::ApproverRequestView::new(record, &approvals))
}
