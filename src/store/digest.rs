//! Reviews of tier-1 requests (executed without a human): one per request, acknowledged or flagged.

use super::{StoreResult, Tx};
use crate::store::InTx;
use sqlx::{AnyPool, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub verdict: String,
    pub approver_username: String,
    pub note: Option<String>,
    pub reviewed_at: i64,
}

pub struct NewReview<'a> {
    pub request_id: &'a str,
    pub approver_id: &'a str,
    pub verdict: &'a str,
    pub note: Option<&'a str>,
    pub now_ms: i64,
}

/// Stores a review; a second review of the same request is a unique violation.
pub async fn insert(tx: &mut Tx, new: NewReview<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO digest_reviews (request_id, approver_id, verdict, note, reviewed_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new.request_id)
    .bind(new.approver_id)
    .bind(new.verdict)
    .bind(new.note)
    .bind(new.now_ms)
    .execute_in(tx)
    .await?;
    Ok(())
}

pub async fn review_of(pool: &AnyPool, request_id: &str) -> StoreResult<Option<Review>> {
    let row = sqlx::query(
        "SELECT d.verdict, d.note, d.reviewed_at, a.username FROM digest_reviews d \
         JOIN approvers a ON a.id = d.approver_id WHERE d.request_id = $1",
    )
    .bind(request_id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(Review {
            verdict: row.try_get("verdict")?,
            approver_username: row.try_get("username")?,
            note: row.try_get("note")?,
            reviewed_at: row.try_get("reviewed_at")?,
        })
    })
    .transpose()
}
