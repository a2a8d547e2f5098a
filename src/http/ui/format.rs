//! Words and numbers for people: time left, signed amounts, states.

use crate::domain::Money;

/// "42 min left", "1 h 05 min left", "under a minute left", "window closed".
pub fn time_left(expires_at_ms: i64, now_ms: i64) -> String {
    let seconds = (expires_at_ms - now_ms) / 1000;
    if seconds <= 0 {
        return "window closed".into();
    }
    let minutes = seconds / 60;
    match minutes {
        0 => "under a minute left".into(),
        1..=59 => format!("{minutes} min left"),
        _ => format!("{} h {:02} min left", minutes / 60, minutes % 60),
    }
}

/// `$1,250.00`, or `-$250.00` below zero.
pub fn signed_money(cents: i64) -> String {
    let magnitude = Money::from_cents(cents.abs()).map(Money::to_human).unwrap_or_default();
    if cents < 0 {
        format!("-{magnitude}")
    } else {
        magnitude
    }
}

/// A state in plain words.
pub fn state_words(state: &str) -> &'static str {
    match state {
        "pending_approval" => "Waiting for approval",
        "approved" => "Approved, about to be submitted",
        "executing" => "Being submitted to Plaid",
        "submitted" => "Transfer submitted",
        "rejected" => "Rejected",
        "expired" => "Expired (window passed)",
        "cancelled" => "Cancelled by the agent",
        "superseded" => "Replaced by an edited version",
        "reauth_required" => "Waiting for the bank login to be repaired",
        "failed" => "Failed at Plaid",
        "declined" => "Declined by Plaid",
        "action_required" => "Needs action by the account holder",
        _ => "Proposed",
    }
}

/// UTC time of day for a timestamp, e.g. "14:05 UTC".
pub fn clock(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| format!("{:02}:{:02} UTC", t.hour(), t.minute()))
        .unwrap_or_default()
}

/// Date and time, e.g. "2025-01-02 14:05:09 UTC".
pub fn date_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| format!("{} {:02}:{:02}:{:02} UTC", t.date(), t.hour(), t.minute(), t.second()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_naturally() {
        assert_eq!(time_left(0, 1), "window closed");
        assert_eq!(time_left(30_000, 0), "under a minute left");
        assert_eq!(time_left(42 * 60_000 + 5_000, 0), "42 min left");
        assert_eq!(time_left(65 * 60_000, 0), "1 h 05 min left");
    }

    #[test]
    fn negative_balances_keep_their_sign() {
        assert_eq!(signed_money(-25_000), "-$250.00");
        assert_eq!(signed_money(125_000), "$1,250.00");
    }
}
