//! Approver sessions: stored by token hash, with idle and absolute expiry.

use super::{StoreResult, Tx};
use crate::domain::ApproverId;
use crate::store::InTx;
use sqlx::{AnyPool, Row};

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: String,
    pub approver_id: ApproverId,
    pub authenticated_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
}

pub async fn insert(tx: &mut Tx, session: &SessionRecord, token_hash: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO approver_sessions (id, token_hash, approver_id, authenticated_at, last_seen_at, expires_at, revoked) \
         VALUES ($1, $2, $3, $4, $5, $6, 0)",
    )
    .bind(&session.id)
    .bind(token_hash)
    .bind(session.approver_id.as_str())
    .bind(session.authenticated_at)
    .bind(session.last_seen_at)
    .bind(session.expires_at)
    .execute_in(tx)
    .await?;
    Ok(())
}

/// A session and its approver, in one query: every approver request starts here.
pub async fn find_with_approver(
    pool: &AnyPool,
    token_hash: &str,
) -> StoreResult<Option<(SessionRecord, super::approvers::ApproverRecord)>> {
    let approver_columns: Vec<String> =
        super::approvers::COLUMNS.split(", ").map(|column| format!("a.{column}")).collect();
    let sql = format!(
        "SELECT s.id AS session_id, s.approver_id, s.authenticated_at, s.last_seen_at, s.expires_at, s.revoked, {} \
         FROM approver_sessions s JOIN approvers a ON a.id = s.approver_id WHERE s.token_hash = $1",
        approver_columns.join(", ")
    );
    let row = sqlx::query(&sql).bind(token_hash).fetch_optional(pool).await?;
    row.map(|row| {
        let session = SessionRecord {
            id: row.try_get("session_id")?,
            approver_id: ApproverId::from_trusted(row.try_get("approver_id")?),
            authenticated_at: row.try_get("authenticated_at")?,
            last_seen_at: row.try_get("last_seen_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked: super::flag(row.try_get("revoked")?),
        };
        Ok((session, super::approvers::from_row(&row)?))
    })
    .transpose()
}

/// Slides the idle timeout. Written at most every few seconds per session by the caller, so a
/// busy approver doesn't turn every read into a write.
pub async fn touch(tx: &mut Tx, id: &str, now_ms: i64) -> StoreResult<()> {
    sqlx::query("UPDATE approver_sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
        .bind(now_ms)
        .bind(id)
        .execute_in(tx)
        .await?;
    Ok(())
}

pub async fn revoke(tx: &mut Tx, id: &str) -> StoreResult<()> {
    sqlx::query("UPDATE approver_sessions SET revoked = 1 WHERE id = $1").bind(id).execute_in(tx).await?;
    Ok(())
}
