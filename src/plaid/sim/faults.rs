//! Fault injection: make the next N calls to one Plaid endpoint fail or stall.
//!
//! Faults exist so the service's retry and reconciliation paths can be tested against the failure
//! modes Plaid documents (500 after the transfer was created, 429, slow answers). They are armed via
//! `POST /sim/faults` and spent one per call. This module must never change what a call does beyond
//! the one documented effect of its kind.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer 500 API_ERROR/INTERNAL_SERVER_ERROR without doing anything.
    // snake_case alone would spell these "error500".
    #[serde(rename = "error_500")]
    Error500,
    /// Do the work and keep it, then answer 500 (Plaid: a 500 may still mean "created").
    #[serde(rename = "error_500_after_commit")]
    Error500AfterCommit,
    /// Answer 429 RATE_LIMIT_EXCEEDED/RATE_LIMIT without doing anything.
    RateLimit,
    /// Sleep `delay_ms`, then do the work normally.
    Delay,
    /// Do the work, then sleep `delay_ms` before answering, so a client can time out after commit.
    DelayAfterCommit,
}

/// The body of `POST /sim/faults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    pub endpoint: String,
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default)]
    pub delay_ms: u64,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub endpoint: String,
    pub kind: FaultKind,
    pub remaining: u32,
    pub delay: Duration,
}

impl From<FaultRequest> for Fault {
    fn from(r: FaultRequest) -> Self {
        Fault { endpoint: r.endpoint, kind: r.kind, remaining: r.times, delay: Duration::from_millis(r.delay_ms) }
    }
}

/// Takes one use of the oldest armed fault for `endpoint`, dropping faults that are spent.
pub fn take(faults: &mut Vec<Fault>, endpoint: &str) -> Option<Fault> {
    let index = faults.iter().position(|f| f.endpoint == endpoint && f.remaining > 0)?;
    let fault = &mut faults[index];
    fault.remaining -= 1;
    let taken = fault.clone();
    if fault.remaining == 0 {
        faults.remove(index);
    }
    Some(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(endpoint: &str, kind: FaultKind, times: u32) -> Fault {
        Fault { endpoint: endpoint.into(), kind, remaining: times, delay: Duration::ZERO }
    }

    #[test]
    fn kinds_are_spelled_as_documented() {
        for name in ["error_500", "error_500_after_commit", "rate_limit", "delay", "delay_after_commit"] {
            let parsed: Result<FaultKind, _> = serde_json::from_value(serde_json::json!(name));
            assert!(parsed.is_ok(), "{name}");
        }
    }

    #[test]
    fn faults_are_spent_in_order_and_per_endpoint() {
        let mut faults =
            vec![fault("/transfer/create", FaultKind::RateLimit, 2), fault("/transfer/create", FaultKind::Error500, 1)];
        assert!(take(&mut faults, "/transfer/get").is_none());
        let kinds: Vec<_> = std::iter::from_fn(|| take(&mut faults, "/transfer/create")).map(|f| f.kind).collect();
        assert_eq!(kinds, [FaultKind::RateLimit, FaultKind::RateLimit, FaultKind::Error500]);
        assert!(faults.is_empty());
    }
}
