//! The one error type of the service and HTTP layers.
//!
//! 4xx errors carry a stable machine `code` and a human `message`; 5xx errors log their cause
//! chain and answer with an opaque body. Either way the body is
//! `{"error": {"code", "message", "request_id"}}`; the request id is filled in by the HTTP layer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Client { status: StatusCode, code: &'static str, message: String, retry_after: Option<u64> },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Error::Client { status, code, message: message.into(), retry_after: None }
    }

    /// Adds a `Retry-After` (seconds) to a client error: 429 and 503 say when to come back.
    pub fn with_retry_after(self, seconds: u64) -> Self {
        match self {
            Error::Client { status, code, message, .. } => {
                Error::Client { status, code, message, retry_after: Some(seconds.max(1)) }
            }
            internal => internal,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::CONFLICT, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::FORBIDDEN, code, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::client(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn unauthorized() -> Self {
        Self::client(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer cs_...",
        )
    }

    pub fn plaid_unavailable() -> Self {
        Self::client(
            StatusCode::SERVICE_UNAVAILABLE,
            "plaid_unavailable",
            "Plaid did not answer; nothing was lost. Retry with the same Idempotency-Key.",
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Client { status, .. } => *status,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(error: crate::store::StoreError) -> Self {
        Error::Internal(error.into())
    }
}

impl From<crate::crypto::CryptoError> for Error {
    fn from(error: crate::crypto::CryptoError) -> Self {
        Error::Internal(error.into())
    }
}

/// Marks an error response so the HTTP layer can add the request id to its body.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
}

impl ErrorBody {
    pub fn to_json(&self, request_id: Option<&str>) -> serde_json::Value {
        serde_json::json!({ "error": { "code": self.code, "message": self.message, "request_id": request_id } })
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut retry = None;
        let (status, body) = match self {
            Error::Client { status, code, message, retry_after } => {
                retry = retry_after;
                (status, ErrorBody { code, message })
            }
            Error::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorBody {
                        code: "internal_error",
                        message: "something went wrong on our side; quote the request_id when reporting it".into(),
                    },
                )
            }
        };
        let mut response = (status, axum::Json(body.to_json(None))).into_response();
        if let Some(seconds) = retry {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response.extensions_mut().insert(body);
        response
    }
}
