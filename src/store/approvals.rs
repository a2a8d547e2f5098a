//! Approvals of a request version, and the ledger of used approval tokens.

use super::{StoreResult, Tx};
use crate::domain::{ApproverId, RequestId};
use crate::store::InTx;
use sqlx::{AnyPool, Row};

#[derive(Debug, Clone)]
pub struct ApprovalRecord {
    pub approver_id: ApproverId,
    pub username: String,
    pub payload_hash: String,
    pub step_up_at: Option<i64>,
    pub created_at: i64,
}

pub struct NewApproval<'a> {
    pub request_id: &'a RequestId,
    pub approver_id: &'a ApproverId,
    pub payload_hash: &'a str,
    pub step_up_at: Option<i64>,
    pub token_jti: &'a str,
    pub now_ms: i64,
}

/// Inserts an approval. A unique violation means this approver already approved this version.
pub async fn insert(tx: &mut Tx, new: NewApproval<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO approvals (id, request_id, approver_id, decision, payload_hash, step_up_at, token_jti, created_at) \
         VALUES ($1, $2, $3, 'approve', $4, $5, $6, $7)",
    )
    .bind(format!("apv_{}", uuid::Uuid::now_v7().simple()))
    .bind(new.request_id.as_str())
    .bind(new.approver_id.as_str())
    .bind(new.payload_hash)
    .bind(new.step_up_at)
    .bind(new.token_jti)
    .bind(new.now_ms)
    .execute_in(tx)
    .await?;
    Ok(())
}

/// Records an approval token as used; a unique violation means it was used before.
pub async fn use_token(
    tx: &mut Tx,
    jti: &str,
    approver: &ApproverId,
    request: &RequestId,
    now_ms: i64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO used_approval_tokens (jti, approver_id, request_id, used_at) VALUES ($1, $2, $3, $4)")
        .bind(jti)
        .bind(approver.as_str())
        .bind(request.as_str())
        .bind(now_ms)
        .execute_in(tx)
        .await?;
    Ok(())
}

pub async fn for_request_in(tx: &mut Tx, request: &RequestId) -> StoreResult<Vec<ApprovalRecord>> {
    list(tx.conn().await?, request).await
}

pub async fn for_request(pool: &AnyPool, request: &RequestId) -> StoreResult<Vec<ApprovalRecord>> {
    list(pool, request).await
}

async fn list<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    request: &RequestId,
) -> StoreResult<Vec<ApprovalRecord>> {
    let rows = sqlx::query(
        "SELECT a.approver_id, p.username, a.payload_hash, a.step_up_at, a.created_at FROM approvals a \
         JOIN approvers p ON p.id = a.approver_id WHERE a.request_id = $1 ORDER BY a.created_at, a.id",
    )
    .bind(request.as_str())
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ApprovalRecord {
                approver_id: ApproverId::from_trusted(row.try_get("approver_id")?),
                username: row.try_get("username")?,
                payload_hash: row.try_get("payload_hash")?,
                step_up_at: row.try_get("step_up_at")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}
