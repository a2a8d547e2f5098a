//! Enrollment by link: an operator creates the approver and gets a one-time link instead of a
//! password; the person opens it, chooses a password, adds the TOTP secret to an authenticator
//! and proves it with a first code. The link works once and expires; only its hash is stored.

use super::approvers::{check_code, insert_planned, plan_approver, Enrollment};
use super::{now_ms, Context};
use crate::audit::{self, AuditFields};
use crate::auth::totp::{self, TotpSecret};
use crate::auth::{password, tokens};
use crate::domain::{ApproverId, ItemId};
use crate::error::{Error, Result};
use crate::store::approvers::{self, ApproverRecord};
use crate::store::enrollment as links;
use crate::store::{Store, Tx};
use std::time::Duration;

const LINK_PREFIX: &str = "cse_";
/// How long an enrollment link works.
pub const LINK_TTL: Duration = Duration::from_secs(24 * 3600);

/// A new approver and the secret part of their enrollment link (shown once).
pub struct EnrollmentLinkGrant {
    pub enrollment: Enrollment,
    pub token: String,
    pub expires_at: i64,
}

/// Creates the approver with a random password nobody sees, and a one-time link to set their own.
pub async fn add_with_link(
    store: &Store,
    master_key: &crate::crypto::MasterKey,
    username: &str,
    role: &str,
    items_scope: Option<&[ItemId]>,
) -> Result<EnrollmentLinkGrant> {
    let plan = plan_approver(master_key, username, role, None, items_scope).await?;
    let now = now_ms();
    let mut tx = store.begin().await?;
    insert_planned(&mut tx, &plan, now).await?;
    let (token, expires_at) = new_link(&mut tx, &plan.enrollment.id, now).await?;
    store.commit(tx).await?;
    Ok(EnrollmentLinkGrant { enrollment: plan.enrollment, token, expires_at })
}

/// A one-time enrollment link for `approver` in the caller's transaction: its secret token
/// (shown once) and when it expires.
pub async fn new_link(tx: &mut Tx, approver: &ApproverId, now: i64) -> Result<(String, i64)> {
    let token = tokens::generate(LINK_PREFIX);
    let expires_at = now + crate::auth::millis(LINK_TTL);
    links::insert_link(tx, &token.hash, approver, expires_at, now).await?;
    Ok((token.token, expires_at))
}

/// What the enrollment page shows: who, the QR code and the secret.
pub struct EnrollmentPage {
    pub username: String,
    pub otpauth_uri: String,
    pub secret_base32: String,
    pub qr_svg: String,
}

fn link_unusable() -> Error {
    Error::client(axum::http::StatusCode::GONE, "link_unusable", "this enrollment link was used or has expired")
}

async fn open_link(ctx: &Context, token: &str) -> Result<(String, ApproverRecord, TotpSecret)> {
    let hash = tokens::hash_presented(LINK_PREFIX, token).ok_or_else(link_unusable)?;
    let link = links::find_link(ctx.store.reader(), &hash).await?.ok_or_else(link_unusable)?;
    if link.used_at.is_some() || link.expires_at <= now_ms() {
        return Err(link_unusable());
    }
    let approver = approvers::find(ctx.store.reader(), &link.approver_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("approver missing"))?;
    let secret = TotpSecret::from_base64(&ctx.master_key.decrypt(&approver.totp_secret_enc)?)
        .ok_or_else(|| anyhow::anyhow!("stored TOTP secret"))?;
    Ok((hash, approver, secret))
}

/// The page behind a valid link.
pub async fn show(ctx: &Context, token: &str) -> Result<EnrollmentPage> {
    let (_, approver, secret) = open_link(ctx, token).await?;
    let otpauth_uri = secret.enrollment_uri(&approver.username).ok_or_else(|| anyhow::anyhow!("enrollment URI"))?;
    Ok(EnrollmentPage {
        username: approver.username.clone(),
        secret_base32: secret.base32().ok_or_else(|| anyhow::anyhow!("base32 secret"))?,
        qr_svg: totp::qr_svg(&otpauth_uri).ok_or_else(|| anyhow::anyhow!("QR code"))?,
        otpauth_uri,
    })
}

/// Sets the password and confirms the authenticator with a first code; the link is spent.
pub async fn complete(ctx: &Context, token: &str, new_password: &str, code: &str) -> Result<String> {
    if new_password.chars().count() < 12 {
        return Err(Error::bad_request("weak_password", "passwords must be at least 12 characters"));
    }
    let (hash, approver, _) = open_link(ctx, token).await?;
    let now = now_ms();
    let step = check_code(ctx, &approver, code, now)
        .map_err(|_| Error::client(axum::http::StatusCode::UNAUTHORIZED, "invalid_totp", "the TOTP code is wrong"))?;
    let chosen = new_password.to_owned();
    let password_hash =
        tokio::task::spawn_blocking(move || password::hash_password(&chosen)).await.map_err(anyhow::Error::from)??;
    let mut tx = ctx.store.begin().await?;
    if !links::use_link(&mut tx, &hash, now).await? {
        return Err(link_unusable());
    }
    if !approvers::advance_totp_step(&mut tx, &approver.id, step).await? {
        return Err(Error::client(axum::http::StatusCode::UNAUTHORIZED, "totp_reused", "wait for the next code"));
    }
    approvers::set_password(&mut tx, &approver.id, &password_hash).await?;
    let fields = AuditFields {
        occurred_at: now,
        event_type: "approver.enrollment_completed".into(),
        approver_id: Some(approver.id.to_string()),
        outcome: "success".into(),
        ..AuditFields::default()
    };
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    Ok(approver.username)
}
