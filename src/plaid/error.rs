//! Plaid's error object and what a failed call means for us.

use serde::Deserialize;

/// Plaid's `PlaidError` body. `error_type` stays a string: Plaid adds types without notice.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PlaidApiError {
    pub error_type: String,
    pub error_code: String,
    #[serde(default)]
    pub error_message: String,
    #[serde(default)]
    pub display_message: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlaidError {
    /// Plaid answered with its error object.
    #[error("Plaid error {}/{} (HTTP {status})", error.error_type, error.error_code)]
    Api { status: u16, error: PlaidApiError },
    /// No answer, or one we could not read: the call may or may not have taken effect.
    #[error("Plaid did not answer in time or the connection failed: {0}")]
    Transport(String),
    /// A 2xx whose body does not match Plaid's schema.
    #[error("Plaid's response could not be decoded: {0}")]
    Decode(String),
}

impl PlaidError {
    /// The Plaid `error_code`, when Plaid gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            PlaidError::Api { error, .. } => Some(&error.error_code),
            _ => None,
        }
    }

    pub fn is_login_required(&self) -> bool {
        self.code() == Some("ITEM_LOGIN_REQUIRED")
    }

    /// True when the outcome is unknown or temporary (timeouts, 5xx, 429): the call must be
    /// retried with the same idempotency key or reconciled, never treated as a definite "no".
    pub fn is_indeterminate(&self) -> bool {
        match self {
            PlaidError::Api { status, .. } => *status >= 500 || *status == 429,
            PlaidError::Transport(_) | PlaidError::Decode(_) => true,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            PlaidError::Api { error, .. } => error.request_id.as_deref(),
            _ => None,
        }
    }
}
