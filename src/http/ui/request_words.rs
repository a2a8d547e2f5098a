//! Words and form state for the request page: who decided and when, what the approve button
//! does, which field a refusal points at, what the approver had typed, the agent's record.

use super::format::{date_time, signed_money};
use super::session::FlashQuery;
use crate::service::context::AgentRecord;
use crate::service::review;

/// Links between versions of a request (the `versions.html` partial reads `row.…`).
pub struct Versions {
    pub edited_from: Option<String>,
    pub renewed_from: Option<String>,
    pub replaced_by: Option<String>,
}

/// Who decided and when, in words, once the request left the approvers' hands.
pub fn decided_words(r: &review::Review) -> Option<String> {
    let record = &r.record;
    match record.state.as_str() {
        "rejected" => Some(match &r.rejected_by {
            Some((who, at)) => format!("Rejected by {who} at {}.", date_time(*at)),
            None => "Rejected by an approver.".to_owned(),
        }),
        "approved" | "executing" | "submitted" | "reauth_required" | "failed" if !r.view.approvals.is_empty() => {
            let last = r.view.approvals.last().map(|a| a.approved_at.as_str()).unwrap_or_default();
            let at = crate::service::parse_rfc3339_ms(last).map(date_time).unwrap_or_default();
            let names: Vec<&str> = r.view.approvals.iter().map(|a| a.username.as_str()).collect();
            Some(format!("Approved by {} (last approval at {at}).", names.join(" and ")))
        }
        "superseded" => Some("Replaced by an approver's edit; the new version is decided on its own.".to_owned()),
        "cancelled" => Some(format!("Cancelled by the agent at {}.", date_time(record.updated_at))),
        "declined" => Some("Declined by Plaid before anyone was asked.".to_owned()),
        _ => None,
    }
}

/// What the approver typed before a refusal, shown back in the form (escaped text; never a code).
#[derive(Default)]
pub struct Kept {
    pub confirm: String,
    pub amount: String,
    pub description: String,
    pub reason: String,
}

impl Kept {
    pub fn from(query: &FlashQuery) -> Self {
        let keep = |value: &Option<String>| value.clone().unwrap_or_default();
        Kept {
            confirm: keep(&query.confirm),
            amount: keep(&query.amount),
            description: keep(&query.description),
            reason: keep(&query.reason),
        }
    }
}

/// The form field a refusal is about, so the page marks it invalid, explains beside it and
/// moves focus there.
pub fn error_field(code: Option<&str>, form: Option<&str>) -> &'static str {
    let edit = form == Some("edit");
    match code.unwrap_or_default() {
        "amount_mismatch" => "confirm_amount",
        "read_first" => "read_confirmed",
        "invalid_totp" | "totp_reused" | "totp_required" | "step_up_required" if edit => "edit_totp",
        "invalid_totp" | "totp_reused" | "totp_required" | "step_up_required" => "approve_totp",
        "reason_required" => "reason",
        "invalid_amount" | "nothing_to_edit" => "edit_amount",
        "invalid_description" => "edit_description",
        _ => "",
    }
}

/// "Approve and send $1,500.00 — Plaid creates the debit now", or, when others must approve
/// too, "Approve $12,000.00 — 1 more approval needed after yours".
pub fn approve_button(amount: &str, debit: bool, given: usize, required: i64) -> String {
    let after_mine = required - i64::try_from(given).unwrap_or(i64::MAX) - 1;
    match after_mine {
        n if n <= 0 => {
            format!("Approve and send {amount} — Plaid creates the {} now", if debit { "debit" } else { "credit" })
        }
        1 => format!("Approve {amount} — 1 more approval needed after yours"),
        n => format!("Approve {amount} — {n} more approvals needed after yours"),
    }
}

/// "12 requests, 9 approved, 2 rejected, $4,300.00 moved".
pub fn agent_record(record: &AgentRecord) -> String {
    let requests = if record.requests == 1 { "1 request".to_owned() } else { format!("{} requests", record.requests) };
    format!(
        "{requests}, {} approved, {} rejected, {} moved",
        record.approved,
        record.rejected,
        signed_money(record.moved_cents)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_approve_button_says_what_happens() {
        assert_eq!(approve_button("$1,500.00", true, 0, 1), "Approve and send $1,500.00 — Plaid creates the debit now");
        assert_eq!(approve_button("$12,000.00", true, 0, 2), "Approve $12,000.00 — 1 more approval needed after yours");
        assert_eq!(
            approve_button("$12,000.00", false, 1, 2),
            "Approve and send $12,000.00 — Plaid creates the credit now"
        );
        assert_eq!(approve_button("$9.00", true, 0, 3), "Approve $9.00 — 2 more approvals needed after yours");
    }

    #[test]
    fn a_refusal_points_at_the_field_of_the_form_it_came_from() {
        assert_eq!(error_field(Some("invalid_totp"), None), "approve_totp");
        assert_eq!(error_field(Some("invalid_totp"), Some("edit")), "edit_totp");
        assert_eq!(error_field(Some("amount_mismatch"), None), "confirm_amount");
        assert_eq!(error_field(Some("approved"), None), "");
        assert_eq!(error_field(None, None), "");
    }
}
