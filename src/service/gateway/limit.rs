//! The per-agent rate limit of the read gateway: a fixed one-minute window per agent, counted in
//! this process.
//!
//! Per replica on purpose: a shared counter would put a database write in front of every read,
//! doubling the cost of the cheapest call the service has. With N replicas behind a balancer an
//! agent may make up to N × the limit per minute; set the limit to the total divided by N (README).

use crate::domain::AgentId;
use std::collections::HashMap;
use std::sync::Mutex;

/// Where an agent stands in the current window, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets (at least 1).
    pub reset_secs: u64,
}

/// Windows kept before stale ones are swept (one entry per recently active agent).
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Default)]
pub struct RateLimiter {
    /// agent -> (window number, calls in it)
    windows: Mutex<HashMap<AgentId, (i64, u32)>>,
}

impl RateLimiter {
    /// Counts one call by `agent` at `now_ms` if the window has room for `per_minute` calls
    /// (the policy's, so a reload changes the limit of the current window too).
    pub fn take(&self, agent: &AgentId, per_minute: u32, now_ms: i64) -> RateState {
        let window = now_ms.div_euclid(60_000);
        let reset_secs = u64::try_from((window + 1) * 60_000 - now_ms).unwrap_or(0).div_ceil(1000).max(1);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, (w, _)| *w == window);
        }
        let entry = windows.entry(agent.clone()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        let allowed = entry.1 < per_minute;
        if allowed {
            entry.1 += 1;
        }
        RateState { allowed, limit: per_minute, remaining: per_minute.saturating_sub(entry.1), reset_secs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_allows_the_limit_then_refuses_until_the_next_minute() {
        let limiter = RateLimiter::default();
        let agent = AgentId::generate();
        let at = 120_000 + 15_000;
        assert_eq!(limiter.take(&agent, 2, at).remaining, 1);
        assert_eq!(limiter.take(&agent, 2, at).remaining, 0);
        let refused = limiter.take(&agent, 2, at);
        assert!(!refused.allowed);
        assert_eq!(refused.reset_secs, 45);
        assert!(limiter.take(&agent, 2, 180_000).allowed);
        assert!(limiter.take(&AgentId::generate(), 2, at).allowed, "agents are counted apart");
        let lowered = limiter.take(&agent, 0, 180_000);
        assert_eq!((lowered.allowed, lowered.remaining), (false, 0), "a lowered limit applies to the current window");
    }
}
