//! The transfer request's state machine (DESIGN §3).
//!
//! One method per allowed transition returns the target state or refuses. The store mirrors each
//! transition with a compare-and-set (`UPDATE … WHERE id = ? AND state = ?`), so the rules here and
//! the row's state can never disagree even with several replicas.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestState {
    /// Stored, waiting for Plaid's authorization decision.
    Proposed,
    Declined,
    ActionRequired,
    PendingApproval,
    Approved,
    Executing,
    Submitted,
    Rejected,
    Expired,
    Cancelled,
    Superseded,
    ReauthRequired,
    Failed,
}

/// Something that happened to a request; [`RequestState::apply`] says where it leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    PlaidApproved,
    /// A recurring transfer: held for approvals with nothing asked of Plaid until the quorum.
    HeldForApproval,
    PlaidDeclined,
    PlaidNeedsUserAction,
    /// A definite Plaid error at authorization or creation: nothing was or will be created.
    PlaidFailed,
    QuorumMet,
    Rejected,
    WindowPassed,
    AgentCancelled,
    Edited,
    Claimed,
    TransferCreated,
    LoginRequired,
    Resumed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a request that is {from} cannot take {event:?}")]
pub struct InvalidTransition {
    pub from: RequestState,
    pub event: Event,
}

const ALL: [RequestState; 13] = [
    RequestState::Proposed,
    RequestState::Declined,
    RequestState::ActionRequired,
    RequestState::PendingApproval,
    RequestState::Approved,
    RequestState::Executing,
    RequestState::Submitted,
    RequestState::Rejected,
    RequestState::Expired,
    RequestState::Cancelled,
    RequestState::Superseded,
    RequestState::ReauthRequired,
    RequestState::Failed,
];

impl RequestState {
    /// Every state [`Self::is_terminal`] accepts.
    pub fn terminal_states() -> Vec<RequestState> {
        ALL.into_iter().filter(|s| s.is_terminal()).collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Declined => "declined",
            Self::ActionRequired => "action_required",
            Self::PendingApproval => "pending_approval",
            Self::Approved => "approved",
            Self::Executing => "executing",
            Self::Submitted => "submitted",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Superseded => "superseded",
            Self::ReauthRequired => "reauth_required",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// Whether nothing more can happen to the request (Plaid's own transfer status still moves
    /// after `submitted`, but the request itself is done).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Declined
                | Self::ActionRequired
                | Self::Submitted
                | Self::Rejected
                | Self::Expired
                | Self::Cancelled
                | Self::Superseded
                | Self::Failed
        )
    }

    /// States in which Plaid's authorization is live and unused, so it must be cancelled or
    /// expired when the request ends.
    pub fn holds_live_authorization(self) -> bool {
        matches!(self, Self::PendingApproval | Self::Approved | Self::ReauthRequired)
    }

    pub fn apply(self, event: Event) -> Result<RequestState, InvalidTransition> {
        use Event as E;
        use RequestState as S;
        let next = match (self, event) {
            (S::Proposed, E::PlaidApproved | E::HeldForApproval) => S::PendingApproval,
            (S::Proposed, E::PlaidDeclined) => S::Declined,
            (S::Proposed, E::PlaidNeedsUserAction) => S::ActionRequired,
            (S::Proposed, E::PlaidFailed) => S::Failed,
            (S::PendingApproval, E::QuorumMet) => S::Approved,
            (S::PendingApproval, E::Rejected) => S::Rejected,
            (S::PendingApproval, E::Edited) => S::Superseded,
            (S::PendingApproval | S::Approved | S::ReauthRequired, E::WindowPassed) => S::Expired,
            (S::PendingApproval | S::Approved | S::ReauthRequired, E::AgentCancelled) => S::Cancelled,
            (S::Approved, E::Claimed) => S::Executing,
            (S::Executing, E::TransferCreated) => S::Submitted,
            (S::Executing, E::LoginRequired) => S::ReauthRequired,
            (S::Executing, E::PlaidFailed) => S::Failed,
            (S::ReauthRequired, E::Resumed) => S::Approved,
            (from, event) => return Err(InvalidTransition { from, event }),
        };
        Ok(next)
    }

    /// Every state from which `event` is allowed, for compare-and-set updates that accept any of them.
    pub fn sources_of(event: Event) -> Vec<RequestState> {
        ALL.into_iter().filter(|state| state.apply(event).is_ok()).collect()
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for RequestState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event as E;
    use RequestState as S;

    #[test]
    fn names_round_trip() {
        for state in ALL {
            assert_eq!(S::parse(state.as_str()), Some(state));
        }
        assert_eq!(S::parse("approved "), None);
    }

    #[test]
    fn the_happy_path_reaches_submitted() {
        let end = [E::PlaidApproved, E::QuorumMet, E::Claimed, E::TransferCreated]
            .into_iter()
            .try_fold(S::Proposed, S::apply);
        assert_eq!(end, Ok(S::Submitted));
    }

    #[test]
    fn plaid_decides_before_any_human() {
        assert_eq!(S::Proposed.apply(E::QuorumMet).err().map(|e| e.from), Some(S::Proposed));
        assert_eq!(S::Proposed.apply(E::PlaidDeclined), Ok(S::Declined));
        assert_eq!(S::Proposed.apply(E::PlaidNeedsUserAction), Ok(S::ActionRequired));
    }

    #[test]
    fn terminal_states_accept_nothing() {
        let events = [
            E::PlaidApproved,
            E::HeldForApproval,
            E::PlaidDeclined,
            E::PlaidNeedsUserAction,
            E::PlaidFailed,
            E::QuorumMet,
            E::Rejected,
            E::WindowPassed,
            E::AgentCancelled,
            E::Edited,
            E::Claimed,
            E::TransferCreated,
            E::LoginRequired,
            E::Resumed,
        ];
        for state in ALL.into_iter().filter(|s| s.is_terminal()) {
            for event in events {
                assert!(state.apply(event).is_err(), "{state} accepted {event:?}");
            }
        }
    }

    #[test]
    fn executing_cannot_expire_or_be_cancelled() {
        // A create call may be in flight: only Plaid's answer (or reconciliation) ends it.
        assert!(S::Executing.apply(E::WindowPassed).is_err());
        assert!(S::Executing.apply(E::AgentCancelled).is_err());
    }

    #[test]
    fn reauth_resumes_to_approved_with_its_approvals() {
        assert_eq!(S::Executing.apply(E::LoginRequired), Ok(S::ReauthRequired));
        assert_eq!(S::ReauthRequired.apply(E::Resumed), Ok(S::Approved));
    }

    #[test]
    fn sources_of_lists_exactly_the_allowed_states() {
        assert_eq!(S::sources_of(E::WindowPassed), vec![S::PendingApproval, S::Approved, S::ReauthRequired]);
        assert_eq!(S::sources_of(E::Claimed), vec![S::Approved]);
    }

    #[test]
    fn live_authorizations_are_exactly_the_expirable_states() {
        for state in ALL {
            assert_eq!(state.holds_live_authorization(), state.apply(E::WindowPassed).is_ok(), "{state}");
        }
    }
}
