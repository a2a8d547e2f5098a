//! Approver sessions: stored by token hash, with idle and absolute expiry.

use super::{StoreResult, Tx};
use crate::domain::{ApproverId, RequestId};
use crate::store::InTx;
use sqlx::any::AnyRow;
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

/// A session's and its approver's columns, each named so that they can share a row with a
/// request's (`session_…`, `approver_…`).
fn session_and_approver_columns() -> String {
    let session = ["id", "approver_id", "authenticated_at", "last_seen_at", "expires_at", "revoked"]
        .map(|column| format!("s.{column} AS session_{column}"));
    let approver = super::approvers::COLUMNS.split(", ").map(|column| format!("a.{column} AS approver_{column}"));
    session.into_iter().chain(approver).collect::<Vec<_>>().join(", ")
}

fn session_and_approver(row: &AnyRow) -> StoreResult<(SessionRecord, super::approvers::ApproverRecord)> {
    let session = SessionRecord {
        id: row.try_get("session_id")?,
        approver_id: ApproverId::from_trusted(row.try_get("session_approver_id")?),
        authenticated_at: row.try_get("session_authenticated_at")?,
        last_seen_at: row.try_get("session_last_seen_at")?,
        expires_at: row.try_get("session_expires_at")?,
        revoked: super::flag(row.try_get("session_revoked")?),
    };
    Ok((session, super::approvers::from_columns(row, "approver_")?))
}

/// A session and its approver, in one query: every approver request starts here.
pub async fn find_with_approver(
    pool: &AnyPool,
    token_hash: &str,
) -> StoreResult<Option<(SessionRecord, super::approvers::ApproverRecord)>> {
    let sql = format!(
        "SELECT {} FROM approver_sessions s JOIN approvers a ON a.id = s.approver_id WHERE s.token_hash = $1",
        session_and_approver_columns()
    );
    let row = sqlx::query(&sql).bind(token_hash).fetch_optional(pool).await?;
    row.as_ref().map(session_and_approver).transpose()
}

/// A session, its approver and the request `id` (None when there is no such request), in one
/// query: an approver's decision reads the session and the request it decides on together.
pub async fn find_with_approver_and_request(
    pool: &AnyPool,
    token_hash: &str,
    id: &RequestId,
) -> StoreResult<Option<SessionWithRequest>> {
    let sql = format!(
        "SELECT {}, r.* FROM approver_sessions s JOIN approvers a ON a.id = s.approver_id \
         LEFT JOIN (SELECT {} FROM transfer_requests WHERE id = $2) r ON TRUE WHERE s.token_hash = $1",
        session_and_approver_columns(),
        super::requests::COLUMNS
    );
    let row = sqlx::query(&sql).bind(token_hash).bind(id.as_str()).fetch_optional(pool).await?;
    row.map(|row| {
        let (session, approver) = session_and_approver(&row)?;
        let request = match row.try_get::<Option<String>, _>("id")? {
            Some(_) => Some(super::requests::from_row(&row)?),
            None => None,
        };
        Ok((session, approver, request))
    })
    .transpose()
}

/// [`find_with_approver_and_request`]'s row.
pub type SessionWithRequest = (SessionRecord, super::approvers::ApproverRecord, Option<super::requests::RequestRecord>);

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
