//! Who is calling: agent API keys, approver passwords, TOTP step-up, sessions and approval tokens.
//! Pure building blocks; the rules that combine them live in `service::approvers` and
//! `service::decide`.

pub mod api_keys;
pub mod approval_token;
pub mod password;
pub mod tokens;
pub mod totp;

use std::time::Duration;

/// Session and sign-in throttling rules for approvers.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused this long is over (15 min).
    pub idle: Duration,
    /// A session is over this long after sign-in, used or not (12 h).
    pub absolute: Duration,
    /// Tier 3 approvals need a password + TOTP sign-in at most this long ago (15 min).
    pub recent_auth: Duration,
    /// Failed sign-ins (or step-up codes) per username before each further attempt waits (5).
    pub max_failures: i64,
    /// The longest wait between attempts once throttled (15 min): delays double up to this.
    pub lockout: Duration,
    /// The first wait after `max_failures` failures (1 s); each further failure doubles it.
    pub throttle_first_delay: Duration,
    /// Failed sign-ins per client address before each further attempt waits (100): higher than
    /// per username, because many people may share one address.
    pub address_max_failures: i64,
    /// A streak of failures is forgotten after this long without attempts (1 h).
    pub throttle_forget: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(15 * 60),
            absolute: Duration::from_secs(12 * 3600),
            recent_auth: Duration::from_secs(15 * 60),
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            throttle_first_delay: Duration::from_secs(1),
            address_max_failures: 100,
            throttle_forget: Duration::from_secs(3600),
        }
    }
}

/// Milliseconds in a duration, saturating.
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
