//! Plaid's transfer status after `/transfer/create`, and the only ways it may move (Plaid NOTES §3):
//! `pending → posted → settled → funds_available` (debits; `settled` ends a credit), `failed` or
//! `cancelled` before it posts, `returned` after it posted. Events arrive more than once and, across
//! webhooks and polls, late: an event that would not move the status forward is ignored, so the
//! status never goes backwards or changes twice for one event.

/// A transfer's status as Plaid reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferStatus {
    Pending,
    Posted,
    Settled,
    FundsAvailable,
    Failed,
    Cancelled,
    Returned,
}

impl TransferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Posted => "posted",
            Self::Settled => "settled",
            Self::FundsAvailable => "funds_available",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Returned => "returned",
        }
    }

    /// A status named by Plaid; `None` for anything else (sweeps, refunds, types Plaid adds later).
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Posted,
            Self::Settled,
            Self::FundsAvailable,
            Self::Failed,
            Self::Cancelled,
            Self::Returned,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    /// Nothing moves the transfer after this.
    pub fn is_final(self) -> bool {
        matches!(self, Self::FundsAvailable | Self::Failed | Self::Cancelled | Self::Returned)
    }

    /// Where an event of type `event_type` takes a transfer in this status: `Some` only for a step
    /// forward. Repeats, stale events and types that are not statuses give `None`.
    pub fn advance(self, event_type: &str) -> Option<TransferStatus> {
        use TransferStatus as S;
        let next = Self::parse(event_type)?;
        let allowed = match (self, next) {
            (S::Pending, S::Posted | S::Settled | S::FundsAvailable | S::Failed | S::Cancelled) => true,
            (S::Posted, S::Settled | S::FundsAvailable | S::Returned) => true,
            (S::Settled, S::FundsAvailable | S::Returned) => true,
            // A debit can still come back after its funds were made available (e.g. R10).
            (S::FundsAvailable, S::Returned) => true,
            _ => false,
        };
        allowed.then_some(next)
    }
}

impl std::fmt::Display for TransferStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::TransferStatus as S;

    #[test]
    fn a_debit_moves_forward_to_funds_available() {
        let mut status = S::Pending;
        for event in ["posted", "settled", "funds_available"] {
            status = status.advance(event).expect("a step forward");
        }
        assert_eq!(status, S::FundsAvailable);
        assert!(status.is_final());
    }

    #[test]
    fn repeated_and_late_events_never_move_it_back_or_twice() {
        assert_eq!(S::Posted.advance("posted"), None, "a duplicate");
        assert_eq!(S::Settled.advance("posted"), None, "a late event");
        assert_eq!(S::Settled.advance("pending"), None);
        assert_eq!(S::Returned.advance("settled"), None, "returned is final");
        assert_eq!(S::Failed.advance("posted"), None, "failed is final");
    }

    #[test]
    fn a_skipped_event_still_lands_forward() {
        assert_eq!(S::Pending.advance("settled"), Some(S::Settled));
    }

    #[test]
    fn returns_come_only_after_posting_and_failures_only_before() {
        assert_eq!(S::Pending.advance("returned"), None);
        assert_eq!(S::Posted.advance("returned"), Some(S::Returned));
        assert_eq!(S::FundsAvailable.advance("returned"), Some(S::Returned));
        assert_eq!(S::Posted.advance("failed"), None);
        assert_eq!(S::Pending.advance("cancelled"), Some(S::Cancelled));
    }

    #[test]
    fn sweeps_refunds_and_unknown_types_are_not_statuses() {
        for event in ["swept", "sweep.settled", "refund.posted", "something_new"] {
            assert_eq!(S::Pending.advance(event), None, "{event}");
        }
    }
}
