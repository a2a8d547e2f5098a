//! Webhooks signed the way Plaid signs them.
//!
//! A P-256 key is generated when the simulator starts; its public half is served as a JWK by
//! /webhook_verification_key/get. Each webhook body is pretty-printed with 2-space indentation (as
//! Plaid does, and the body hash is whitespace-sensitive) and carries a `Plaid-Verification` header:
//! a compact ES256 JWS whose payload is `{iat, request_body_sha256}`. Delivery is fire-and-forget
//! with a short timeout. This module must never block a Plaid answer on a webhook receiver, and
//! never sign with anything but ES256.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Plaid gives receivers 10 s before counting a delivery as failed; the simulator gives up sooner
/// so a dead receiver does not pile up tasks.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

pub struct WebhookSigner {
    key: SigningKey,
    kid: String,
    created_at: i64,
    /// When the key was marked expired (unix seconds), 0 while it is current.
    expired_at: AtomicI64,
    http: reqwest::Client,
}

impl WebhookSigner {
    pub fn generate() -> Self {
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .build()
            // Building a client with only a timeout set cannot fail short of a broken TLS
            // backend; fall back to the default client rather than panic.
            .unwrap_or_default();
        Self {
            key: SigningKey::random(&mut rand::rngs::OsRng),
            kid: uuid::Uuid::new_v4().to_string(),
            created_at: OffsetDateTime::now_utc().unix_timestamp(),
            expired_at: AtomicI64::new(0),
            http,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Marks the key expired as of `at` (unix seconds), as Plaid does when it rotates keys.
    pub fn expire(&self, at: i64) {
        self.expired_at.store(at, Ordering::Relaxed);
    }

    /// The public key as Plaid's `JWKPublicKey`.
    pub fn jwk(&self) -> Value {
        let point = self.key.verifying_key().to_encoded_point(false);
        let coordinate =
            |c: Option<&p256::FieldBytes>| c.map(|bytes| URL_SAFE_NO_PAD.encode(bytes)).unwrap_or_default();
        json!({
            "alg": "ES256",
            "crv": "P-256",
            "kty": "EC",
            "use": "sig",
            "kid": self.kid,
            "x": coordinate(point.x()),
            "y": coordinate(point.y()),
            "created_at": self.created_at,
            "expired_at": Some(self.expired_at.load(Ordering::Relaxed)).filter(|at| *at > 0),
        })
    }

    /// The `Plaid-Verification` header value for these exact body bytes.
    pub fn sign(&self, body: &[u8], iat: i64) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"});
        let payload = json!({
            "iat": iat,
            "request_body_sha256": hex::encode(Sha256::digest(body)),
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(payload.to_string()));
        // JWS ES256 wants the raw 64-byte r||s, which is what `Signature::to_bytes` gives.
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// Signs and POSTs `body` to `url` in a background task. Must be called inside a Tokio runtime.
    pub fn send(&self, url: &str, body: &Value) {
        let bytes = match serde_json::to_vec_pretty(body) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(error = %e, "webhook body does not serialise");
                return;
            }
        };
        let signature = self.sign(&bytes, OffsetDateTime::now_utc().unix_timestamp());
        let request = self
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .header("Plaid-Verification", signature)
            .body(bytes);
        let url = url.to_owned();
        let code = body["webhook_code"].as_str().unwrap_or_default().to_owned();
        tokio::spawn(async move {
            match request.send().await {
                Ok(response) => {
                    tracing::info!(%url, %code, status = %response.status(), "webhook delivered")
                }
                Err(e) => tracing::warn!(%url, %code, error = %e, "webhook delivery failed"),
            }
        });
    }
}

/// ITEM webhooks carry the item id; `environment` is always sandbox here.
pub fn item_webhook(code: &str, item_id: &str, error: Option<Value>) -> Value {
    let mut body = json!({
        "webhook_type": "ITEM",
        "webhook_code": code,
        "item_id": item_id,
        "environment": "sandbox",
    });
    if let Some(error) = error {
        body["error"] = error;
    }
    body
}

/// TRANSFER_EVENTS_UPDATE has no item id and no events: it only says "call /transfer/event/sync".
pub fn transfer_events_update() -> Value {
    json!({
        "webhook_type": "TRANSFER",
        "webhook_code": "TRANSFER_EVENTS_UPDATE",
        "environment": "sandbox",
    })
}
