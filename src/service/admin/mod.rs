//! Administration: approvers (add by enrollment link, deactivate, reset TOTP, clear a sign-in
//! throttle, revoke sessions), agents (add, rotate the API key with an overlap, disable, set the
//! granted items) and the items with their health.
//!
//! The web form and the JSON API act as an [`Actor::Admin`]: a signed-in approver with the
//! `admin` role who proves presence with a fresh TOTP code for every change (the step-up
//! throttle and single-use step of approvals). The CLI acts as the [`Actor::Operator`], who
//! already holds the database and the master key. Every change commits with its audit records
//! and the spent code in one transaction; a refused change changes nothing.

mod agents;
mod people;

pub use agents::{add_agent, disable_agent, list_agents, rotate_key, set_agent_items, AgentAdminView, RotatedKey};
pub use people::{
    add_approver, clear_throttle, disable_approver, list_approvers, reset_totp, revoke_sessions, ApproverAdminView,
    EnrollmentLink,
};

use super::approvers::{approver_event, check_code, fail, ApproverSession};
use super::registry::{self, ItemView};
use super::signin::Attempt;
use super::{format_ms, Context};
use crate::audit::AuditFields;
use crate::domain::ItemId;
use crate::error::{Error, Result};
use crate::store::{approvers, items, Tx};

/// Who makes an administrative change.
#[derive(Clone, Copy)]
pub enum Actor<'a> {
    /// A signed-in admin, with the fresh TOTP code this change needs.
    Admin { who: &'a ApproverSession, totp: &'a str },
    /// The operator at the command line.
    Operator,
}

impl<'a> Actor<'a> {
    /// An admin who only reads (lists need the role, not a code).
    pub fn reader(who: &'a ApproverSession) -> Self {
        Actor::Admin { who, totp: "" }
    }

    /// Reads need the role but no code.
    pub fn may_read(&self) -> Result<()> {
        match self {
            Actor::Admin { who, .. } => require_admin(who),
            Actor::Operator => Ok(()),
        }
    }

    fn admin(&self) -> Option<&ApproverSession> {
        match self {
            Actor::Admin { who, .. } => Some(who),
            Actor::Operator => None,
        }
    }
}

pub fn require_admin(who: &ApproverSession) -> Result<()> {
    if who.approver.has_role("admin") {
        Ok(())
    } else {
        Err(Error::forbidden("not_an_admin", "this account does not have the admin role"))
    }
}

/// Opens the change's transaction: for an admin, after the role check and a step-up whose used
/// step is advanced in this same transaction (so the code counts once, with the change).
async fn begin(ctx: &Context, actor: Actor<'_>, now: i64) -> Result<Tx> {
    let Actor::Admin { who, totp } = actor else { return Ok(ctx.store.begin().await?) };
    require_admin(who)?;
    let code = totp.trim();
    if code.is_empty() {
        return Err(Error::bad_request("totp_required", "every administrative change needs a fresh TOTP code"));
    }
    // Reserved before the code is checked, as for approvals: guesses can't exceed the limit.
    let attempt = Attempt::step_up(ctx, &who.approver.id);
    attempt.reserve(ctx, now).await?;
    let step = match check_code(ctx, &who.approver, code, now) {
        Ok(step) => step,
        Err(reason) => return Err(fail(ctx, &who.approver, "admin.step_up", reason, now).await),
    };
    let mut tx = ctx.store.begin().await?;
    if !approvers::advance_totp_step(&mut tx, &who.approver.id, step).await? {
        drop(tx);
        return Err(fail(ctx, &who.approver, "admin.step_up", "totp_reused", now).await);
    }
    attempt.release(&mut tx).await?;
    Ok(tx)
}

/// The record of a change, naming the admin who made it (none for the operator's CLI).
fn record(event: &str, actor: Actor<'_>, now: i64) -> AuditFields {
    approver_event(event, actor.admin().map(|who| &who.approver.id), "success", None, now)
}

fn format_opt(ms: Option<i64>) -> Option<String> {
    ms.map(format_ms)
}

/// Every registered item with its health and accounts; never access tokens.
pub async fn list_items(ctx: &Context, actor: Actor<'_>) -> Result<Vec<ItemView>> {
    actor.may_read()?;
    let pool = ctx.store.reader();
    let mut views = Vec::new();
    for item in items::all(pool).await? {
        views.push(registry::view_of_item(pool, item).await?);
    }
    Ok(views)
}

/// Parses item ids given by an admin; a malformed one is refused by name. Whether they are
/// registered is checked in the change's transaction.
fn parse_items(ids: &[String]) -> Result<Vec<ItemId>> {
    let mut parsed: Vec<ItemId> = Vec::with_capacity(ids.len());
    for id in ids {
        let item = ItemId::parse(id.trim())
            .ok_or_else(|| Error::unprocessable("unknown_item", format!("{id:?} is not an item id (it_...)")))?;
        if !parsed.contains(&item) {
            parsed.push(item);
        }
    }
    Ok(parsed)
}
