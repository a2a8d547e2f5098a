//! Plaid's error object and the HTTP statuses that go with it.
//!
//! Every failing Plaid endpoint answers with exactly this shape (the `PlaidError` schema plus the
//! `request_id` Plaid adds to API errors). This module must never invent error types outside the
//! spec's `PlaidErrorType` enum; where an error code is a guess, the caller says so in a comment.

use axum::http::StatusCode;
use serde_json::{json, Value};

/// One Plaid API error, before it gets a request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaidError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub error_code: &'static str,
    pub message: String,
}

impl PlaidError {
    pub fn new(
        status: StatusCode,
        error_type: &'static str,
        error_code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self { status, error_type, error_code, message: message.into() }
    }

    /// 400 INVALID_REQUEST/INVALID_FIELD; the message names the field.
    pub fn invalid_field(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "INVALID_FIELD", message)
    }

    pub fn missing_fields(fields: &[&str]) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "MISSING_FIELDS",
            format!("the following required fields are missing: {}", fields.join(", ")),
        )
    }

    pub fn invalid_access_token() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "INVALID_ACCESS_TOKEN",
            "provided access token is in an invalid format. expected format: access-<environment>-<identifier>",
        )
    }

    pub fn invalid_account_id() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "INVALID_ACCOUNT_ID",
            "one or more of the account IDs is invalid",
        )
    }

    pub fn item_login_required() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ITEM_ERROR",
            "ITEM_LOGIN_REQUIRED",
            "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "API_ERROR",
            "INTERNAL_SERVER_ERROR",
            "an unexpected error occurred",
        )
    }

    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMIT_EXCEEDED",
            "RATE_LIMIT",
            "rate limit exceeded for this endpoint; retry later",
        )
    }

    /// The body of an API error response.
    pub fn to_body(&self, request_id: &str) -> Value {
        let mut body = self.fields();
        body["request_id"] = json!(request_id);
        body
    }

    /// The error as Plaid embeds it in a webhook: `status` carries the HTTP code and there is no
    /// request id (NOTES §2, ItemErrorWebhook).
    pub fn to_webhook_value(&self) -> Value {
        let mut body = self.fields();
        body["status"] = json!(self.status.as_u16());
        body
    }

    /// The error as it sits in `item.error` on /item/get: no request id, `status` null.
    pub fn to_item_value(&self) -> Value {
        self.fields()
    }

    fn fields(&self) -> Value {
        json!({
            "error_type": self.error_type,
            "error_code": self.error_code,
            "error_message": self.message,
            "display_message": null,
            "causes": [],
            "status": null,
            "documentation_url": documentation_url(self.error_type, self.error_code),
            "suggested_action": null,
            "error_code_reason": null,
        })
    }
}

/// Plaid links each error to its docs page, e.g. `.../errors/invalid-input/#invalid_api_keys`.
fn documentation_url(error_type: &str, error_code: &str) -> String {
    format!(
        "https://plaid.com/docs/errors/{}/#{}",
        error_type.to_ascii_lowercase().replace('_', "-"),
        error_code.to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_body_has_every_plaid_key() {
        let body = PlaidError::invalid_account_id().to_body("abc");
        for key in [
            "error_type",
            "error_code",
            "error_message",
            "display_message",
            "request_id",
            "causes",
            "status",
            "documentation_url",
            "suggested_action",
            "error_code_reason",
        ] {
            assert!(body.get(key).is_some(), "{key}");
        }
        assert_eq!(body["documentation_url"], "https://plaid.com/docs/errors/invalid-input/#invalid_account_id");
    }
}
