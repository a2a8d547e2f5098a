//! Approvers, their item scope and TOTP step (compare-and-set). Sign-in throttling lives in
//! `store::throttle`; the old `failed_attempts`/`locked_until` columns are no longer used.

use super::{StoreResult, Tx};
use crate::domain::{ApproverId, ItemId};
use crate::store::InTx;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

#[derive(Debug, Clone)]
pub struct ApproverRecord {
    pub id: ApproverId,
    pub username: String,
    pub password_hash: String,
    pub totp_secret_enc: String,
    pub last_totp_step: i64,
    pub roles: Vec<String>,
    pub all_items: bool,
    /// Deactivated by an admin: no sign-in, no session (migration 0024).
    pub disabled: bool,
}

impl ApproverRecord {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

pub struct NewApprover<'a> {
    pub id: &'a ApproverId,
    pub username: &'a str,
    /// `domain::username::normalized(username)`: unique, and what every lookup compares.
    pub username_normalized: &'a str,
    pub password_hash: &'a str,
    pub totp_secret_enc: &'a str,
    pub roles: &'a [String],
    pub items: Option<&'a [ItemId]>,
    pub now_ms: i64,
}

pub async fn insert(tx: &mut Tx, new: NewApprover<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO approvers (id, username, username_normalized, password_hash, totp_secret_enc, last_totp_step, \
         failed_attempts, locked_until, roles, all_items, created_at) VALUES ($1, $2, $3, $4, $5, 0, 0, 0, $6, $7, $8)",
    )
    .bind(new.id.as_str())
    .bind(new.username)
    .bind(new.username_normalized)
    .bind(new.password_hash)
    .bind(new.totp_secret_enc)
    .bind(new.roles.join(","))
    .bind(i64::from(new.items.is_none()))
    .bind(new.now_ms)
    .execute_in(tx)
    .await?;
    for item in new.items.unwrap_or_default() {
        sqlx::query("INSERT INTO approver_items (approver_id, item_id) VALUES ($1, $2)")
            .bind(new.id.as_str())
            .bind(item.as_str())
            .execute_in(tx)
            .await?;
    }
    Ok(())
}

pub(crate) const COLUMNS: &str =
    "id, username, password_hash, totp_secret_enc, last_totp_step, roles, all_items, disabled_at";

pub(crate) fn from_row(row: &AnyRow) -> StoreResult<ApproverRecord> {
    from_columns(row, "")
}

/// An approver from [`COLUMNS`] named `{prefix}{column}` (a row shared with other tables').
pub(crate) fn from_columns(row: &AnyRow, prefix: &str) -> StoreResult<ApproverRecord> {
    let column = |name: &str| format!("{prefix}{name}");
    let roles: String = row.try_get(column("roles").as_str())?;
    Ok(ApproverRecord {
        id: ApproverId::from_trusted(row.try_get(column("id").as_str())?),
        username: row.try_get(column("username").as_str())?,
        password_hash: row.try_get(column("password_hash").as_str())?,
        totp_secret_enc: row.try_get(column("totp_secret_enc").as_str())?,
        last_totp_step: row.try_get(column("last_totp_step").as_str())?,
        roles: roles.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
        all_items: super::flag(row.try_get(column("all_items").as_str())?),
        disabled: row.try_get::<Option<i64>, _>(column("disabled_at").as_str())?.is_some(),
    })
}

/// The approver whose normalized username is `normalized` (see `domain::username`).
pub async fn find_by_username(pool: &AnyPool, normalized: &str) -> StoreResult<Option<ApproverRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM approvers WHERE username_normalized = $1"))
        .bind(normalized)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find(pool: &AnyPool, id: &ApproverId) -> StoreResult<Option<ApproverRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM approvers WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn may_approve_for(pool: &AnyPool, approver: &ApproverRecord, item: &ItemId) -> StoreResult<bool> {
    if approver.all_items {
        return Ok(true);
    }
    let row = sqlx::query("SELECT 1 AS granted FROM approver_items WHERE approver_id = $1 AND item_id = $2")
        .bind(approver.id.as_str())
        .bind(item.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// Records a TOTP step as used, only if it is newer than the last one: the compare-and-set that
/// makes every code single use. Returns whether this call won.
pub async fn advance_totp_step(tx: &mut Tx, id: &ApproverId, step: i64) -> StoreResult<bool> {
    let result = sqlx::query("UPDATE approvers SET last_totp_step = $1 WHERE id = $2 AND last_totp_step < $1")
        .bind(step)
        .bind(id.as_str())
        .execute_in(tx)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Sets a new password hash (enrollment by link).
pub async fn set_password(tx: &mut Tx, id: &ApproverId, password_hash: &str) -> StoreResult<()> {
    sqlx::query("UPDATE approvers SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(id.as_str())
        .execute_in(tx)
        .await?;
    Ok(())
}
