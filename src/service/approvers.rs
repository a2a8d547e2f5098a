//! Approvers: enrollment, TOTP code checks, and session authentication with idle and absolute
//! timeouts. Sign-in itself (throttled, every attempt audited) is `service::signin`.

use super::{now_ms, Context};
use crate::audit::{self, AuditFields};
use crate::auth::totp::{self, TotpCode, TotpRejection, TotpSecret};
use crate::auth::{millis, password, tokens};
use crate::domain::{username as names, ApproverId, ItemId, RequestId};
use crate::error::{Error, Result};
use crate::store::approvers::{self, ApproverRecord, NewApprover};
use crate::store::requests::RequestRecord;
use crate::store::sessions::{self, SessionRecord};
use crate::store::{Store, Tx};
use axum::http::StatusCode;

pub const ROLES: [&str; 3] = ["approver", "compliance", "admin"];
pub(crate) const SESSION_PREFIX: &str = "css_";

pub struct Enrollment {
    pub id: ApproverId,
    /// Only when Countersign generated it; shown once.
    pub generated_password: Option<String>,
    pub otpauth_uri: String,
    pub totp_secret_base32: String,
}

pub async fn add_approver(
    store: &Store,
    master_key: &crate::crypto::MasterKey,
    username: &str,
    role: &str,
    password: Option<&str>,
    items_scope: Option<&[ItemId]>,
) -> Result<Enrollment> {
    let plan = plan_approver(master_key, username, role, password, items_scope).await?;
    let mut tx = store.begin().await?;
    insert_planned(&mut tx, &plan, now_ms()).await?;
    store.commit(tx).await?;
    Ok(plan.enrollment)
}

/// A new approver, checked and with its password hashed and TOTP secret made: everything slow
/// done before a transaction opens.
pub struct ApproverPlan {
    pub enrollment: Enrollment,
    pub username: String,
    normalized: String,
    password_hash: String,
    totp_secret_enc: String,
    roles: Vec<String>,
    items: Option<Vec<ItemId>>,
}

pub async fn plan_approver(
    master_key: &crate::crypto::MasterKey,
    username: &str,
    role: &str,
    password: Option<&str>,
    items_scope: Option<&[ItemId]>,
) -> Result<ApproverPlan> {
    let display = names::display_form(username);
    let username = display.as_str();
    let normalized = names::normalized(username);
    if !names::is_valid(username) {
        return Err(Error::bad_request("invalid_username", "username: 1 to 64 of letters, digits, . _ - @"));
    }
    if !ROLES.contains(&role) {
        return Err(Error::bad_request("invalid_role", "role must be approver, compliance or admin"));
    }
    if password.is_some_and(|p| p.chars().count() < 12) {
        return Err(Error::bad_request("weak_password", "passwords must be at least 12 characters"));
    }
    let generated_password = password.is_none().then(password::generate_password);
    let chosen = password.map(str::to_owned).or_else(|| generated_password.clone()).unwrap_or_default();
    let password_hash = hash_blocking(chosen).await?;
    let secret = TotpSecret::generate();
    let otpauth_uri = secret.enrollment_uri(username).ok_or_else(|| anyhow::anyhow!("enrollment URI"))?;
    let totp_secret_base32 = secret.base32().ok_or_else(|| anyhow::anyhow!("base32 secret"))?;
    Ok(ApproverPlan {
        enrollment: Enrollment { id: ApproverId::generate(), generated_password, otpauth_uri, totp_secret_base32 },
        username: username.to_owned(),
        normalized,
        password_hash,
        totp_secret_enc: master_key.encrypt(&secret.to_base64())?,
        roles: vec![role.to_owned()],
        items: items_scope.map(<[ItemId]>::to_vec),
    })
}

/// Inserts a planned approver in the caller's transaction, audited as `approver.enrolled`.
pub async fn insert_planned(tx: &mut Tx, plan: &ApproverPlan, now: i64) -> Result<()> {
    super::registry::require_registered(tx, plan.items.as_deref().unwrap_or_default()).await?;
    let id = &plan.enrollment.id;
    let inserted = approvers::insert(
        tx,
        NewApprover {
            id,
            username: &plan.username,
            username_normalized: &plan.normalized,
            password_hash: &plan.password_hash,
            totp_secret_enc: &plan.totp_secret_enc,
            roles: &plan.roles,
            items: plan.items.as_deref(),
            now_ms: now,
        },
    )
    .await;
    match inserted {
        Err(e) if e.is_unique_violation() => {
            return Err(Error::conflict(
                "approver_exists",
                format!("an approver named {:?} already exists (names are compared ignoring case)", plan.username),
            ))
        }
        other => other?,
    }
    audit::append(tx, approver_event("approver.enrolled", Some(id), "success", None, now)).await?;
    Ok(())
}

async fn hash_blocking(password: String) -> Result<String> {
    let hashed =
        tokio::task::spawn_blocking(move || password::hash_password(&password)).await.map_err(anyhow::Error::from)?;
    Ok(hashed?)
}

pub(crate) fn approver_event(
    event: &str,
    approver: Option<&ApproverId>,
    outcome: &str,
    error: Option<&str>,
    now: i64,
) -> AuditFields {
    AuditFields {
        occurred_at: now,
        event_type: event.to_owned(),
        approver_id: approver.map(ToString::to_string),
        outcome: outcome.to_owned(),
        error_code: error.map(str::to_owned),
        ..AuditFields::default()
    }
}

pub struct NewSession {
    pub token: String,
    pub session_id: String,
    pub expires_at: i64,
}

/// Verifies a typed TOTP code against the approver's secret; the caller advances the step.
pub fn check_code(ctx: &Context, approver: &ApproverRecord, code: &str, now_ms: i64) -> Result<i64, &'static str> {
    let code = TotpCode::parse(code).ok_or("bad_totp")?;
    let secret = ctx
        .master_key
        .decrypt(&approver.totp_secret_enc)
        .ok()
        .and_then(|s| TotpSecret::from_base64(&s))
        .ok_or("bad_totp")?;
    let now_unix = u64::try_from(now_ms / 1000).unwrap_or(0);
    let last = u64::try_from(approver.last_totp_step).unwrap_or(0);
    match totp::verify(&secret, &code, now_unix, last) {
        Ok(step) => i64::try_from(step).map_err(|_| "bad_totp"),
        Err(TotpRejection::Invalid) => Err("bad_totp"),
        Err(TotpRejection::Replayed) => Err("totp_reused"),
    }
}

/// Audits a refused step-up code and returns the error to show. The attempt was already
/// counted by its throttle reservation (`signin::Attempt`).
pub async fn fail(ctx: &Context, approver: &ApproverRecord, event: &str, reason: &str, now: i64) -> Error {
    if let Err(error) = audit_outside(ctx, approver_event(event, Some(&approver.id), "error", Some(reason), now)).await
    {
        return error;
    }
    if reason == "totp_reused" {
        Error::client(StatusCode::UNAUTHORIZED, "totp_reused", "this code was already used; wait for the next one")
    } else {
        Error::client(StatusCode::UNAUTHORIZED, "invalid_totp", "the TOTP code is wrong")
    }
}

pub(crate) async fn audit_outside(ctx: &Context, fields: AuditFields) -> Result<()> {
    let mut tx = ctx.store.begin().await?;
    audit::append(&mut tx, fields).await?;
    ctx.store.commit(tx).await?;
    Ok(())
}

/// An authenticated approver and the session they used.
#[derive(Debug, Clone)]
pub struct ApproverSession {
    pub approver: ApproverRecord,
    pub session: SessionRecord,
}

fn unauthorized() -> Error {
    Error::client(StatusCode::UNAUTHORIZED, "unauthorized", "sign in again: the session is missing, expired or revoked")
}

/// Resolves a bearer session token, enforcing revocation, idle and absolute timeouts.
pub async fn authenticate(ctx: &Context, presented: &str) -> Result<ApproverSession> {
    let hash = tokens::hash_presented(SESSION_PREFIX, presented).ok_or_else(unauthorized)?;
    let (session, approver) =
        sessions::find_with_approver(ctx.store.reader(), &hash).await?.ok_or_else(unauthorized)?;
    admit(ctx, session, approver).await
}

/// [`authenticate`], reading the request `id` in the same statement: the session is judged
/// first, and the request (None when there is none) is the caller's only once it passed.
pub async fn authenticate_with_request(
    ctx: &Context,
    presented: &str,
    id: &RequestId,
) -> Result<(ApproverSession, Option<RequestRecord>)> {
    let hash = tokens::hash_presented(SESSION_PREFIX, presented).ok_or_else(unauthorized)?;
    let (session, approver, request) =
        sessions::find_with_approver_and_request(ctx.store.reader(), &hash, id).await?.ok_or_else(unauthorized)?;
    Ok((admit(ctx, session, approver).await?, request))
}

/// A found session, if it is still good: not revoked, its approver active, inside its idle and
/// absolute timeouts.
async fn admit(ctx: &Context, session: SessionRecord, approver: ApproverRecord) -> Result<ApproverSession> {
    let now = now_ms();
    let idle_over = now - session.last_seen_at > millis(ctx.sessions.idle);
    if session.revoked || approver.disabled || now >= session.expires_at || idle_over {
        return Err(unauthorized());
    }
    // Sliding the idle timeout costs a write; once every few seconds is plenty.
    if now - session.last_seen_at > 5_000 {
        let mut tx = ctx.store.begin().await?;
        sessions::touch(&mut tx, &session.id, now).await?;
        ctx.store.commit(tx).await?;
    }
    Ok(ApproverSession { approver, session })
}

pub async fn sign_out(ctx: &Context, who: &ApproverSession) -> Result<()> {
    let mut tx: Tx = ctx.store.begin().await?;
    sessions::revoke(&mut tx, &who.session.id).await?;
    audit::append(&mut tx, approver_event("approver.sign_out", Some(&who.approver.id), "success", None, now_ms()))
        .await?;
    ctx.store.commit(tx).await?;
    Ok(())
}

/// Replaces the session with a new one (new id and token, same sign-in time and absolute expiry)
/// and revokes the old one, so a token seen before a privilege change (a step-up) stops working.
pub async fn rotate_session(ctx: &Context, who: &ApproverSession) -> Result<NewSession> {
    let now = now_ms();
    let token = tokens::generate(SESSION_PREFIX);
    let session = SessionRecord {
        id: format!("ses_{}", uuid::Uuid::now_v7().simple()),
        approver_id: who.approver.id.clone(),
        authenticated_at: who.session.authenticated_at,
        last_seen_at: now,
        expires_at: who.session.expires_at,
        revoked: false,
    };
    let mut tx = ctx.store.begin().await?;
    sessions::revoke(&mut tx, &who.session.id).await?;
    sessions::insert(&mut tx, &session, &token.hash).await?;
    audit::append(&mut tx, approver_event("approver.session_rotated", Some(&who.approver.id), "success", None, now))
        .await?;
    ctx.store.commit(tx).await?;
    Ok(NewSession { token: token.token, session_id: session.id, expires_at: session.expires_at })
}
