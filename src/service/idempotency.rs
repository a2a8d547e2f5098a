//! Agent-side idempotency (DESIGN §4): keys scoped to the agent; same key and body replays the
//! stored response; same key, other body is 422; a request still in flight is 409. An in-flight
//! claim whose lease ran out (its process died, or Plaid was unavailable) is taken over by the
//! retry, which resumes the same request instead of starting another.

use super::now_ms;
use super::view::RequestView;
use crate::domain::canonical::{canonical_json, sha256_hex};
use crate::domain::AgentId;
use crate::error::{Error, Result};
use crate::store::idempotency::KeyRecord;
use crate::store::requests::RequestRecord;
use crate::store::{idempotency as keys, Store, Tx};
use std::time::Duration;
use tokio::time::Instant;

/// A JSON response to hand back (and to replay for the same Idempotency-Key).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// 201 with the request as `GET /v1/transfers/{id}` shows it: what a proposal answers.
    pub fn created(record: &RequestRecord) -> Reply {
        Reply { status: 201, body: RequestView::from(record).to_json_string() }
    }
}

/// How long a claim is held before a retry may take it over.
pub const LEASE_MS: i64 = 30_000;
/// Keys are kept at least 48 hours (DESIGN §4); pruned after 72.
pub const RETENTION_MS: i64 = 72 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<Self> {
        let valid = (1..=255).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a request body and route look like to idempotency: whitespace and key order don't matter.
pub fn fingerprint(route: &str, body: &serde_json::Value) -> String {
    sha256_hex(format!("{route}\n{}", canonical_json(body)).as_bytes())
}

#[derive(Debug)]
pub enum Claim {
    /// First time this key is seen: go ahead.
    Fresh,
    /// A previous attempt stopped part-way; continue it (with the request it created, if any).
    Resume { request_id: Option<String> },
    /// Already answered: return this.
    Replay { status: u16, body: String },
    /// Another call with this key is running right now; see [`await_reply`].
    InFlight,
}

pub async fn claim(
    tx: &mut Tx,
    agent: &AgentId,
    key: &IdempotencyKey,
    fingerprint: &str,
    now_ms: i64,
) -> Result<Claim> {
    if keys::try_claim(tx, agent, key.as_str(), fingerprint, now_ms + LEASE_MS, now_ms).await? {
        return Ok(Claim::Fresh);
    }
    let existing = keys::find(tx, agent, key.as_str())
        .await?
        .ok_or_else(|| anyhow::anyhow!("idempotency key vanished after a conflicting insert"))?;
    if existing.fingerprint != fingerprint {
        return Err(Error::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request body",
        ));
    }
    if let (Some(status), Some(body)) = (existing.response_status, existing.response_body) {
        let status = u16::try_from(status).map_err(|_| anyhow::anyhow!("stored status out of range"))?;
        return Ok(Claim::Replay { status, body });
    }
    if existing.locked_until > now_ms
        || !keys::take_over(tx, agent, key.as_str(), existing.locked_until, now_ms + LEASE_MS).await?
    {
        return Ok(Claim::InFlight);
    }
    Ok(Claim::Resume { request_id: existing.request_id })
}

/// Opens the write transaction of an idempotent action and claims its key. Replays and
/// duplicates still in flight are answered here (waiting outside any transaction); otherwise
/// the caller proceeds with the transaction and the claim.
pub async fn begin(
    store: &Store,
    agent: &AgentId,
    key: &IdempotencyKey,
    fingerprint: &str,
    now_ms: i64,
) -> Result<Started> {
    let mut tx = store.begin().await?;
    match claim(&mut tx, agent, key, fingerprint, now_ms).await? {
        Claim::Replay { status, body } => Ok(Started::Answered(Reply { status, body })),
        Claim::InFlight => {
            drop(tx);
            Ok(Started::Answered(await_reply(store, agent, key).await?))
        }
        claim => Ok(Started::Proceed(tx, claim)),
    }
}

pub enum Started {
    Answered(Reply),
    /// `Fresh` or `Resume`, with the open transaction.
    Proceed(Tx, Claim),
}

/// How long a duplicate waits for the call already in flight before answering 409.
const AWAIT_IN_FLIGHT: Duration = Duration::from_secs(10);

/// Waits (holding no transaction) for the in-flight call with this key to store its reply, so a
/// duplicate gets the identical response; answers 409 if the first call is still running after
/// [`AWAIT_IN_FLIGHT`] or gave up without a reply.
pub async fn await_reply(store: &Store, agent: &AgentId, key: &IdempotencyKey) -> Result<Reply> {
    let deadline = Instant::now() + AWAIT_IN_FLIGHT;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let record = keys::find_outside(store.reader(), agent, key.as_str()).await?;
        match record {
            Some(KeyRecord { response_status: Some(status), response_body: Some(body), .. }) => {
                let status = u16::try_from(status).map_err(|_| anyhow::anyhow!("stored status out of range"))?;
                return Ok(Reply { status, body });
            }
            Some(record) if record.locked_until > now_ms() && Instant::now() < deadline => continue,
            _ => {
                return Err(Error::conflict(
                    "request_in_flight",
                    "a request with this Idempotency-Key is still being processed; retry shortly",
                ))
            }
        }
    }
}

pub async fn finish(tx: &mut Tx, agent: &AgentId, key: &IdempotencyKey, status: u16, body: &str) -> Result<()> {
    keys::finish(tx, agent, key.as_str(), status, body).await?;
    Ok(())
}
