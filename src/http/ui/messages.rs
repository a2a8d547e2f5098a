//! Flash messages: redirects carry a fixed message code (`?m=approved`), pages turn it into text
//! from this table. Unknown codes show nothing, so a crafted link can't put words on our pages.

use crate::error::Error;
use std::borrow::Cow;

/// A message shown at the top of a page.
#[derive(Debug, Clone)]
pub struct Flash {
    pub text: Cow<'static, str>,
    pub is_error: bool,
}

const OK: &[(&str, &str)] = &[
    ("approved", "Your approval is recorded."),
    ("rejected", "You rejected this request. The agent will be told, and Plaid's authorization is cancelled."),
    ("edited", "Your edit created this new version, and your approval counts for it."),
    ("transfer_cancelled", "Plaid cancelled this transfer; no money will move. The agent will see it as cancelled."),
    ("signed_out", "You are signed out."),
    (
        "signed_in_again",
        "You are signed in again. Nothing was approved or rejected while you were signed out: decide again.",
    ),
    ("approved_next", "Your approval of the previous request is recorded. This is the next request waiting for you."),
    ("rejected_next", "You rejected the previous request. This is the next request waiting for you."),
    ("enrolled", "Enrollment complete. Sign in with your new password and a code from your authenticator."),
    ("acknowledged", "Acknowledged: the transfer is marked as reviewed."),
    ("flagged", "Flagged: the team is alerted, and your flag is in the audit trail."),
];

const REFUSED: &[(&str, &str)] = &[
    ("session_ended", "Your session ended (timed out, rotated or signed out). Sign in again."),
    (
        "session_ended_nothing_done",
        "Your session ended before your decision reached us, so nothing was approved or rejected. Sign in again: \
         you will return to the request.",
    ),
    ("invalid_credentials", "Username, password or code is wrong."),
    ("too_many_attempts", "Too many attempts. Wait a little, then try again."),
    ("busy", "Too many sign-ins at once. Try again in a second."),
    ("totp_reused", "That code was already used. Wait for the next code in your authenticator."),
    ("invalid_totp", "The code is wrong. Check your authenticator and try again."),
    ("totp_required", "This amount needs a fresh code from your authenticator."),
    ("step_up_required", "This amount needs a fresh code from your authenticator."),
    ("already_decided", "This request was already decided; nothing more to do."),
    ("window_passed", "Plaid's authorization window for this request has passed; it can no longer be approved."),
    ("already_approved", "You already approved this request."),
    ("approval_token_reused", "This approval was already submitted."),
    ("payload_hash_mismatch", "The request changed since you opened it. Review it again before deciding."),
    (
        "reauthentication_required",
        "Multi-party approvals need a sign-in within the last 15 minutes. Sign out, sign in again, then approve.",
    ),
    ("reason_required", "Give a reason (1 to 500 characters) for rejecting."),
    ("invalid_amount", "An edit may only lower the amount (not to zero); write it like 1250.00."),
    ("nothing_to_edit", "Give a lower amount or a new description."),
    ("invalid_description", "The description must be printable ASCII and short (10 characters for ACH)."),
    ("amount_mismatch", "Type the amount exactly as shown to confirm this transfer."),
    ("not_an_approver", "This account does not have the approver role."),
    ("approver_not_allowed", "You may not approve transfers for this account."),
    ("owner_cannot_approve", "You own the agent that proposed this transfer, so you cannot approve it."),
    ("transfer_not_cancellable", "Plaid no longer lets this transfer be cancelled: it has moved past pending."),
    ("invalid_state", "The request is no longer in a state where that can be done."),
    ("in_progress", "That form is still being handled. Refresh in a moment."),
    ("plaid_unavailable", "Plaid did not answer. Nothing was lost; try again."),
    ("password_mismatch", "The two passwords differ. Type the same password twice."),
    ("link_unusable", "This enrollment link was already used or has expired. Ask an operator for a new one."),
    ("weak_password", "Passwords must be at least 12 characters."),
    ("internal_error", "Something went wrong on our side. Check the request's state before trying again."),
    (
        "read_first",
        "You approved this tier-3 request very soon after opening it. Nothing was approved. Read it again, \
         then tick \"I have read this request\" and approve.",
    ),
    ("not_batchable", "This request needs a fresh code or several approvers: approve it on its own page."),
    ("refused", "That action was refused."),
    (
        "approver_group_required",
        "This request needs approvals from named groups, and yours cannot fill a slot still open.",
    ),
    ("already_reviewed", "This transfer was already reviewed in the Digest."),
    ("not_in_digest", "Only tier-1 transfers are reviewed in the Digest."),
    ("note_too_long", "A note is at most 500 characters."),
    ("flag_reason_required", "Say what is wrong in the note when you flag a transfer."),
];

pub fn flash(code: &str) -> Option<Flash> {
    if let Some((_, text)) = OK.iter().find(|(c, _)| *c == code) {
        return Some(Flash { text: Cow::Borrowed(text), is_error: false });
    }
    REFUSED.iter().find(|(c, _)| *c == code).map(|(_, text)| Flash { text: Cow::Borrowed(text), is_error: true })
}

/// The throttled sign-in message with how long to wait (a number from our own redirect; any
/// other text in the link is never shown).
pub fn too_many_attempts(wait_seconds: u64) -> Flash {
    let wait = crate::service::signin::wait_phrase(wait_seconds);
    Flash { text: Cow::Owned(format!("Too many attempts; try again in {wait}.")), is_error: true }
}

/// After a batch: how many requests were approved and how many refused (numbers from our own
/// redirect; any other text in the link is never shown).
pub fn batch_done(approved: u32, refused: u32) -> Flash {
    let requests = |n: u32| if n == 1 { "1 request".to_owned() } else { format!("{n} requests") };
    if refused == 0 {
        return Flash { text: Cow::Owned(format!("Approved {}, one by one.", requests(approved))), is_error: false };
    }
    Flash {
        text: Cow::Owned(format!(
            "Approved {}; {} could not be approved (decided meanwhile, window closed or needs its own page).",
            requests(approved),
            requests(refused)
        )),
        is_error: true,
    }
}

/// The message code to redirect with after a refused action.
pub fn code_of(error: &Error) -> &'static str {
    match error {
        Error::Client { code, .. } => REFUSED.iter().find(|(c, _)| c == code).map_or("refused", |(c, _)| c),
        Error::Internal(error) => {
            tracing::error!(error = format!("{error:#}"), "internal error on a web form action");
            "internal_error"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn unknown_codes_show_nothing_and_known_ones_show_fixed_text() {
        assert!(flash("<script>").is_none());
        assert!(flash("approved").is_some_and(|f| !f.is_error));
        assert!(flash("window_passed").is_some_and(|f| f.is_error));
    }

    #[test]
    fn refusals_map_to_their_own_code_or_a_generic_one() {
        assert_eq!(code_of(&Error::conflict("already_decided", "x")), "already_decided");
        assert_eq!(code_of(&Error::client(StatusCode::IM_A_TEAPOT, "teapot", "x")), "refused");
    }
}
