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

/// Why a request no longer takes approvals, in the words the page and its live script show; `None`
/// while it is open. An expired request says when its window closed — never "already decided":
/// nobody decided it.
pub fn window_notice(state: &str, expires_at_ms: i64, now_ms: i64) -> Option<String> {
    let closed = || format!("The approval window closed at {}.", clock(expires_at_ms));
    match state {
        "expired" => Some(closed()),
        "pending_approval" if expires_at_ms <= now_ms => Some(closed()),
        "pending_approval" => None,
        other => Some(format!("This request is no longer waiting for approval: {}.", state_words(other))),
    }
}

/// An audit event's name for people: "transfer.approval" reads "Approval given". Plaid's transfer
/// events ("transfer.posted") read "Plaid: posted"; anything unknown is shown as recorded.
pub fn event_words(event_type: &str) -> String {
    let known = match event_type {
        "transfer.proposed" => "Proposed by the agent",
        "transfer.authorization_attempt" => "Asked Plaid to authorize",
        "transfer.authorization" => "Plaid's authorization decision",
        "transfer.authorization_cancel" => "Plaid's authorization cancelled",
        "approval_token.issued" => "Approver confirmed presence",
        "transfer.approval" => "Approval given",
        "transfer.approved" => "Approved (all approvals in)",
        "transfer.rejected" => "Rejected by an approver",
        "transfer.superseded" => "Replaced by an approver's edit",
        "transfer.expired" => "Expired (window passed)",
        "transfer.cancel_requested" => "Agent asked to cancel",
        "transfer.cancelled" => "Cancelled",
        "transfer.execution_claimed" => "Claimed for submission",
        "transfer.execution_attempt" => "Submitting to Plaid",
        "transfer.executed" => "Transfer created at Plaid",
        "transfer.reconcile_deferred" => "Checking with Plaid later",
        "transfer.reconciled" => "Checked with Plaid",
        "transfer.resumed" => "Resumed by the agent",
        "transfer.resumed_on_login_repaired" => "Resumed after the bank login was repaired",
        "transfer.pii_purged" => "Legal name purged (retention)",
        "audit.evidence_viewed" => "Evidence viewed",
        other => {
            return match other.strip_prefix("transfer.") {
                Some(status) => format!("Plaid: {}", status.replace('_', " ")),
                None => other.to_owned(),
            }
        }
    };
    known.to_owned()
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
    fn an_expired_request_says_when_its_window_closed_and_a_decided_one_what_became_of_it() {
        let at = 22 * 3_600_000 + 48 * 60_000;
        assert_eq!(window_notice("pending_approval", at, at - 1), None);
        assert_eq!(
            window_notice("pending_approval", at, at).as_deref(),
            Some("The approval window closed at 22:48 UTC.")
        );
        assert_eq!(window_notice("expired", at, 0).as_deref(), Some("The approval window closed at 22:48 UTC."));
        let rejected = window_notice("rejected", at, 0).unwrap_or_default();
        assert_eq!(rejected, "This request is no longer waiting for approval: Rejected.");
    }

    #[test]
    fn negative_balances_keep_their_sign() {
        assert_eq!(signed_money(-25_000), "-$250.00");
        assert_eq!(signed_money(125_000), "$1,250.00");
    }
}
