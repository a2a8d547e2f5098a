//! Signed checkpoints of the audit chain: insert once per seq, read back. Signing lives in `audit/`.

use super::{StoreResult, Tx};
use crate::store::InTx;
use sqlx::{AnyPool, Row};

/// A stored checkpoint: the signature is hex of Ed25519 over the message `audit::checkpoint` builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub seq: i64,
    pub hash: String,
    pub signed_at: i64,
    pub signature: String,
    pub public_key: String,
}

const COLUMNS: &str = "seq, hash, signed_at, signature, public_key";

/// Inserts a checkpoint unless one exists for its seq; returns the stored one either way, so
/// the first signature of a seq is the one everybody gets.
pub async fn insert_or_get(tx: &mut Tx, checkpoint: &CheckpointRow) -> StoreResult<CheckpointRow> {
    sqlx::query(
        "INSERT INTO audit_checkpoints (seq, hash, signed_at, signature, public_key) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (seq) DO NOTHING",
    )
    .bind(checkpoint.seq)
    .bind(&checkpoint.hash)
    .bind(checkpoint.signed_at)
    .bind(&checkpoint.signature)
    .bind(&checkpoint.public_key)
    .execute_in(tx)
    .await?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM audit_checkpoints WHERE seq = $1"))
        .bind(checkpoint.seq)
        .fetch_one_in(tx)
        .await?;
    from_row(&row)
}

pub async fn find(pool: &AnyPool, seq: i64) -> StoreResult<Option<CheckpointRow>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM audit_checkpoints WHERE seq = $1"))
        .bind(seq)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn latest(pool: &AnyPool) -> StoreResult<Option<CheckpointRow>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"))
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every checkpoint, oldest first (one per signing, so a handful a day).
pub async fn all(pool: &AnyPool) -> StoreResult<Vec<CheckpointRow>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM audit_checkpoints ORDER BY seq")).fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<CheckpointRow> {
    Ok(CheckpointRow {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
        signed_at: row.try_get("signed_at")?,
        signature: row.try_get("signature")?,
        public_key: row.try_get("public_key")?,
    })
}
