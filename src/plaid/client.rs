//! The Plaid HTTP client: reqwest with timeouts, credentials in headers (as Plaid's official
//! clients send them), an injectable base URL so tests and the embedded mode can point it at the
//! simulator.

use super::error::{PlaidApiError, PlaidError};
use super::types::*;
use crate::metrics::Metrics;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which Plaid to talk to. `Sim` is the built-in simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaidEnvironment {
    Sim,
    Sandbox,
    Production,
}

impl PlaidEnvironment {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "sim" => Some(Self::Sim),
            "sandbox" => Some(Self::Sandbox),
            "production" => Some(Self::Production),
            _ => None,
        }
    }

    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::Sim => None,
            Self::Sandbox => Some("https://sandbox.plaid.com"),
            Self::Production => Some("https://production.plaid.com"),
        }
    }
}

#[derive(Clone)]
pub struct PlaidClient {
    http: reqwest::Client,
    base_url: String,
    client_id: String,
    secret: SecretString,
    /// Where each call's latency and failure is counted, when the service wants it.
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for PlaidClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaidClient").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

/// What Link shows as the application's name in update mode.
const CLIENT_NAME: &str = "Countersign";

impl PlaidClient {
    pub fn new(base_url: &str, client_id: String, secret: SecretString, timeout: Duration) -> Result<Self, PlaidError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("countersign/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PlaidError::Transport(e.to_string()))?;
        Ok(Self { http, base_url: base_url.trim_end_matches('/').to_owned(), client_id, secret, metrics: None })
    }

    /// Times every call and counts failures by endpoint in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn post<B: Serialize, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R, PlaidError> {
        let started = Instant::now();
        let result = self.call(path, body).await;
        if let Some(metrics) = &self.metrics {
            let kind = result.as_ref().err().map(|error| match error {
                PlaidError::Api { error, .. } => error.error_code.as_str(),
                PlaidError::Transport(_) => "transport",
                PlaidError::Decode(_) => "decode",
            });
            metrics.plaid_call(path, started.elapsed(), kind);
        }
        result
    }

    async fn call<B: Serialize, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R, PlaidError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("PLAID-CLIENT-ID", &self.client_id)
            .header("PLAID-SECRET", self.secret.expose_secret())
            .header("Plaid-Version", "2020-09-14")
            .json(body)
            .send()
            .await
            .map_err(|e| PlaidError::Transport(without_url(e)))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| PlaidError::Transport(without_url(e)))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| PlaidError::Decode(e.to_string()));
        }
        match serde_json::from_slice::<PlaidApiError>(&bytes) {
            Ok(error) => Err(PlaidError::Api { status, error }),
            Err(_) if status >= 500 => Err(PlaidError::Transport(format!("HTTP {status} without a Plaid error body"))),
            Err(e) => Err(PlaidError::Decode(format!("HTTP {status}: {e}"))),
        }
    }

    pub async fn authorize_transfer(
        &self,
        request: &AuthorizationCreateRequest<'_>,
    ) -> Result<AuthorizationCreateResponse, PlaidError> {
        self.post("/transfer/authorization/create", request).await
    }

    pub async fn cancel_authorization(&self, authorization_id: &str) -> Result<RequestIdOnly, PlaidError> {
        self.post("/transfer/authorization/cancel", &AuthorizationCancelRequest { authorization_id }).await
    }

    pub async fn create_transfer(&self, request: &TransferCreateRequest<'_>) -> Result<TransferResponse, PlaidError> {
        self.post("/transfer/create", request).await
    }

    pub async fn transfer_by_authorization(&self, authorization_id: &str) -> Result<TransferResponse, PlaidError> {
        let request = TransferGetRequest { transfer_id: None, authorization_id: Some(authorization_id) };
        self.post("/transfer/get", &request).await
    }

    /// Cancels a transfer Plaid still lists as `cancellable` (else TRANSFER_NOT_CANCELLABLE).
    pub async fn cancel_transfer(&self, transfer_id: &str) -> Result<RequestIdOnly, PlaidError> {
        self.post("/transfer/cancel", &TransferCancelRequest { transfer_id }).await
    }

    /// Creates a recurring transfer; Plaid dedupes on `idempotency_key` (same key, same answer).
    pub async fn create_recurring(
        &self,
        request: &RecurringCreateRequest<'_>,
    ) -> Result<RecurringCreateResponse, PlaidError> {
        self.post("/transfer/recurring/create", request).await
    }

    pub async fn recurring_by_id(&self, recurring_transfer_id: &str) -> Result<RecurringGetResponse, PlaidError> {
        self.post("/transfer/recurring/get", &RecurringIdRequest { recurring_transfer_id }).await
    }

    /// Stops future originations; transfers already originated are not cancelled by it.
    pub async fn cancel_recurring(&self, recurring_transfer_id: &str) -> Result<RequestIdOnly, PlaidError> {
        self.post("/transfer/recurring/cancel", &RecurringIdRequest { recurring_transfer_id }).await
    }

    /// The public key Plaid signs webhooks with under `key_id`.
    pub async fn webhook_verification_key(&self, key_id: &str) -> Result<WebhookKeyResponse, PlaidError> {
        self.post("/webhook_verification_key/get", &WebhookKeyRequest { key_id }).await
    }

    /// Transfer events after `after_id` (Plaid's sequential event ids), at most `count`.
    pub async fn transfer_event_sync(
        &self,
        after_id: i64,
        count: u32,
    ) -> Result<TransferEventSyncResponse, PlaidError> {
        self.post("/transfer/event/sync", &TransferEventSyncRequest { after_id, count }).await
    }

    pub async fn transfer_by_id(&self, transfer_id: &str) -> Result<TransferResponse, PlaidError> {
        let request = TransferGetRequest { transfer_id: Some(transfer_id), authorization_id: None };
        self.post("/transfer/get", &request).await
    }

    /// An update-mode Link token so the end user can repair a broken item.
    pub async fn update_mode_link_token(
        &self,
        access_token: &str,
        client_user_id: &str,
    ) -> Result<LinkTokenResponse, PlaidError> {
        let request = LinkTokenUpdateRequest {
            client_name: CLIENT_NAME,
            language: "en",
            country_codes: ["US"],
            user: LinkTokenUser { client_user_id },
            access_token,
        };
        self.post("/link/token/create", &request).await
    }

    pub async fn get_item(&self, access_token: &str) -> Result<ItemGetResponse, PlaidError> {
        self.post("/item/get", &AccessTokenRequest { access_token }).await
    }

    pub async fn get_accounts(&self, access_token: &str) -> Result<AccountsResponse, PlaidError> {
        self.post("/accounts/get", &AccessTokenRequest { access_token }).await
    }

    pub async fn get_balances(&self, access_token: &str) -> Result<AccountsResponse, PlaidError> {
        self.post("/accounts/balance/get", &AccessTokenRequest { access_token }).await
    }

    /// A read product's call for the gateway: the request and Plaid's answer as JSON, passed
    /// through (the gateway masks what it must on the typed form).
    pub async fn read_product(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, PlaidError> {
        self.post(path, body).await
    }

    pub async fn sandbox_public_token(&self, institution_id: &str) -> Result<SandboxPublicTokenResponse, PlaidError> {
        let request = SandboxPublicTokenRequest { institution_id, initial_products: ["transfer"] };
        self.post("/sandbox/public_token/create", &request).await
    }

    pub async fn exchange_public_token(&self, public_token: &str) -> Result<PublicTokenExchangeResponse, PlaidError> {
        self.post("/item/public_token/exchange", &PublicTokenExchangeRequest { public_token }).await
    }
}

/// reqwest errors print the URL; ours carry no secrets, but keep error text short and stable.
fn without_url(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        "request"
    };
    format!("{kind}: {}", error.without_url())
}
