//! Verifying Plaid's webhooks the way Plaid's documentation requires: the `Plaid-Verification`
//! header is a JWT whose header says exactly `ES256` and names a key id; the key comes from
//! `/webhook_verification_key/get` (cached; fetched again for an unknown id; refused once Plaid
//! marks it expired); the signature must hold; `iat` must be at most five minutes old; and the
//! SHA-256 of the raw body must equal `request_body_sha256` (compared in constant time).
//! Nothing here trusts a delivery's body before all of that passed.

use super::types::WebhookKey;
use super::PlaidClient;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;
use subtle::ConstantTimeEq;

/// How old a delivery's `iat` may be (Plaid: five minutes).
pub const MAX_AGE_SECS: i64 = 5 * 60;

/// How long a cached key is trusted before it is read from Plaid again: a key Plaid expires after
/// we cached it is refused at most this long later, without a restart.
pub const KEY_RECHECK_SECS: i64 = 60 * 60;

/// Why a delivery was refused. The names go to metrics and logs, never the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MissingHeader,
    Malformed,
    WrongAlgorithm,
    UnknownKey,
    ExpiredKey,
    BadSignature,
    Stale,
    BodyMismatch,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingHeader => "missing_header",
            Self::Malformed => "malformed",
            Self::WrongAlgorithm => "wrong_algorithm",
            Self::UnknownKey => "unknown_key",
            Self::ExpiredKey => "expired_key",
            Self::BadSignature => "bad_signature",
            Self::Stale => "stale",
            Self::BodyMismatch => "body_mismatch",
        }
    }
}

/// A delivery could not be checked because Plaid could not be asked for the key: not the
/// sender's fault, so the caller answers 503 and Plaid retries.
#[derive(Debug)]
pub struct KeyUnavailable(pub super::PlaidError);

#[derive(serde::Deserialize)]
struct Claims {
    iat: i64,
    request_body_sha256: String,
}

/// A delivery that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// When Plaid signed it (`iat`, unix seconds): the order Plaid meant, whatever the delivery order.
    pub signed_at: i64,
}

/// Plaid's public keys by id, fetched on first use, with when each was fetched (unix seconds).
pub struct WebhookVerifier {
    plaid: PlaidClient,
    keys: RwLock<HashMap<String, (WebhookKey, i64)>>,
}

impl WebhookVerifier {
    pub fn new(plaid: PlaidClient) -> Self {
        Self { plaid, keys: RwLock::new(HashMap::new()) }
    }

    /// Checks one delivery: its `Plaid-Verification` header and its raw body bytes.
    pub async fn verify(
        &self,
        header: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<Result<Verified, Refusal>, KeyUnavailable> {
        let Some(token) = header.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Err(Refusal::MissingHeader));
        };
        // `decode_header` refuses algorithms it does not know (`none` among them).
        let Ok(jwt_header) = jsonwebtoken::decode_header(token) else { return Ok(Err(Refusal::Malformed)) };
        if jwt_header.alg != Algorithm::ES256 {
            return Ok(Err(Refusal::WrongAlgorithm));
        }
        let Some(kid) = jwt_header.kid else { return Ok(Err(Refusal::Malformed)) };
        let key = match self.key(&kid, now_secs).await? {
            Ok(key) => key,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if key.expired_at.is_some() {
            return Ok(Err(Refusal::ExpiredKey));
        }
        let Ok(decoding) = DecodingKey::from_ec_components(&key.x, &key.y) else {
            return Ok(Err(Refusal::UnknownKey));
        };
        let mut validation = Validation::new(Algorithm::ES256);
        // Plaid's token carries `iat` and the body hash only; its age is checked below.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let Ok(claims) = jsonwebtoken::decode::<Claims>(token, &decoding, &validation) else {
            return Ok(Err(Refusal::BadSignature));
        };
        if now_secs - claims.claims.iat > MAX_AGE_SECS || claims.claims.iat - now_secs > MAX_AGE_SECS {
            return Ok(Err(Refusal::Stale));
        }
        let actual = hex::encode(Sha256::digest(body));
        if !bool::from(actual.as_bytes().ct_eq(claims.claims.request_body_sha256.as_bytes())) {
            return Ok(Err(Refusal::BodyMismatch));
        }
        Ok(Ok(Verified { signed_at: claims.claims.iat }))
    }

    /// The key `kid`, from the cache or from Plaid. An unknown id is always asked for again (a
    /// rotated-in key works at once), and a cached key again after [`KEY_RECHECK_SECS`] (Plaid may
    /// have expired it since). When Plaid cannot be reached for a recheck, the cached copy stands:
    /// it was genuine when fetched, and refusing every delivery during an outage would lose nothing
    /// but the webhooks' promptness — the poll still runs.
    async fn key(&self, kid: &str, now_secs: i64) -> Result<Result<WebhookKey, Refusal>, KeyUnavailable> {
        let cached = self.keys.read().ok().and_then(|keys| keys.get(kid).cloned());
        if let Some((key, fetched_at)) = &cached {
            if now_secs - fetched_at < KEY_RECHECK_SECS {
                return Ok(Ok(key.clone()));
            }
        }
        match self.plaid.webhook_verification_key(kid).await {
            Ok(response) if response.key.kid == kid && response.key.alg == "ES256" && response.key.crv == "P-256" => {
                if let Ok(mut keys) = self.keys.write() {
                    keys.insert(kid.to_owned(), (response.key.clone(), now_secs));
                }
                Ok(Ok(response.key))
            }
            Ok(_) => Ok(Err(Refusal::UnknownKey)),
            Err(error) if error.is_indeterminate() => match cached {
                Some((key, _)) => Ok(Ok(key)),
                None => Err(KeyUnavailable(error)),
            },
            // Plaid answers INVALID_WEBHOOK_VERIFICATION_KEY_ID for ids it never issued.
            Err(_) => Ok(Err(Refusal::UnknownKey)),
        }
    }
}
