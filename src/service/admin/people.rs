//! Administering approvers: list, add (with an enrollment link), deactivate, reset TOTP, clear a
//! sign-in throttle, revoke sessions.
//!
//! Deactivating revokes the approver's sessions in the same transaction, so their unspent approval
//! tokens (bound to a session) are void at once; a decision already past authentication is
//! stopped too, because `decide` holds the approver's row while it spends a token. Approvals they
//! already gave stay, as the audit trail recorded them.

use super::{begin, format_opt, record, Actor};
use crate::audit;
use crate::domain::ApproverId;
use crate::error::{Error, Result};
use crate::service::approvers::{approver_event, insert_planned, plan_approver};
use crate::service::{enrollment, format_ms, now_ms, signin, Context};
use crate::store::admin::{self, ApproverSummary};
use crate::store::{approvers, Tx};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ApproverAdminView {
    pub id: String,
    pub username: String,
    pub roles: Vec<String>,
    /// The items whose accounts they may approve for; `null`: every item.
    pub items: Option<Vec<String>>,
    pub active: bool,
    pub disabled_at: Option<String>,
    pub created_at: String,
    pub live_sessions: i64,
    /// Until when their sign-in or step-up is throttled, while it is.
    pub throttled_until: Option<String>,
}

impl From<ApproverSummary> for ApproverAdminView {
    fn from(a: ApproverSummary) -> Self {
        Self {
            id: a.id.to_string(),
            username: a.username,
            roles: a.roles,
            items: (!a.all_items).then(|| a.items.iter().map(ToString::to_string).collect()),
            active: a.disabled_at.is_none(),
            disabled_at: format_opt(a.disabled_at),
            created_at: format_ms(a.created_at),
            live_sessions: a.live_sessions,
            throttled_until: None,
        }
    }
}

pub async fn list_approvers(ctx: &Context, actor: Actor<'_>) -> Result<Vec<ApproverAdminView>> {
    actor.may_read()?;
    let now = now_ms();
    let mut views = Vec::new();
    for summary in admin::list_approvers(ctx.store.reader(), now).await? {
        let until = signin::throttled_until(ctx, &summary.username, &summary.id, now).await?;
        let mut view = ApproverAdminView::from(summary);
        view.throttled_until = format_opt(until);
        views.push(view);
    }
    Ok(views)
}

/// A one-time enrollment link's secret token (the page is `/ui/enroll/{token}`), shown once.
pub struct EnrollmentLink {
    pub approver_id: ApproverId,
    pub username: String,
    pub token: String,
    pub expires_at: i64,
}

impl EnrollmentLink {
    pub fn path(&self) -> String {
        format!("/ui/enroll/{}", self.token)
    }
}

/// Adds an approver who sets their own password and authenticator through an enrollment link.
pub async fn add_approver(
    ctx: &Context,
    actor: Actor<'_>,
    username: &str,
    role: &str,
    items: Option<&[String]>,
) -> Result<EnrollmentLink> {
    actor.may_read()?;
    let items = items.map(super::parse_items).transpose()?;
    let plan = plan_approver(&ctx.master_key, username, role, None, items.as_deref()).await?;
    let now = now_ms();
    let mut tx = begin(ctx, actor, now).await?;
    insert_planned(&mut tx, &plan, now).await?;
    let (token, expires_at) = enrollment::new_link(&mut tx, &plan.enrollment.id, now).await?;
    audit::append(&mut tx, record("admin.approver_added", actor, now)).await?;
    ctx.store.commit(tx).await?;
    Ok(EnrollmentLink { approver_id: plan.enrollment.id, username: plan.username, token, expires_at })
}

/// The approver named by id: looked up before the step-up, so a wrong id costs no code.
async fn subject(ctx: &Context, id: &ApproverId) -> Result<approvers::ApproverRecord> {
    approvers::find(ctx.store.reader(), id).await?.ok_or_else(|| Error::not_found("approver"))
}

/// The subject's own record beside the admin's, in the same transaction.
async fn audit_both(tx: &mut Tx, actor: Actor<'_>, subject: &ApproverId, event: &str, now: i64) -> Result<()> {
    audit::append(tx, approver_event(&format!("approver.{event}"), Some(subject), "success", None, now)).await?;
    audit::append(tx, record(&format!("admin.approver_{event}"), actor, now)).await?;
    Ok(())
}

/// Deactivates an approver: no more sign-ins, every session revoked, unspent approval tokens
/// void. Returns how many sessions were revoked.
pub async fn disable_approver(ctx: &Context, actor: Actor<'_>, id: &ApproverId) -> Result<u64> {
    actor.may_read()?;
    if actor.admin().is_some_and(|who| &who.approver.id == id) {
        return Err(Error::conflict("cannot_disable_self", "ask another admin to deactivate your own account"));
    }
    let now = now_ms();
    subject(ctx, id).await?;
    let mut tx = begin(ctx, actor, now).await?;
    if !admin::disable_approver(&mut tx, id, now).await? {
        return Err(Error::conflict("already_disabled", "this approver is already deactivated"));
    }
    let revoked = admin::revoke_sessions(&mut tx, id).await?;
    admin::void_enrollment_links(&mut tx, id, now).await?;
    audit_both(&mut tx, actor, id, "disabled", now).await?;
    ctx.store.commit(tx).await?;
    ctx.notify_change();
    Ok(revoked)
}

/// Replaces the approver's TOTP secret with one nobody has seen and ends their sessions: they
/// enroll again through the returned link (new password, new authenticator, first code).
pub async fn reset_totp(ctx: &Context, actor: Actor<'_>, id: &ApproverId) -> Result<EnrollmentLink> {
    actor.may_read()?;
    let secret = crate::auth::totp::TotpSecret::generate();
    let secret_enc = ctx.master_key.encrypt(&secret.to_base64())?;
    let now = now_ms();
    let approver = subject(ctx, id).await?;
    let mut tx = begin(ctx, actor, now).await?;
    if approver.disabled {
        return Err(Error::conflict("already_disabled", "this approver is deactivated"));
    }
    admin::replace_totp_secret(&mut tx, id, &secret_enc).await?;
    admin::revoke_sessions(&mut tx, id).await?;
    admin::void_enrollment_links(&mut tx, id, now).await?;
    let (token, expires_at) = enrollment::new_link(&mut tx, id, now).await?;
    audit_both(&mut tx, actor, id, "totp_reset", now).await?;
    ctx.store.commit(tx).await?;
    Ok(EnrollmentLink { approver_id: id.clone(), username: approver.username, token, expires_at })
}

/// Clears the approver's sign-in and step-up throttle. Returns whether anything was throttled.
pub async fn clear_throttle(ctx: &Context, actor: Actor<'_>, id: &ApproverId) -> Result<bool> {
    actor.may_read()?;
    let now = now_ms();
    let approver = subject(ctx, id).await?;
    let mut tx = begin(ctx, actor, now).await?;
    let cleared = signin::unlock_in(ctx, &mut tx, &approver.username).await?;
    audit::append(&mut tx, record("admin.approver_unlocked", actor, now)).await?;
    ctx.store.commit(tx).await?;
    Ok(cleared)
}

/// Revokes every session of the approver (signed out everywhere). Returns how many.
pub async fn revoke_sessions(ctx: &Context, actor: Actor<'_>, id: &ApproverId) -> Result<u64> {
    actor.may_read()?;
    let now = now_ms();
    subject(ctx, id).await?;
    let mut tx = begin(ctx, actor, now).await?;
    let revoked = admin::revoke_sessions(&mut tx, id).await?;
    audit_both(&mut tx, actor, id, "sessions_revoked", now).await?;
    ctx.store.commit(tx).await?;
    Ok(revoked)
}
